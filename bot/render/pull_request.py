"""The pull request selfheal opens: title, body, and the check run's annotations (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.fix.proposal import commit_message
from bot.forge.github import Annotation
from bot.render.markdown import status_line
from bot.render.text import md_code, md_text, md_url, one_line
from bot.report import Failure, Report

MAX_ANNOTATIONS = 200  # a handful of batches; the report has the rest
_TITLE = 256  # GitHub allows more; nobody reads more


def pull_title(report: Report) -> str:
    return one_line(commit_message(report).splitlines()[0], _TITLE)


def pull_body(report: Report, *, into: str, report_url: str | None) -> str:
    """What the change is, why, and where the full report is; `Fixes #N` for an issue."""
    lines = []
    issue = report.issue
    if report.mode == "implement" and issue is not None and issue.number is not None:
        lines += [f"Fixes #{issue.number}", ""]
    lines += [status_line(report), ""]
    if report.mode == "heal":
        steps = sorted({f.step for f in report.failures})
        lines.append(
            f"The gate failed on {md_code(into)} at {md_code(report.base_sha[:12])}"
            f" ({md_text(', '.join(steps), 200) or 'no step named'}); this branch makes it pass."
        )
    for attempt in report.attempts:
        if attempt.outcome in ("green", "failing"):
            files = ", ".join(md_code(c.path, limit=120) for c in attempt.changes[:10])
            said = f": {md_text(attempt.agent_summary, 300)}" if attempt.agent_summary else ""
            lines.append(f"- attempt {attempt.number} changed {files or 'nothing'}{said}")
    if url := md_url(report_url or ""):
        lines += ["", f"The full execution report: {url}"]
    lines += ["", "selfheal proposes; a person reviews and merges. Re-running it updates this PR."]
    return "\n".join(lines) + "\n"


def failure_annotations(failures: Sequence[Failure]) -> list[Annotation]:
    """One annotation per failure that names a file and line, deduplicated, capped."""
    seen: set[tuple[str, int, str]] = set()
    out: list[Annotation] = []
    for failure in failures:
        if not failure.file or not failure.line or failure.line < 1:
            continue
        path = failure.file.replace("\\", "/").lstrip("/")
        if path.startswith("../") or "/../" in path:
            continue
        key = (path, failure.line, failure.signature)
        if key in seen:
            continue
        seen.add(key)
        title = f"{failure.category.value}: {failure.test_id or failure.rule or failure.step}"
        out.append(
            Annotation(
                path=path,
                start_line=failure.line,
                end_line=failure.line,
                level="failure",
                message=one_line(failure.message, 1000) or "failed",
                title=one_line(title, 200),
            )
        )
        if len(out) >= MAX_ANNOTATIONS:
            break
    return out
