"""What the changed files are, not what their lines say: nested repositories, submodules,
binary files, oversized files, and new modules that shadow a tool or the standard library.

The only guard module that reads the changed files: `Files` reads each once, never past the
size limit, from the worktree (without following a final symbolic link) or from a git tree.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bot import toml
from bot.guard.diff import ChangedFile

GITLINK_MODE = "160000"
_BINARY_PROBE = 8192  # git's own heuristic: a NUL byte early on means binary
# Imported by the gate itself (pytest, its plugins, ruff, selfheal's own plugin package) or
# at every interpreter start (sitecustomize): a new module of that name takes over the gate.
_TOOLS = frozenset(
    {"pytest", "_pytest", "pluggy", "py", "ruff", "sitecustomize", "usercustomize"}
    | {__name__.split(".")[0]}
)


@dataclass(frozen=True)
class Read:
    """A changed file as it is in the worktree now."""

    exists: bool
    regular: bool
    size: int
    data: bytes | None  # None when absent, not a regular file, or over the limit


_MISSING = Read(exists=False, regular=False, size=0, data=None)
_REGULAR_MODES = ("100644", "100755")
# A file in a git tree: (mode, size, bytes or None past the limit), or None when absent.
TreeFile = Callable[[str], tuple[str, int, bytes | None] | None]


class Files:
    """Both sides of each changed file: the base commit's bytes and the worktree's (or, with
    `in_tree`, a tree's: what a proposal commits), read once."""

    def __init__(
        self,
        root: Path,
        before: Callable[[str], bytes | None],
        limit: int,
        in_tree: TreeFile | None = None,
    ) -> None:
        self.root = root
        self._before = before
        self.limit = limit
        self._in_tree = in_tree
        self._after: dict[str, Read] = {}
        self._before_read: dict[str, bytes | None] = {}

    def before(self, path: str) -> bytes | None:
        # Several guards read the same base file (test code, doctests); each read is a git call.
        if path not in self._before_read:
            self._before_read[path] = self._before(path)
        return self._before_read[path]

    def after(self, path: str) -> Read:
        if path not in self._after:
            self._after[path] = self._read(path)
        return self._after[path]

    def _read(self, path: str) -> Read:
        if self._in_tree is not None:
            found = self._in_tree(path)
            if found is None:
                return _MISSING
            mode, size, data = found
            if mode not in _REGULAR_MODES:
                return Read(exists=True, regular=False, size=0, data=None)
            return Read(exists=True, regular=True, size=size, data=data)
        base = self.root.resolve()
        parent = (base / PurePosixPath(path).parent).resolve()
        if not parent.is_relative_to(base):
            return _MISSING  # the escape guard names it; nothing outside the root is read
        try:
            fd = os.open(
                parent / PurePosixPath(path).name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
            )
        except OSError:
            here = parent / PurePosixPath(path).name
            return Read(exists=here.is_symlink() or here.exists(), regular=False, size=0, data=None)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return Read(exists=True, regular=False, size=0, data=None)
            if info.st_size > self.limit:
                return Read(exists=True, regular=True, size=info.st_size, data=None)
            chunks, left = [], self.limit + 1
            while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        return Read(exists=True, regular=True, size=len(data), data=data)


def _dependencies(files: Files) -> frozenset[str]:
    """Import-style names of the project's declared dependencies (`PyYAML` -> `pyyaml`)."""
    data = files.after("pyproject.toml").data
    try:
        project = toml.loads(data.decode("utf-8")) if data else {}
    except (UnicodeDecodeError, toml.TOMLDecodeError):
        return frozenset()
    table = project.get("project", {}) if isinstance(project.get("project"), dict) else {}
    specs = list(table.get("dependencies", []) or [])
    for group in (table.get("optional-dependencies") or {}).values():
        specs += list(group or [])
    names = set()
    for spec in specs:
        if isinstance(spec, str):
            name = spec.split(";")[0].split("[")[0]
            for mark in "<>=!~ (@":
                name = name.split(mark)[0]
            names.add(_normalized(name))
    return frozenset(n for n in names if n)


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _installed_as(name: str) -> set[str]:
    """The normalized names of installed distributions that provide the module `name`
    (`yaml` -> {"pyyaml"}): a project's dependency names rarely match their import names."""
    return {_normalized(d) for d in _distributions().get(name, [])}


def _normalized(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _top_level(files: Files, path: str) -> tuple[str, str]:
    """The top-level name `path` is imported under (its outermost package, else its stem),
    and the file that defines that name."""
    pure = PurePosixPath(path)
    name, defined_by = pure.stem, path
    folder = pure.parent
    while str(folder) not in ("", ".") and files.after(f"{folder}/__init__.py").exists:
        name, defined_by = folder.name, f"{folder}/__init__.py"
        folder = folder.parent
    return name, defined_by


def _shadows(files: Files, change: ChangedFile, dependencies: frozenset[str]) -> str | None:
    """What a new file takes the place of when Python imports it, or None."""
    path = change.path
    if path.endswith(".pth"):
        return "a .pth file, which Python runs at start-up"
    if not path.endswith(".py"):
        return None
    name, defined_by = _top_level(files, path)
    if files.before(defined_by) is not None:
        return None  # the name was importable before: a module added to an existing package
    if name == "conftest" and PurePosixPath(path).name != "conftest.py":
        return "pytest's `conftest` modules"
    if name in _TOOLS:
        return f"the module `{name}` the gate itself imports"
    if name in sys.stdlib_module_names:
        return f"the standard library's `{name}`"
    if name in dependencies or _installed_as(name) & dependencies:
        return f"the dependency `{name}`"
    return None


def check_content(changes: Sequence[ChangedFile], files: Files) -> list[tuple[str, str]]:
    """(file, problem) for each change whose content the guards refuse."""
    problems: list[tuple[str, str]] = []
    dependencies: frozenset[str] | None = None
    for change in changes:
        path = change.path
        if GITLINK_MODE in (change.old_mode, change.new_mode):
            problems.append((path, f"{path} is a nested git repository (a gitlink)"))
            continue
        if PurePosixPath(path).name == ".gitmodules":
            problems.append((path, f"{path} changes the submodules"))
            continue
        if change.status == "deleted":
            continue
        read = files.after(path)
        if read.size > files.limit:
            problems.append((path, f"{path} is {read.size} bytes, over the limit of {files.limit}"))
        elif change.binary or (read.data is not None and b"\x00" in read.data[:_BINARY_PROBE]):
            problems.append((path, f"{path} is a binary file"))
        if change.status in ("added", "renamed"):
            if dependencies is None:
                dependencies = _dependencies(files)
            if (shadowed := _shadows(files, change, dependencies)) is not None:
                problems.append(
                    (path, f"{path} is new and would be imported instead of {shadowed}")
                )
    return problems
