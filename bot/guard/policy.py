"""Diff guards: what an attempt's change may not do, each explained for the next attempt.

Pure, apart from reading the changed files (through bot.guard.content.Files) and resolving
changed paths under the worktree root to catch symlink escapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from bot.guard.confine import check_patterns, protected_pattern
from bot.guard.content import Files, TreeFile, check_content
from bot.guard.diff import ChangedFile
from bot.guard.secrets import find_secrets
from bot.guard.testcode import Mode
from bot.guard.testsuite import SuiteReview, review_tests
from bot.report import GuardVerdict

GUARDS = (
    "protected-path",
    "test-weakening",
    "test-spec",
    "secrets",
    "escape",
    "content",
    "size",
    "test-changes",
)
SYMLINK_MODE = "120000"
_MAX_NAMED = 3  # offences named per verdict; the rest are counted
_MAX_LISTED = 8  # test changes shown in the test-changes verdict
ALLOW_SPEC_KEY = "allow_spec_changes"


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


def _test_weakening(review: SuiteReview) -> GuardVerdict:
    return _verdict(
        "test-weakening",
        review.weakening,
        "Keep every test collected and reaching its assertions (doctest examples included: no "
        "+SKIP, none removed), and every assertion and lint check able to fail: fix the code "
        "under test instead",
    )


def _test_spec(review: SuiteReview, mode: Mode, allowed: bool) -> GuardVerdict:
    if mode != "heal":
        return GuardVerdict(
            guard="test-spec", ok=True, reason="not checked: implementing may change the tests"
        )
    if allowed and review.spec:
        named = "; ".join(problem for _, problem in review.spec)
        return GuardVerdict(
            guard="test-spec", ok=True, reason=f"allowed by {ALLOW_SPEC_KEY}: {named}"
        )
    return _verdict(
        "test-spec",
        review.spec,
        "When healing, the tests and their configuration are the specification: leave expected "
        "values (doctest outputs and directives too), hooks, patches of the code under test and "
        "pytest settings as they are, and fix "
        f"the code instead (a maintainer can allow such changes with `{ALLOW_SPEC_KEY}: true` "
        "in .github/selfheal.yml)",
    )


def _test_changes(review: SuiteReview) -> GuardVerdict:
    """Never refuses: lists what the change does to test code, for the report to show."""
    listed = review.listed[:_MAX_LISTED]
    if len(review.listed) > _MAX_LISTED:
        listed.append(f"and {len(review.listed) - _MAX_LISTED} more")
    return GuardVerdict(guard="test-changes", ok=True, reason="; ".join(listed))


def _content(changes: Sequence[ChangedFile], files: Files, review: SuiteReview) -> GuardVerdict:
    return _verdict(
        "content",
        [*check_content(changes, files), *review.unreadable],
        "Change only regular text files and fix syntax errors in tests: no nested repositories "
        f"or submodules, no binary files, nothing over {files.limit} bytes, no module that "
        "shadows another",
    )


def _secrets(changes: Sequence[ChangedFile]) -> GuardVerdict:
    return _verdict(
        "secrets",
        find_secrets(changes),
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
    max_file_bytes: int,
    allow_spec_changes: bool,
    before: Callable[[str], bytes | None],
    in_tree: TreeFile | None = None,
) -> list[GuardVerdict]:
    """Run every guard over a diff; one verdict per guard, in GUARDS order.

    `before(path)` gives a file's bytes at the base commit (None: absent); the files as they
    are now are read from `root`, or with `in_tree` from the tree the diff leads to.
    """
    files = Files(root, before, max_file_bytes, in_tree)
    review = review_tests(changes, files, mode)
    return [
        _protected(changes, protected),
        _test_weakening(review),
        _test_spec(review, mode, allow_spec_changes),
        _secrets(changes),
        _escape(changes, root),
        _content(changes, files, review),
        _size(changes, max_diff_lines),
        _test_changes(review),
    ]


def refusal_summary(verdicts: Sequence[GuardVerdict]) -> str:
    """One line per failed guard ("guard: reason"), or "" when every guard passed."""
    return "\n".join(f"{v.guard}: {v.reason}" for v in verdicts if not v.ok)
