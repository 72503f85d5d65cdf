"""Confining a model-given path to one repository root, and reading and writing it safely.

No absolute paths, no `..` out of the root, nothing inside `.git`, no symbolic link leading
out. Writes also refuse protected paths and never go through a symbolic link. A refusal is a
PathRefused whose message, written for the model, says what to do instead.
`root` is always the repository root with its links resolved (os.path.realpath).

The check on a path's text is not enough on its own: the project's tests run between tool
calls and may leave links in the tree, or swap a directory for a link after the check. So
every file is opened from a descriptor of the root, one component at a time, never following
a link, and a file with a second hard link (whose other name may be outside the tree) is
neither read nor written through: a write puts a new file in place of the name instead.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
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
    root: Path

    @property
    def parts(self) -> tuple[str, ...]:
        """`real`'s components below the root: the steps to open it by, none of them a link."""
        return self.real.relative_to(self.root).parts


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
    return Target("/".join(parts) or ".", real, root)


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
    return Target(target.rel, path, root)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_ERRORS = (errno.ELOOP, errno.ENOTDIR)  # what O_NOFOLLOW and O_DIRECTORY say about a link


def _directory(target: Target, parts: Sequence[str], *, create: bool = False) -> int:
    """A descriptor of the directory root/parts, reached without following any link."""
    fd = os.open(target.root, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                step = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise PathRefused(
                    f"{target.rel}: no such file; use list_files to find it"
                ) from None
            except OSError as exc:
                if exc.errno not in _LINK_ERRORS:
                    raise
                raise PathRefused(
                    f"{target.rel}: a directory on its way changed into a symbolic link or a"
                    " file; only files inside the repository can be used"
                ) from None
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_file(target: Target, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise PathRefused(f"{target.rel}: is a directory; use list_files to see what is in it")
    if not stat.S_ISREG(info.st_mode):
        raise PathRefused(f"{target.rel}: is not a regular file")
    if info.st_nlink > 1:
        # Its other name may be anywhere, ~/.ssh included; git never makes one in a checkout.
        raise PathRefused(
            f"{target.rel}: is a hard link to another file, which may be outside the"
            " repository; it cannot be read or edited (write_file replaces it with a new file)"
        )


def single_link_file(path: Path) -> bool:
    """True for a regular file with no other name, not reached through a final link."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def read_bytes(target: Target) -> bytes:
    """The bytes of a regular text file of at most MAX_READ_BYTES, opened without following."""
    if not target.parts:
        raise PathRefused(f"{target.rel}: is a directory; use list_files to see what is in it")
    *dirs, name = target.parts
    parent = _directory(target, dirs)
    try:
        fd = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent
        )
    except FileNotFoundError:
        raise PathRefused(
            f"{target.rel}: no such file; use list_files or search to find it"
        ) from None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise PathRefused(f"{target.rel}: is a symbolic link; read the file it points to") from None
    finally:
        os.close(parent)
    try:
        _check_file(target, info := os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_READ_BYTES:
            raise PathRefused(
                f"{target.rel}: is {info.st_size} bytes, over the {MAX_READ_BYTES} byte"
                " limit; use search to find the part you need"
            )
        data = handle.read(MAX_READ_BYTES + 1)
    if b"\x00" in data[:_BINARY_PROBE]:
        raise PathRefused(f"{target.rel}: is a binary file; only text files can be read")
    return data


def write_text(target: Target, text: str) -> None:
    """Write `text` as UTF-8 exactly as given, as a new file put in place of the old name.

    Renaming a new file over the name never writes through a link (symbolic or hard) to a
    file elsewhere: a link at the name is itself replaced. A file's permission bits are kept.
    """
    *dirs, name = target.parts
    parent = _directory(target, dirs, create=True)
    temporary = f".{name}.selfheal-{secrets.token_hex(8)}"
    try:
        mode = 0o644
        with contextlib.suppress(FileNotFoundError):
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
            if stat.S_ISDIR(old.st_mode):
                raise PathRefused(f"{target.rel}: is a directory, not a file")
            # A link is replaced like a file; its target is never touched.
            mode = mode if stat.S_ISLNK(old.st_mode) else stat.S_IMODE(old.st_mode)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600, dir_fd=parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                os.fchmod(handle.fileno(), mode)
            os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=parent)
            raise
    finally:
        os.close(parent)


def replace_file(directory: Path, name: str, text: str) -> Path:
    """Put a new file `name` with `text` into `directory` (a report directory, say), never
    writing through a link someone left at that name; returns its path."""
    root = Path(os.path.realpath(directory))
    write_text(Target(name, root / name, root), text)
    return root / name
