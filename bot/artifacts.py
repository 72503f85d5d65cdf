"""The report directory: report.json, report.md, fix.patch, transcript.jsonl."""

from __future__ import annotations

import os
from pathlib import Path

from bot.errors import BadInput
from bot.proc import redact, redact_data, secret_values
from bot.render.markdown import render_markdown
from bot.report import Report

REPORT_DIR_DEFAULT = ".selfheal"


def report_dir_for(repo: Path, chosen: Path | None) -> Path:
    """--report-dir, or .selfheal/ in the repo: where it will be, checked but not made yet.

    Nothing is created until there is something to write (`ensure_report_dir`), so a repo
    that is then refused (not git, uncommitted changes) is left without a .selfheal/.
    BadInput, naming the path, when it could never be made.
    """
    path = chosen if chosen is not None else repo / REPORT_DIR_DEFAULT
    path = path if path.is_absolute() else Path.cwd() / path
    if path.exists() and not path.is_dir():
        raise BadInput(f"report directory {path}: exists and is not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise BadInput(f"report directory {path}: cannot be created, {existing} is not a directory")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"report directory {path}: cannot be created, {existing} is not writable")
    return path


def ensure_report_dir(path: Path) -> Path:
    """Make the report directory, with a .gitignore that keeps it out of git, unless it is
    there already; BadInput naming it when it cannot be made."""
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / ".gitignore").write_text(
            "# written by selfheal: nothing here belongs in git\n*\n", encoding="utf-8"
        )
    except OSError as exc:
        raise BadInput(
            f"report directory {path}: cannot be created: {exc.strerror or exc}"
        ) from exc
    return path


def write_artifacts(report_dir: Path, report: Report, patch: str | None) -> Report:
    """Write the report files (secrets redacted); returns the report with their paths.
    `patch` None: a run with no fix loop (`selfheal gate`), so no fix.patch or transcript."""
    ensure_report_dir(report_dir)
    if not report.isolation:
        from bot.isolation import describe

        report = report.model_copy(update={"isolation": describe()})
    secrets = secret_values()
    paths = {"report.json": report_dir / "report.json", "report.md": report_dir / "report.md"}
    if patch is not None:
        paths["fix.patch"] = report_dir / "fix.patch"
        paths["transcript.jsonl"] = report_dir / "transcript.jsonl"
    report = report.model_copy(
        update={"artifacts": {**report.artifacts, **{k: str(v) for k, v in paths.items()}}}
    )
    # Redact the values themselves: after JSON or Markdown escaping a secret no longer matches.
    report = Report.model_validate(redact_data(report.model_dump(mode="json"), secrets))
    if patch is not None:
        paths["fix.patch"].write_text(redact(patch, secrets), encoding="utf-8")
        paths["transcript.jsonl"].touch()
    paths["report.json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["report.md"].write_text(render_markdown(report), encoding="utf-8")
    return report
