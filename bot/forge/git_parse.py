"""What selfheal asks of `git diff` and `git add`, and pure parsers of git's output."""

from __future__ import annotations

import re
from pathlib import Path

from bot.report import FileChange

DIFF_OPTIONS = (
    "--binary",
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
# --binary implies a patch, so the counts need their own list.
NUMSTAT_OPTIONS = ("--numstat", "-z", "-M", "--no-color", "--no-ext-diff", "--no-textconv")
# What the gate leaves behind is never part of a fix, even in repos that do not ignore it:
# bytecode, the tools' caches, coverage.py's data files (pytest --cov in addopts writes them
# wherever the run starts) and selfheal's own dir (see `never_staged`).
_LITTER_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
_BYTECODE = (".pyc", ".pyo", ".pyd")
MAX_DIRTY_LISTED = 5
_EMPTY_REPO = re.compile(r"^error: '(.+)/' does not have a commit checked out$", re.MULTILINE)


def never_staged(path: str) -> bool:
    """`path` (relative to the top, "/"-separated, as git names it) is the gate's litter:
    in a cache dir at any depth, bytecode, a coverage data file, or under `.selfheal/`."""
    *dirs, name = path.split("/")
    return (
        any(part in _LITTER_DIRS for part in dirs)
        or (bool(dirs) and dirs[0] == ".selfheal")
        or name.endswith(_BYTECODE)
        or name == ".coverage"
        or name.startswith(".coverage.")
    )


def parse_numstat(out: str) -> list[FileChange]:
    """`git diff --numstat -z`: "A\\tD\\tPATH\\0", or "A\\tD\\t\\0OLD\\0NEW\\0" for a rename."""
    fields = out.split("\0")
    changes: list[FileChange] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry.strip():
            continue
        added, removed, path = entry.split("\t", 2)
        if not path:
            path = fields[i + 1]  # the new name of a rename
            i += 2
        changes.append(
            FileChange(
                path=path,
                added=0 if added == "-" else int(added),
                removed=0 if removed == "-" else int(removed),
            )
        )
    return changes


def status_paths(porcelain: str) -> list[str]:
    """Paths from `git status --porcelain=v1 -z` (a rename's old name follows it; skip that)."""
    fields = porcelain.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1
    return paths


def dirty_message(top: Path, porcelain: str) -> str:
    """Why a checkout with uncommitted changes to tracked files is refused; "" when clean."""
    dirty = status_paths(porcelain)
    if not dirty:
        return ""
    listed = ", ".join(dirty[:MAX_DIRTY_LISTED])
    more = len(dirty) - MAX_DIRTY_LISTED
    if more > 0:
        listed += f" and {more} more"
    return (
        f"{top} has uncommitted changes to tracked files ({listed}); "
        "commit or stash them first: selfheal heals what is committed"
    )


def empty_repos(stderr: str) -> list[str]:
    """Directories `git add` refused because they are repositories without a commit."""
    return _EMPTY_REPO.findall(stderr)
