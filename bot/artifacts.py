"""The report directory: report.json, report.md, fix.patch, transcript.jsonl."""

from __future__ import annotations

from pathlib import Path

from bot.proc import redact, redact_data, secret_values
from bot.render.markdown import render_markdown
from bot.report import Report

REPORT_DIR_DEFAULT = ".selfheal"


def report_dir_for(repo: Path, chosen: Path | None) -> Path:
    """--report-dir, or .selfheal/ in the repo (kept out of git by its own .gitignore)."""
    path = chosen if chosen is not None else repo / REPORT_DIR_DEFAULT
    path = path if path.is_absolute() else Path.cwd() / path
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text(
            "# written by selfheal: nothing here belongs in git\n*\n", encoding="utf-8"
        )
    return path


def write_artifacts(report_dir: Path, report: Report, patch: str) -> Report:
    """Write the report files (secrets redacted); returns the report with their paths."""
    secrets = secret_values()
    paths = {
        "report.json": report_dir / "report.json",
        "report.md": report_dir / "report.md",
        "fix.patch": report_dir / "fix.patch",
        "transcript.jsonl": report_dir / "transcript.jsonl",
    }
    report = report.model_copy(
        update={"artifacts": {**report.artifacts, **{k: str(v) for k, v in paths.items()}}}
    )
    # Redact the values themselves: after JSON or Markdown escaping a secret no longer matches.
    report = Report.model_validate(redact_data(report.model_dump(mode="json"), secrets))
    paths["fix.patch"].write_text(redact(patch, secrets), encoding="utf-8")
    paths["transcript.jsonl"].touch()
    paths["report.json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["report.md"].write_text(render_markdown(report), encoding="utf-8")
    return report
