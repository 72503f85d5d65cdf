"""The failed CI run's job logs -> a short excerpt for the prompt (pure).

GitHub's job logs put a timestamp before every line and mark steps with `##[group]` /
`##[endgroup]`; the failure is at the end of the failing step, just before the
`##[error]Process completed with exit code N.` line. So the excerpt keeps, per failed job,
the tail of the output up to its last error line, without timestamps or colour codes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


# pytest's own record of the tests its last run failed, where its cache plugin keeps it.
_LAST_FAILED = Path(".pytest_cache/v/cache/lastfailed")
_MAX_CACHE_BYTES = 1 << 20


def last_failed_ids(checkout: Path) -> list[str]:
    """The tests pytest's last run in `checkout` failed (its cache plugin's `lastfailed`, at
    the default cache_dir): a developer's red run, or an earlier step of the same CI job.
    A hint only, checked like a CI log's names (see failing_test_ids): empty for a file that
    failed to collect, more than MAX_NAMED_TESTS, or anything that is not that record."""
    path = checkout / _LAST_FAILED
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_CACHE_BYTES:
            return []
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or len(record) > MAX_NAMED_TESTS:
        return []
    ids = [key for key in record if isinstance(key, str)]
    bad = any("::" not in i or len(i) > _MAX_ID_CHARS or not i.isprintable() for i in ids)
    return [] if bad or len(ids) != len(record) else ids


# What ci_log_excerpt writes before each job, and what a step's log starts with once the
# runner's group marker is gone ("##[group]Run pytest -q" -> "Run pytest -q").
_JOB_HEADER = re.compile(
    r"^Job (?P<name>'[^\n]*'|\"[^\n]*\"), failed step\(s\): (?P<steps>.*)$", re.M
)
_RUN_LINE = re.compile(r"^Run (?P<command>\S.*)$", re.MULTILINE)
_MAX_COMMANDS = 10
_ACTION_REF = re.compile(r"^[\w.-]+/[\w./-]+@\S+$")  # a `uses:` step, not a command


@dataclass(frozen=True)
class CiFailure:
    """What a failed CI run says failed: its jobs and steps, and the commands it ran there."""

    jobs: tuple[str, ...]  # "tests (failed step: Run tests)"
    commands: tuple[str, ...]

    def gate_yaml(self) -> str:
        """A `gate:` for .github/selfheal.yml that would run those commands ("" if none)."""
        if not self.commands:
            return ""
        lines = ["gate:"]
        for n, command in enumerate(self.commands, 1):
            lines += [f"  - name: ci-{n}", f"    run: {json.dumps(command)}"]
        return "\n".join(lines) + "\n"


def ci_failure(excerpt: str) -> CiFailure:
    """The failed jobs, steps and commands in an excerpt made by `ci_log_excerpt`: per job,
    the last step it started before failing is the one that failed."""
    headers = list(_JOB_HEADER.finditer(excerpt))
    jobs, commands = [], []
    for n, header in enumerate(headers):
        jobs.append(f"{header['name'][1:-1]} (failed step(s): {header['steps'].strip()})")
        end = headers[n + 1].start() if n + 1 < len(headers) else len(excerpt)
        ran = list(_RUN_LINE.finditer(excerpt, header.end(), end))
        if ran and not _ACTION_REF.match(ran[-1]["command"]):
            commands.append(ran[-1]["command"].strip())
    unique = tuple(dict.fromkeys(commands))[:_MAX_COMMANDS]
    return CiFailure(jobs=tuple(jobs), commands=unique)
