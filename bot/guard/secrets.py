"""Credentials in added lines: known token formats, and dense literals assigned to a name
that mentions a key, token, secret or password (pure)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from bot.guard.diff import ChangedFile

_SECRET_PATTERNS = (
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
    ("GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
)
# name = "value": the name mentions a credential and the value is long, dense, and literal.
# It starts at the credential word, not at the name, so a long line cannot make it backtrack.
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?:key|token|secret|passw(?:or)?d) [\w.-]* ['"]?       # the rest of the name, maybe quoted
    [ \t]* (?: : [ \t]* [\w\[\]|.,]+ [ \t]* )?              # a type annotation
    (?: =|:|=>|:= ) [ \t]* [rbu]? (['"]) ([^'"\n]{20,}) \1  # the quoted value
    """
)
_MAX_ASSIGNMENT_LINE = 2000  # minified or generated lines get the exact patterns only
_MIN_ENTROPY = 3.5
_PLAIN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]*$", re.IGNORECASE)
_WORDS = re.compile(r"^[A-Za-z]+(?:[._/:-][A-Za-z]+)*$")  # editor.actions.copyAction, a-b-c


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    if not text:
        return 0.0
    counts, total = Counter(text), len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _dense_literal(value: str) -> bool:
    """A value that reads like a credential, not like a sentence, URL, path, name or template."""
    return (
        not any(ch.isspace() for ch in value)
        and not _PLAIN_URL.match(value)
        and not _WORDS.match(value)
        and not value.startswith(("/", "./", "../", "~/"))
        and not any(mark in value for mark in ("{", "$", "%(", "<"))
        and shannon_entropy(value) >= _MIN_ENTROPY
    )


def _find_secret(line: str) -> tuple[str, str] | None:
    """(what it looks like, the matched text) for the first credential on the line."""
    for kind, pattern in _SECRET_PATTERNS:
        if found := pattern.search(line):
            return kind, found.group(0)
    if len(line) > _MAX_ASSIGNMENT_LINE:
        return None
    for match in _ASSIGNMENT.finditer(line):
        if _dense_literal(match.group(2)):
            return f"hard-coded value of {_name_at(line, match.start())}", match.group(2)
    return None


def _name_at(line: str, at: int) -> str:
    """The identifier the credential word at `at` belongs to: `API_KEY` for the match at `KEY`."""

    def part_of_name(ch: str) -> bool:
        return ch.isalnum() or ch in "_.-"

    start, end = at, at
    while start > 0 and part_of_name(line[start - 1]):
        start -= 1
    while end < len(line) and part_of_name(line[end]):
        end += 1
    return line[start:end]


def find_secrets(changes: Sequence[ChangedFile]) -> list[tuple[str, str]]:
    """(file, problem) for each file whose added lines hold a new credential."""
    problems = []
    for change in changes:
        before = "\n".join(change.removed)
        for line in change.added:
            found = _find_secret(line)
            # A value the file already held (an edited line of a test fixture) is not new.
            if found is not None and found[1] not in before:
                # Never the value itself: this reason is shown in reports and prompts.
                problems.append((change.path, f"{change.path} adds a credential ({found[0]})"))
                break
    return problems
