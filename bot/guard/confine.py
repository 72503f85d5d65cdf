"""Confining a model-given path to one repository root, and reading and writing it safely.

No absolute paths, no `..` out of the root, nothing inside `.git`, no symbolic link leading
out. Writes also refuse protected paths and never go through a symbolic link. A refusal is a
PathRefused whose message, written for the model, says what to do instead.
`root` is always the repository root with its links resolved (os.path.realpath).
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from bot.guard.sanitize import sanitize
from bot.render.text import one_line

MAX_READ_BYTES = 4 * 1024 * 1024
_BINARY_PROBE = 8192  # git's own heuristic: a NUL byte early on means binary
_SHOWN_PATH = 200


class PathRefused(Exception):
    """A path the model must change; the message says how."""


@dataclass(frozen=True)
class Target:
    rel: str  # as the model named it, normalised: "src/app.py"
    real: Path  # where it is on disk, symlinks followed; always inside the root


def shown(path: str) -> str:
    """`path` as it may be shown back to the model: sanitized, on one line, cut short."""
    return one_line(sanitize(path), _SHOWN_PATH) or "''"


@functools.lru_cache(maxsize=32)
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)


def check_patterns(patterns: Sequence[str]) -> None:
    """Raise ValueError now for a pattern that gitignore rules cannot read."""
    _spec(tuple(patterns))


def protected_pattern(path: str, patterns: Sequence[str]) -> str | None:
    """The pattern (gitignore rules) that claims the repo-relative `path`, or None."""
    spec = _spec(tuple(patterns))
    result = spec.check_file(path)
    if not result.include:
        return None
    # The index counts the spec's patterns, not our lines (blank ones are dropped).
    found = None if result.index is None else spec.patterns[result.index]
    pattern = getattr(found, "pattern", None)
    return pattern if isinstance(pattern, str) else ", ".join(patterns)


def _in_git_dir(parts: Sequence[str]) -> bool:
    return any(part.lower() == ".git" for part in parts)


def _inside(root: Path, name: str, real: Path) -> None:
    if not real.is_relative_to(root):
        raise PathRefused(
            f"{name}: resolves outside the repository (through a symbolic link);"
            " only files inside the repository can be used"
        )
    if _in_git_dir(real.relative_to(root).parts):
        raise PathRefused(f"{name}: paths inside .git are refused; git metadata is off limits")


def resolve(root: Path, raw: str) -> Target:
    """The path the model named, checked: relative, inside the root, not in .git."""
    name = shown(raw)
    if not raw.strip() or "\x00" in raw:
        raise PathRefused(f"{name}: not a usable path; give one relative to the repository root")
    pure = PurePosixPath(raw)
    if pure.is_absolute():
        raise PathRefused(
            f"{name}: absolute paths are refused; give a path relative to the repository"
            " root, such as src/app.py"
        )
    parts: list[str] = []
    for part in pure.parts:
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise PathRefused(f"{name}: `..` leads out of the repository; stay inside it")
    if _in_git_dir(parts):
        raise PathRefused(f"{name}: paths inside .git are refused; git metadata is off limits")
    real = Path(os.path.realpath(root / raw))
    _inside(root, name, real)
    return Target("/".join(parts) or ".", real)


def writable(root: Path, raw: str, protected: Sequence[str]) -> Target:
    """A path the model may write: as resolve, and no symlink at the end, not protected."""
    target = resolve(root, raw)
    name, pure = shown(raw), PurePosixPath(raw)
    if pure.name in ("", ".", ".."):
        raise PathRefused(f"{name}: not a file path")
    # The parent with its links followed, the last component not: writes never follow one.
    parent = Path(os.path.realpath(root / pure.parent))
    _inside(root, name, parent)
    path = parent / pure.name
    if path.is_symlink():
        raise PathRefused(
            f"{name}: is a symbolic link; writing through links is refused."
            " Change the file it points to, by its own path, if that is inside the repository"
        )
    if path.exists() and not path.is_file():
        raise PathRefused(f"{name}: is not a regular file")
    for rel in dict.fromkeys((target.rel, path.relative_to(root).as_posix())):
        if (pattern := protected_pattern(rel, protected)) is not None:
            raise PathRefused(
                f"{name}: this path is protected (pattern {pattern}); change code elsewhere"
            )
    return Target(target.rel, path)


def read_bytes(target: Target) -> bytes:
    """The bytes of a regular text file of at most MAX_READ_BYTES, opened without following."""
    real = target.real
    if real.is_dir():
        raise PathRefused(f"{target.rel}: is a directory; use list_files to see what is in it")
    if not real.exists():
        raise PathRefused(f"{target.rel}: no such file; use list_files or search to find it")
    if not real.is_file():
        raise PathRefused(f"{target.rel}: is not a regular file")
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused(f"{target.rel}: is not a regular file")
        if info.st_size > MAX_READ_BYTES:
            raise PathRefused(
                f"{target.rel}: is {info.st_size} bytes, over the {MAX_READ_BYTES} byte"
                " limit; use search to find the part you need"
            )
        data = handle.read(MAX_READ_BYTES + 1)
    if b"\x00" in data[:_BINARY_PROBE]:
        raise PathRefused(f"{target.rel}: is a binary file; only text files can be read")
    return data


def write_text(path: Path, text: str) -> None:
    """Write `text` as UTF-8 exactly as given; the last component is never followed as a link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
