"""What a change does to the project's test suite: each test module's syntax trees before and
after, pytest's settings before and after, and the lint silencers the diff adds.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.guard.content import Files
from bot.guard.diff import ChangedFile
from bot.guard.docexamples import Doctests, module_doctests, text_doctests
from bot.guard.docexamples import Unparsed as DocUnparsed
from bot.guard.docexamples import Unreadable as DocUnreadable
from bot.guard.doctests import DEFAULT_GLOBS, compare_doctests, is_doctest_module, is_doctest_text
from bot.guard.pytest_config import (
    CONFIG_FILES,
    ENV_NAMES,
    Unreadable,
    compare_settings,
    doctest_globs,
    is_pytest_config,
    pytest_section,
)
from bot.guard.testcode import Mode, compare, is_test_code, is_test_file

_SILENCERS = (
    re.compile(r"#\s*noqa\b", re.IGNORECASE),
    re.compile(r"#\s*ruff\s*:\s*noqa\b", re.IGNORECASE),
    re.compile(r"#\s*type\s*:\s*ignore\b"),
    re.compile(r"#\s*pyright\s*:\s*ignore\b"),
    re.compile(r"#\s*mypy\s*:\s*ignore-errors\b"),
)
_PROSE = (".md", ".rst", ".txt")
Problem = tuple[str, str]  # (file, what it does)


@dataclass
class SuiteReview:
    """Findings over a whole diff, each as (file, problem)."""

    weakening: list[Problem] = field(default_factory=list)  # refused in both modes
    spec: list[Problem] = field(default_factory=list)  # refused when healing, unless allowed
    listed: list[str] = field(default_factory=list)  # shown, not refused
    unreadable: list[Problem] = field(default_factory=list)  # test code that cannot be checked


class _Unparsed(ValueError):
    pass


def _parse(path: str, data: bytes | None) -> ast.Module | None:
    if data is None:
        return None
    try:
        return ast.parse(data, filename=path)  # bytes: the coding cookie is honoured
    except SyntaxError as exc:
        raise _Unparsed(f"line {exc.lineno}: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise _Unparsed(type(exc).__name__) from exc


def _silencers(change: ChangedFile) -> int:
    def count(lines: Sequence[str]) -> int:
        return sum(1 for line in lines for p in _SILENCERS if p.search(line))

    return count(change.added) - count(change.removed)


def _review_code(change: ChangedFile, files: Files, mode: Mode, review: SuiteReview) -> None:
    path, old = change.path, change.old_path or change.path
    if change.status == "deleted":
        if is_test_file(path):
            review.weakening.append((path, f"deletes the test file {path}"))
            return
    elif change.old_path and is_test_file(change.old_path) and not is_test_file(path):
        review.weakening.append(
            (path, f"renames {change.old_path} to {path}, so pytest no longer collects it")
        )
        return
    after = files.after(path) if change.status != "deleted" else None
    if after is not None and after.data is None:
        return  # not a regular file, or too big: the content guard says so
    try:
        before_tree = _parse(old, files.before(old))
    except _Unparsed:
        review.listed.append(f"{path}: not compared, its base version does not parse either")
        return
    try:
        after_tree = _parse(path, after.data if after is not None else None)
    except _Unparsed as exc:
        review.unreadable.append(
            (path, f"{path} does not parse ({exc}), so its tests cannot be checked")
        )
        return
    if mode == "heal" and PurePosixPath(path).name == "conftest.py":
        if before_tree is None:
            review.spec.append((path, f"adds {path}, which can override fixtures and hooks"))
        elif after_tree is None:
            review.spec.append((path, f"removes {path}"))
    try:
        found = compare(path, before_tree, after_tree, mode)
    except RecursionError:  # parsed, but nested deeper than the checks can walk
        review.unreadable.append((path, f"{path} is nested too deeply for its tests to be checked"))
        return
    review.weakening += [(path, text) for text in found.weakening]
    review.spec += [(path, text) for text in found.spec]
    review.listed += found.listed


def _doctest_globs(files: Files) -> list[str]:
    """The text files pytest collects doctests from: its default and the project's own
    --doctest-glob patterns, from the configuration at the top of the base commit."""
    globs = list(DEFAULT_GLOBS)
    for name in CONFIG_FILES:
        try:
            globs += doctest_globs(pytest_section(name, files.before(name)))
        except Unreadable:
            continue
    return globs


def _doctests(path: str, data: bytes | None) -> Doctests | None:
    """The doctests of `path` holding `data` (None: absent, or no prompt so no example)."""
    if data is None or b">>>" not in data:
        return None
    return module_doctests(data) if is_doctest_module(path) else text_doctests(data)


def _review_doctests(
    change: ChangedFile, files: Files, mode: Mode, review: SuiteReview, globs: list[str]
) -> None:
    path, old = change.path, change.old_path or change.path
    collected = [is_doctest_module(p) or is_doctest_text(p, globs) for p in (old, path)]
    after = None if change.status == "deleted" or not collected[1] else files.after(path)
    if not any(collected) or change.binary or (after is not None and after.data is None):
        return  # no doctests either side; or not a regular text file, which content names
    try:
        before = _doctests(old, files.before(old)) if collected[0] else None
    except DocUnreadable:
        review.listed.append(f"{path}: doctests not compared, its base version cannot be read")
        return
    try:
        now = _doctests(path, after.data if after is not None else None)
    except DocUnreadable as exc:
        if not (isinstance(exc, DocUnparsed) and (is_test_code(path) or before is None)):
            review.unreadable.append((path, f"{path}: its doctests cannot be checked ({exc})"))
        return
    found = compare_doctests(path, before, now, mode)
    review.weakening += [(path, text) for text in found.weakening]
    review.spec += [(path, text) for text in found.spec]
    review.listed += found.listed


def _review_config(change: ChangedFile, files: Files, review: SuiteReview) -> None:
    path, old = change.path, change.old_path or change.path
    after = None if change.status == "deleted" else files.after(path).data
    try:
        before = pytest_section(old, files.before(old)) if is_pytest_config(old) else None
    except Unreadable:
        before = None
    try:
        now = pytest_section(path, after) if is_pytest_config(path) else None
    except Unreadable as exc:
        review.spec.append((path, f"{exc}, so its pytest settings cannot be checked"))
        return
    review.spec += [(path, text) for text in compare_settings(path, before, now)]


def review_tests(changes: Sequence[ChangedFile], files: Files, mode: Mode) -> SuiteReview:
    """Everything the diff does to tests, test code and pytest's settings."""
    review = SuiteReview()
    globs: list[str] | None = None
    for change in changes:
        path, old = change.path, change.old_path or change.path
        if globs is None and not (is_doctest_module(path) and is_doctest_module(old)):
            globs = _doctest_globs(files)  # read only when a changed file may be a text doctest
        _review_doctests(change, files, mode, review, globs or [])
        if mode == "heal" and path.endswith(".py") and _silencers(change) > 0:
            review.weakening.append(
                (path, f"adds a `# noqa` or `# type: ignore` comment in {path}")
            )
        if is_test_code(path) or is_test_code(old):
            _review_code(change, files, mode, review)
        if mode == "heal" and (is_pytest_config(path) or is_pytest_config(old)):
            _review_config(change, files, review)
        if mode == "heal" and not path.endswith(_PROSE):
            for name in ENV_NAMES:
                if any(name in line for line in change.added):
                    review.spec.append((path, f"{path} sets {name}"))
                    break
    return review
