"""Finding and ending the processes selfheal started, including those that left their
process group or session (a test's `setsid` daemon), and the prctl flags that make it work.

Every process `bot.proc.run_process` starts carries TAG_VARIABLE in its environment, and
its descendants inherit it; a process is found by that tag wherever it was reparented.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

TAG_VARIABLE = "SELFHEAL_PROCESS_TAG"
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_LINUX = sys.platform.startswith("linux")


def _prctl(option: int, value: int) -> bool:
    if not _LINUX:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def make_non_dumpable() -> bool:
    """Processes of our own (non-root) uid can no longer read /proc/<our pid>/environ or mem,
    nor ptrace us. False where the platform has no such switch."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Orphaned descendants (daemons that double-forked) become our children, not init's."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def tag_prefix() -> str:
    """The start of every tag this process hands out."""
    return f"{os.getpid()}."


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of `pid`, from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def _parent(pid: int) -> int | None:
    known = _stat(pid)
    return known[0] if known is not None else None


def _pids() -> list[int]:
    try:
        return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _tag(pid: int) -> str | None:
    marker = f"{TAG_VARIABLE}=".encode()
    try:
        block = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None  # gone, or not ours to read
    for entry in block.split(b"\0"):
        if entry.startswith(marker):
            return entry[len(marker) :].decode("ascii", "replace")
    return None


def tagged(prefix: str) -> list[int]:
    """Processes whose tag is `prefix` or starts with it (not us), found anywhere."""
    if not _LINUX:
        return []
    me = os.getpid()
    found = []
    for pid in _pids():
        tag = _tag(pid) if pid != me else None
        if tag is not None and (tag == prefix or tag.startswith(prefix)):
            found.append(pid)
    return found


def descendants() -> list[int]:
    """Every process below us, by parent links (as a subreaper that includes adopted orphans)."""
    if not _LINUX:
        return []
    children: dict[int, list[int]] = {}
    for pid in _pids():
        parent = _parent(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def left_behind(keep: Iterable[int]) -> list[int]:
    """Our children in a session other than ours, but for `keep`, with everything below
    them: as a subreaper we adopt what a step or an agent left running when it ended, in
    the session it was started in or one of its own, tag or no tag. A child we start
    ourselves without a session of its own (git) shares ours and is never one of them."""
    if not _LINUX:
        return []
    me, kept = os.getpid(), set(keep)
    mine = _stat(me)
    if mine is None:
        return []
    children: dict[int, list[int]] = {}
    sessions: dict[int, int] = {}
    for pid in _pids():
        known = _stat(pid)
        if known is not None:
            children.setdefault(known[0], []).append(pid)
            sessions[pid] = known[1]
    todo = [c for c in children.get(me, []) if c not in kept and sessions[c] != mine[1]]
    found = []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def send(pids: Iterable[int], sig: int) -> list[int]:
    """Signal each pid; returns those that were there to receive it."""
    hit = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            hit.append(pid)
    return hit


def reap(pids: Iterable[int], keep: Iterable[int] = (), within: float = 1.0) -> None:
    """Collect the exit status of our own children among `pids` (adopted orphans), so they
    do not stay as zombies; `keep` are children a Popen object will wait for itself."""
    mine = os.getpid()
    waiting = {p for p in pids if p not in set(keep) and _parent(p) == mine}
    deadline = time.monotonic() + within
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        if waiting:
            time.sleep(0.01)


def end_tagged(prefix: str, keep: Iterable[int] = ()) -> list[int]:
    """SIGKILL every process tagged `prefix*`; returns the pids that got it."""
    hit = send(tagged(prefix), signal.SIGKILL)
    if hit:
        reap(hit, keep)
    return hit


def end_descendants() -> list[int]:
    """SIGKILL everything below us (used when selfheal itself is about to exit on a signal)."""
    hit = send(descendants(), signal.SIGKILL)
    if hit:
        reap(hit)
    return hit
