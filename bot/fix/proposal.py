"""What a fix is called: its branch name and commit message (pure)."""

from __future__ import annotations

import unicodedata
from typing import Literal

from bot.render.text import one_line
from bot.report import Issue, Report

TITLE_LIMIT = 72


def branch_name(
    mode: Literal["heal", "implement"], prefix: str, base_short_sha: str, issue: Issue | None
) -> str:
    """<prefix>heal-<short sha>, or <prefix>issue-<n> (the short sha when the issue has no number)."""
    if mode == "implement":
        number = issue.number if issue is not None else None
        return f"{prefix}issue-{number if number is not None else base_short_sha}"
    return f"{prefix}heal-{base_short_sha}"


def _plain(text: str, limit: int) -> str:
    # Model output and issue titles are untrusted: one line, no control or format characters.
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return one_line(kept, limit)


def commit_message(report: Report) -> str:
    """Title, one line per accepted attempt, and `Fixes #N` for an issue."""
    issue = report.issue
    if report.mode == "implement" and issue is not None:
        ref = f"#{issue.number}" if issue.number is not None else "the issue"
        title = _plain(f"selfheal: implement {ref}: {issue.title}", TITLE_LIMIT)
        footer = f"\n\nFixes #{issue.number}" if issue.number is not None else ""
    else:
        steps = sorted({f.step for f in report.failures})
        title = _plain(f"selfheal: fix failing {', '.join(steps)}", TITLE_LIMIT)
        footer = ""
    lines = []
    for attempt in report.attempts:
        if attempt.outcome in ("refused", "no_change"):
            continue
        line = f"- attempt {attempt.number}: {', '.join(attempt.fixers) or 'no fixer'}"
        if attempt.agent_summary:
            line += f": {_plain(attempt.agent_summary, 200)}"
        lines.append(line)
    return f"{title}\n\n" + "\n".join(lines) + footer + "\n"
