"""Diff guards: what an attempt's change may not do, each explained for the next attempt.

Pure, apart from resolving changed paths under the worktree root to catch symlink escapes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from bot.guard.confine import check_patterns, protected_pattern
from bot.guard.diff import ChangedFile
from bot.report import GuardVerdict

Mode = Literal["heal", "implement"]
GUARDS = ("protected-path", "test-weakening", "secrets", "escape", "size")
SYMLINK_MODE = "120000"
_MAX_NAMED = 3  # offences named per verdict; the rest are counted

_TEST_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(|^\s*class\s+(Test\w*)\b")
_ASSERTION = re.compile(r"^\s*assert\b|\bself\.assert\w*\(|\bpytest\.(?:raises|warns)\(")
_TAUTOLOGY = re.compile(r"^\s*assert\s*\(?\s*(?:True|1|not\s+False)\s*\)?\s*(?:#.*)?$")
_SKIPS = (
    re.compile(r"\bpytest\.mark\.(?:skip|skipif|xfail)\b"),
    re.compile(r"\bpytest\.(?:skip|xfail|importorskip)\s*\("),
    re.compile(r"\bunittest\.(?:skip|skipIf|skipUnless|expectedFailure)\b"),
    re.compile(r"^\s*@(?:skip|skipIf|skipUnless|expectedFailure)\b"),
    re.compile(r"\.skipTest\s*\("),
    re.compile(r"\bcollect_ignore(?:_glob)?\b"),
)
_CONFIG_SKIPS = (re.compile(r"--deselect\b"), re.compile(r"--ignore(?:-glob)?\b"))
_PYTEST_CONFIG = frozenset({"pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini"})
_SILENCERS = (
    re.compile(r"#\s*noqa\b", re.IGNORECASE),
    re.compile(r"#\s*ruff\s*:\s*noqa\b", re.IGNORECASE),
    re.compile(r"#\s*type\s*:\s*ignore\b"),
    re.compile(r"#\s*pyright\s*:\s*ignore\b"),
    re.compile(r"#\s*mypy\s*:\s*ignore-errors\b"),
)

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


def _name(path: str) -> str:
    return PurePosixPath(path).name


def _is_test_file(path: str) -> bool:
    """A module pytest collects by default."""
    name = _name(path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _is_test_code(path: str) -> bool:
    """Test modules, conftest and helpers under a tests directory: where assertions live."""
    parts = PurePosixPath(path).parts
    return path.endswith(".py") and (
        _is_test_file(path)
        or _name(path) == "conftest.py"
        or any(p in ("tests", "test", "testing") for p in parts[:-1])
    )


def _count(lines: Sequence[str], patterns: Sequence[re.Pattern[str]]) -> int:
    return sum(1 for line in lines for p in patterns if p.search(line))


def _verdict(guard: str, problems: list[tuple[str, str]], advice: str) -> GuardVerdict:
    """One verdict from (file, problem) pairs: ok when there are none."""
    if not problems:
        return GuardVerdict(guard=guard, ok=True)
    named = "; ".join(problem for _, problem in problems[:_MAX_NAMED])
    if len(problems) > _MAX_NAMED:
        named += f"; and {len(problems) - _MAX_NAMED} more"
    return GuardVerdict(guard=guard, ok=False, reason=f"{named}. {advice}.", file=problems[0][0])


def _protected(changes: Sequence[ChangedFile], protected: Sequence[str]) -> GuardVerdict:
    check_patterns(protected)  # a pattern gitignore rules cannot read fails even an empty diff
    problems = [
        (path, f"{path} is a protected path")
        for change in changes
        for path in dict.fromkeys(p for p in (change.old_path, change.path) if p)
        if protected_pattern(path, protected) is not None
    ]
    listed = ", ".join(protected)
    return _verdict(
        "protected-path",
        problems,
        f"Leave protected paths ({listed}) exactly as they are and fix the problem elsewhere",
    )


def _test_names(lines: Sequence[str]) -> Counter[str]:
    return Counter(m.group(1) or m.group(2) for m in map(_TEST_DEF.match, lines) if m)


def _weakening_in(change: ChangedFile) -> list[str]:
    """What this one file's change does to weaken the tests, in words."""
    path, found = change.path, []
    if change.status == "deleted":
        return [f"deletes the test file {path}"] if _is_test_file(path) else []
    if change.old_path and _is_test_file(change.old_path) and not _is_test_file(path):
        found.append(f"renames {change.old_path} to {path}, so pytest no longer collects it")
    if _is_test_code(path):
        gone, new = _test_names(change.removed), _test_names(change.added)
        lost, gained = gone - new, new - gone
        # A test renamed to another test_ name still runs; one that vanishes does not.
        if lost.total() > gained.total():
            found.append(f"removes or renames {', '.join(sorted(lost))} in {path}")
        removed, added = _count(change.removed, [_ASSERTION]), _count(change.added, [_ASSERTION])
        if removed > added:
            found.append(f"removes {removed - added} assertion(s) from {path}")
        if any(_TAUTOLOGY.match(line) for line in change.added):
            found.append(f"adds an assertion that cannot fail to {path}")
    skips = (
        _SKIPS if path.endswith(".py") else _CONFIG_SKIPS if _name(path) in _PYTEST_CONFIG else ()
    )
    if _count(change.added, skips) > _count(change.removed, skips):
        found.append(f"adds a skip, xfail or deselection in {path}")
    if path.endswith(".py") and _count(change.added, _SILENCERS) > _count(
        change.removed, _SILENCERS
    ):
        found.append(f"adds a `# noqa` or `# type: ignore` comment in {path}")
    return found


def _test_weakening(changes: Sequence[ChangedFile], mode: Mode) -> GuardVerdict:
    if mode != "heal":
        return GuardVerdict(
            guard="test-weakening", ok=True, reason="not checked: implementing may change tests"
        )
    problems = [(c.path, problem) for c in changes for problem in _weakening_in(c)]
    return _verdict(
        "test-weakening",
        problems,
        "Tests and lint rules are the specification: keep every test, assertion and check, "
        "and fix the code under test instead",
    )


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


def _secrets(changes: Sequence[ChangedFile]) -> GuardVerdict:
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
    return _verdict(
        "secrets",
        problems,
        "Remove it: code reads credentials from the environment at run time, never from the repo",
    )


def _outside(root: Path, path: str) -> bool:
    """True when `path` is absolute, climbs with .., enters .git, or passes a symlink out of root."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return True
    if any(part.lower() == ".git" for part in pure.parts):
        return True
    # The parent only: the final component may legitimately be the symlink being changed.
    base = root.resolve()
    parent = (base / pure.parent).resolve()
    return not parent.is_relative_to(base)


def _escape(changes: Sequence[ChangedFile], root: Path) -> GuardVerdict:
    problems = []
    for change in changes:
        if change.new_mode == SYMLINK_MODE and change.status != "deleted":
            problems.append((change.path, f"{change.path} is a symbolic link"))
        for path in dict.fromkeys(p for p in (change.old_path, change.path) if p is not None):
            if _outside(root, path):
                problems.append((path, f"{path} resolves outside the repository"))
    return _verdict(
        "escape",
        problems,
        "Change only regular files inside the repository: no symbolic links, no paths outside it",
    )


def _size(changes: Sequence[ChangedFile], max_diff_lines: int) -> GuardVerdict:
    total = sum(len(c.added) + len(c.removed) for c in changes)
    if total <= max_diff_lines:
        return GuardVerdict(guard="size", ok=True)
    return GuardVerdict(
        guard="size",
        ok=False,
        reason=(
            f"the change is {total} lines (added plus removed), over the limit of "
            f"{max_diff_lines}. Make the smallest change that fixes the failures."
        ),
    )


def check_changes(
    changes: Sequence[ChangedFile],
    *,
    root: Path,
    mode: Mode,
    protected: Sequence[str],
    max_diff_lines: int,
) -> list[GuardVerdict]:
    """Run every guard over a diff; one verdict per guard, in GUARDS order."""
    return [
        _protected(changes, protected),
        _test_weakening(changes, mode),
        _secrets(changes),
        _escape(changes, root),
        _size(changes, max_diff_lines),
    ]


def refusal_summary(verdicts: Sequence[GuardVerdict]) -> str:
    """One line per failed guard ("guard: reason"), or "" when every guard passed."""
    return "\n".join(f"{v.guard}: {v.reason}" for v in verdicts if not v.ok)
