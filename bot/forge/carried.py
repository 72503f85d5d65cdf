"""Generated files a project needs to import that git ignores, carried from the user's checkout.

setuptools_scm and hatch-vcs write `_version.py` at install time, and a C extension built in
place leaves `*.so`/`*.pyd` beside its sources; git ignores them, so a clean workspace lacks
them and the gate fails at import while the user's checkout is green. The workspace takes a
snapshot of exactly these files when it opens and puts that snapshot back after every reset,
so what the agent changes in an ignored file is still wiped before the final verification.

Only what Python imports from a source tree is carried: modules (`.py`), their stubs
(`.pyi`, read by type checkers in the gate) and extension modules (`.so`, `.pyd`). Not
bytecode (Python rebuilds it from the source, and sourceless bytecode could hide a fix), and
not `.pth` files (Python reads them only from site-packages, never from a project's tree).
Only files in directories git does not ignore: an ignored directory (a venv, build/, .tox/)
is an environment or an output, not part of the importable source, and can be large.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from bot.forge.git import GitDir, run_bytes

SUFFIXES = (".py", ".pyi", ".so", ".pyd")
MAX_FILES = 200
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class Carried(NamedTuple):
    """What was taken from the user's checkout: the paths (relative, posix), and those left
    behind with the reason ("path (why)")."""

    paths: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def ignored_entries(where: GitDir) -> list[str]:
    """Every ignored path in the checkout; a wholly ignored directory is one entry, "dir/"."""
    out = run_bytes(
        where, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
    )
    return [e.decode("utf-8", "surrogateescape") for e in out.split(b"\0") if e]


def generated_candidates(top: Path, entries: Sequence[str]) -> list[str]:
    """The ignored files worth carrying: importable, not in an ignored dir or a venv."""
    venv: dict[str, bool] = {}

    def in_venv(rel: PurePosixPath) -> bool:
        for parent in rel.parents:
            key = parent.as_posix()
            if key not in venv:
                venv[key] = os.path.lexists(top / key / "pyvenv.cfg")
            if venv[key]:
                return True
        return False

    picked = []
    for entry in entries:
        rel = PurePosixPath(entry)
        if entry.endswith("/") or rel.is_absolute() or ".." in rel.parts or "\n" in entry:
            continue  # a whole ignored directory, or a name an exclude line can't hold
        if rel.name.endswith(SUFFIXES) and not in_venv(rel):
            picked.append(entry)
    return sorted(picked)


@contextlib.contextmanager
def _parent_fd(root: Path, rel: PurePosixPath) -> Iterator[int]:
    """A descriptor of root/rel's directory, reached without following any link (OSError
    with ELOOP or ENOTDIR where one is on the way)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in rel.parts[:-1]:
            step = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = step
        yield fd
    finally:
        os.close(fd)


def _copy(src_fd: int, dst_fd: int, size: int) -> None:
    left = size
    while left > 0:
        chunk = os.read(src_fd, min(_CHUNK, left))
        if not chunk:
            break
        os.write(dst_fd, chunk)
        left -= len(chunk)


def take(top: Path, candidates: Sequence[str], store: Path) -> Carried:
    """Copy each candidate (a regular file, reached and opened without following a link,
    within the caps) from the checkout `top` into `store`; what was carried and what not."""
    store.mkdir(mode=0o700, exist_ok=True)
    paths: list[str] = []
    skipped: list[str] = []
    total = 0
    for entry in candidates:
        if len(paths) >= MAX_FILES:
            skipped.append(f"{entry} (over the {MAX_FILES} file limit)")
            continue
        rel = PurePosixPath(entry)
        try:
            with _parent_fd(top, rel) as parent:
                fd = os.open(rel.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
        except OSError as exc:
            why = "a link" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else exc.strerror
            skipped.append(f"{entry} ({why})")
            continue
        try:
            info = os.fstat(fd)
            why = _refusal(info, total)
            if why:
                skipped.append(f"{entry} ({why})")
                continue
            out = os.open(store / str(len(paths)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _copy(fd, out, info.st_size)
                os.fchmod(out, stat.S_IMODE(info.st_mode) & 0o755 | 0o600)
            finally:
                os.close(out)
        finally:
            os.close(fd)
        total += info.st_size
        paths.append(entry)
    return Carried(tuple(paths), tuple(skipped))


def _refusal(info: os.stat_result, total: int) -> str:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_nlink > 1:
        return "a hard link"  # its other name may be anywhere
    if info.st_size > MAX_FILE_BYTES:
        return f"over {MAX_FILE_BYTES} bytes"
    if total + info.st_size > MAX_TOTAL_BYTES:
        return f"over {MAX_TOTAL_BYTES} bytes in all"
    return ""


def put(store: Path, work_tree: Path, carried: Carried) -> None:
    """Write the snapshot into the work tree again, never through a link, replacing what is
    at each path (no commit of the workspace holds one: they are never staged). Where the
    tree lacks the path's directory (the commit removed it), it stays as the commit has it."""
    for index, entry in enumerate(carried.paths):
        rel = PurePosixPath(entry)
        with contextlib.suppress(OSError), _parent_fd(work_tree, rel) as parent:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(rel.name, dir_fd=parent)  # an edited copy, or a link put there
            src = os.open(store / str(index), os.O_RDONLY)
            try:
                mode = stat.S_IMODE(os.fstat(src).st_mode)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                dst = os.open(rel.name, flags, mode, dir_fd=parent)
                try:
                    _copy(src, dst, os.fstat(src).st_size)
                    os.fchmod(dst, mode)
                finally:
                    os.close(dst)
            finally:
                os.close(src)


def exclude_lines(paths: Sequence[str]) -> str:
    """gitignore lines matching exactly these paths (anchored, wildcards escaped)."""
    lines = []
    for path in paths:
        escaped = "".join(f"\\{c}" if c in "*?[]\\!# " else c for c in path)
        lines.append(f"/{escaped}\n")
    return "".join(lines)
