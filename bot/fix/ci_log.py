"""The failed CI run's job logs -> a short excerpt for the prompt (pure).

GitHub's job logs put a timestamp before every line and mark steps with `##[group]` /
`##[endgroup]`; the failure is at the end of the failing step, just before the
`##[error]Process completed with exit code N.` line. So the excerpt keeps, per failed job,
the tail of the output up to its last error line, without timestamps or colour codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.render.text import cap_text

_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MARKER_ONLY = re.compile(r"^##\[(?:endgroup|group)\]", re.MULTILINE)
_PROCESS_EXIT = re.compile(r"^##\[error\]Process completed with exit code \d+\.?$", re.MULTILINE)


@dataclass(frozen=True)
class JobLog:
    """One failed job: its name, the steps that failed, and its raw log text."""

    name: str
    failed_steps: tuple[str, ...]
    text: str


def clean_log(text: str) -> str:
    """Timestamps, colour codes and group markers gone; `\\r\\n` made `\\n`."""
    text = text.replace("\r\n", "\n")
    text = _ANSI.sub("", _TIMESTAMP.sub("", text))
    return _MARKER_ONLY.sub("", text)


def _failing_part(text: str) -> str:
    """Everything up to the runner's 'Process completed with exit code' line, if any."""
    ends = list(_PROCESS_EXIT.finditer(text))
    return text[: ends[-1].end()] if ends else text


def ci_log_excerpt(logs: Sequence[JobLog], max_chars: int) -> str:
    """The failing steps' output, the tail of each job within an equal share of `max_chars`."""
    if not logs or max_chars <= 0:
        return ""
    share = max_chars // len(logs)
    parts = []
    for log in logs:
        steps = ", ".join(log.failed_steps) or "unknown step"
        body = cap_text(_failing_part(clean_log(log.text)).strip("\n"), share, head_share=0.1)
        parts.append(f"Job {log.name!r}, failed step(s): {steps}\n{body}")
    return "\n\n".join(parts)


# pytest's short test summary: `FAILED <node id> - <message>` (or no message), one per test.
# A node id is a path, `::` parts, and maybe a parametrization in brackets that can hold
# spaces; it never starts with `-`, so nothing read here can become an option.
_SUMMARY = re.compile(
    r"^(?:FAILED|ERROR) (?P<id>[\w./][^\s\[]*(?:\[[^\n]*?\])?)(?: - .*)?$", re.MULTILINE
)
MAX_NAMED_TESTS = 200  # more than this and a selection saves little: run the whole gate
_MAX_ID_CHARS = 500


def failing_test_ids(text: str) -> list[str]:
    """The pytest node ids a CI log's short test summary names as FAILED or ERROR, in order.

    Empty when the log can't name them all: a collection error (an ERROR line naming a file,
    not a test), more than MAX_NAMED_TESTS, or an id too long to be real. Empty means "run
    the whole gate", so a log that says too little or too much never narrows the check.
    """
    ids: dict[str, None] = {}
    for match in _SUMMARY.finditer(clean_log(text)):
        test_id = match["id"]
        if "::" not in test_id or len(test_id) > _MAX_ID_CHARS:
            return []  # a file that failed to collect, or a crash: no test to select
        ids[test_id] = None
    if len(ids) > MAX_NAMED_TESTS:
        return []
    return list(ids)
