"""Temp dirs that name the selfheal process owning them, so a later run can remove those
a killed run (SIGKILL, power loss) left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

OWNER_FILE = "selfheal-owner"
PREFIXES = ("selfheal-ws-", "selfheal-git-")
# An adopted checkout's .git, moved into a private dir for the run (see bot.forge.adopt),
# and the record of where it belongs: a dir holding them is never removed before it is back.
PARKED_GIT = "parked-git"
PARKED_RECORD = "selfheal-parked"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where /proc can't say), so a
    reused pid is not mistaken for the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses; fields count from its end.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def remove_tree(path: Path) -> None:
    """Remove a directory tree, also where the agent took write permission away; never raises."""

    def retry(function: object, name: str, exc: object) -> None:
        del function, exc
        failed = Path(name)
        with contextlib.suppress(OSError):
            failed.parent.chmod(0o700)
            if failed.is_dir() and not failed.is_symlink():
                failed.chmod(0o700)
                shutil.rmtree(failed, onerror=retry)
            else:
                failed.unlink()

    if path.is_symlink() or not path.exists():
        with contextlib.suppress(OSError):
            path.unlink()
        return
    with contextlib.suppress(OSError):
        shutil.rmtree(path, onerror=retry)


def unpark(home: Path) -> bool:
    """Move a parked .git in `home` back into the checkout it came from; True when nothing
    is parked there any more, False when it can't go back (the checkout has a .git again)."""
    record = home / PARKED_RECORD
    try:
        top = Path(record.read_text(encoding="utf-8").split("\n", 1)[0])
    except OSError:
        return True  # nothing was parked
    parked = home / PARKED_GIT
    if os.path.lexists(parked):
        if not top.is_absolute() or os.path.lexists(top / ".git"):
            return False
        try:
            parked.rename(top / ".git")
        except OSError:
            return False
    with contextlib.suppress(OSError):
        record.unlink()
    return True


def make_owned_dir(prefix: str) -> Path:
    """A new temp dir (mode 0700) holding this process's pid and start time."""
    path = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    pid = os.getpid()
    (path / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n", encoding="ascii")
    return path


def _owner_alive(record: str) -> bool:
    parts = record.split()
    if not parts or not parts[0].isdigit():
        return True  # not ours to judge: leave it
    pid = int(parts[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    recorded = parts[1] if len(parts) > 1 else ""
    return not recorded or recorded == _start_time(pid)


def remove_stale(parent: Path | None = None) -> list[Path]:
    """Remove selfheal's temp dirs under `parent` (the temp dir) whose owner is dead; returns them."""
    root = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(PREFIXES)]
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
            record = (path / OWNER_FILE).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # no owner file yet (being made right now) or not readable: not ours
        # A killed run's parked .git goes home first; while it can't, its dir stays.
        if not _owner_alive(record) and unpark(path):
            remove_tree(path)
            removed.append(path)
    return removed
