"""The one place selfheal starts a process.

Own process group (the whole group dies on timeout), output kept head-and-tail up to a
cap, invalid UTF-8 replaced, binary output elided, and an environment with secrets removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple

from bot import reaper
from bot.lines import LineSink, StreamLines, decode
from bot.secrets import (
    ALWAYS_SECRET,
    environment,
    is_secret_name,
    redact,
    redact_data,
    secret_values,
)

__all__ = [
    "ALWAYS_SECRET",
    "ProcessResult",
    "Started",
    "abandon",
    "end_left_behind",
    "is_secret_name",
    "redact",
    "redact_data",
    "run_process",
    "scrubbed_env",
    "secret_values",
    "start",
    "stop_all",
]

DEFAULT_OUTPUT_CAP = 256 * 1024
KILL_GRACE_S = 3.0
_CHUNK = 64 * 1024
_SHORT_READ = 4096  # a read shorter than this waits for more to gather (see _pump)
_GATHER_S = 0.01
_FAST_READ = 32 * 1024  # a writer that fills this much meanwhile is read as it writes
# Each output pipe's size, where the system allows (Linux: up to /proc/sys/fs/pipe-max-size;
# else as it is, 64 KiB): a step started ahead writes this much before anyone reads
# (bot.gate.head_start) without stopping. Not more: the kernel charges a user's pipes
# against a soft limit (pipe-user-pages-soft, 64 MiB), past which their new pipes get a page.
_PIPE_BYTES = 256 * 1024

_live: dict[int, subprocess.Popen[bytes]] = {}  # leader pid -> process, while it runs
_tags = itertools.count(1)


def scrubbed_env(
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    allow: Sequence[str] = (),
) -> dict[str, str]:
    """The environment for a child: `base` (default: ours, secrets held aside included)
    without secrets, plus `extra`."""
    source = environment() if base is None else base
    env = {k: v for k, v in source.items() if not is_secret_name(k, allow)}
    env.update(extra or {})
    return env


class _CappedBuffer:
    """Keeps the first and last `cap // 2` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.total = 0
        self.lock = threading.Lock()  # a reader thread may still be writing when we read

    def write(self, chunk: bytes) -> None:
        with self.lock:
            self._write(chunk)

    def _write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_len += len(chunk)
        while self.tail and self.tail_len - len(self.tail[0]) >= self.half:
            self.tail_len -= len(self.tail.popleft())

    def text(self) -> str:
        with self.lock:
            head, tail, total = bytes(self.head), b"".join(self.tail), self.total
        return self._render(head, tail, total)

    def _render(self, head: bytes, tail: bytes, total: int) -> str:
        if len(tail) > self.half:
            tail = tail[-self.half :]
        dropped = total - len(head) - len(tail)
        if dropped <= 0:
            return decode(head + tail)
        marker = f"\n[... {dropped} bytes cut by selfheal ...]\n"
        return decode(head) + marker + decode(tail)


class ProcessResult(NamedTuple):
    # A NamedTuple, not a dataclass: `dataclasses` (with `inspect`, which it imports) was the
    # largest import on `selfheal gate`'s way to its first step (bot.gate.head_start): 4 to
    # 5 ms of about 30.
    argv: tuple[str, ...]
    returncode: int | None  # None: killed at its timeout or never started
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    output_bytes: int = 0
    start_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        """stdout then stderr, as a person reading the log would want them."""
        if self.stderr.strip():
            return f"{self.stdout.rstrip()}\n{self.stderr}".lstrip("\n")
        return self.stdout


def _pump(
    stream: IO[bytes], buffer: _CappedBuffer, lines: StreamLines | None, ended: threading.Event
) -> None:
    """Read `stream` to its end into `buffer` (and `lines`). After a short read it waits up to
    _GATHER_S for more to gather, unless the process has `ended`: pytest writes each test's
    dot on its own, and reading each as it comes costs a wake-up a test (50,000 tests: about
    1 s of selfheal's CPU, on the core the tests could use); what it shows is late by as
    little, and nothing is late once the process is gone. A writer that fills _FAST_READ in
    one read is read as fast as it writes from then on: gathering would only hold it back
    (a pipe that holds 64 KiB would cap it at a few MB/s)."""
    gather = True
    try:
        while chunk := stream.read1(_CHUNK):  # type: ignore[attr-defined]  # what has arrived, not a full chunk
            buffer.write(chunk)
            if lines is not None:
                lines.write(chunk)
            if len(chunk) >= _FAST_READ:
                gather = False
            elif gather and len(chunk) < _SHORT_READ:
                ended.wait(_GATHER_S)
    except (OSError, ValueError):
        return  # the pipe was closed under us after a timeout
    if lines is not None:
        lines.close()
    with contextlib.suppress(OSError):
        stream.close()


def _feed(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child exited or closed stdin: what it did not read it did not want
    finally:
        with contextlib.suppress(OSError, ValueError):
            stream.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; anything left in its group gets the hard signal too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def stop_all(grace: float = KILL_GRACE_S) -> None:
    """End every process this process started and has not seen end: SIGTERM to each live
    group, SIGKILL to what is left after `grace`, then to every tagged descendant.

    Safe to call from a signal handler in the main thread (no lock is taken), so a Ctrl-C
    does not wait for a step running in a worker thread to end by itself.
    """
    running = list(_live.values())
    for proc in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.returncode is None for p in running) and time.monotonic() < deadline:
        time.sleep(0.02)  # each run_process's waiter thread reaps its own leader
    for proc in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    reaper.end_tagged(reaper.tag_prefix(), keep=[p.pid for p in running])


def end_left_behind() -> list[int]:
    """End what the processes we ran left running after they ended (see
    `reaper.left_behind`); none we supervise now. For where nothing of a step or an agent
    should be running any more: a heal before each gate run, and at its end."""
    hit = reaper.send(reaper.left_behind(keep=list(_live)), signal.SIGKILL)
    if hit:
        reaper.reap(hit)
    return hit


def _end_strays(proc: subprocess.Popen[bytes], tag: str) -> None:
    """After the leader's end: what it left behind (in its group, or a daemon in a session of
    its own) would hold our pipes open and outlive the step; end it now."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    reaper.end_tagged(tag, keep=[proc.pid])


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait for the child to exit; False when `timeout` passed first.

    Popen.wait(timeout) polls, sleeping up to 50 ms between looks (25 ms late on average,
    on every step and every verification); a thread blocked in waitpid wakes at once.
    """
    waiter = threading.Thread(target=proc.wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    return not waiter.is_alive()


class Started:
    """A process `_spawn` began; one `start` made waits for `run_process(adopt=)`."""

    def __init__(self, proc: subprocess.Popen[bytes], argv: tuple[str, ...], tag: str, at: float):
        self.proc, self.argv, self.tag, self.at = proc, argv, tag, at  # at: time.monotonic()
        self.ended_at: float | None = None  # when it exited, where a watcher saw it

    def watch(self) -> None:
        """Note when it exits (from a thread of its own): its time is its own, not the time
        it waited to be supervised."""

        def note() -> None:
            with contextlib.suppress(ChildProcessError, OSError):
                self.proc.wait()
                self.ended_at = time.monotonic()

        threading.Thread(target=note, daemon=True).start()


def _spawn(
    argv: tuple[str, ...], cwd: Path, env: Mapping[str, str] | None, *, stdin: bool
) -> Started:
    """Start `argv` in a session of its own with a tag of ours; OSError if it cannot."""
    started = time.monotonic()
    child_env = dict(scrubbed_env() if env is None else env)
    tag = f"{reaper.tag_prefix()}{next(_tags)}"
    child_env[reaper.TAG_VARIABLE] = tag
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=child_env,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _live[proc.pid] = proc
    for stream in (proc.stdout, proc.stderr):
        _widen(stream)
    return Started(proc=proc, argv=argv, tag=tag, at=started)


def _widen(stream: IO[bytes] | None) -> None:
    """Make a pipe hold _PIPE_BYTES where the system lets us; else leave it as it is."""
    setting = getattr(fcntl, "F_SETPIPE_SZ", None)
    if stream is None or setting is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), setting, _PIPE_BYTES)


def start(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Started | None:
    """Start `argv` now, for a `run_process(..., adopt=)` with the same argv, cwd and env to
    supervise later (without stdin); None when it cannot start. Its output waits in its
    pipes meanwhile. Every one that is not adopted must be given to `abandon`."""
    try:
        began = _spawn(tuple(str(a) for a in argv), cwd, env, stdin=False)
    except OSError:
        return None
    began.watch()
    return began


def abandon(started: Started) -> None:
    """End a process `start` began that will not be supervised, and all it started."""
    _kill_group(started.proc)
    _end_strays(started.proc, started.tag)
    for stream in (started.proc.stdout, started.proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    _live.pop(started.proc.pid, None)


def run_process(
    argv: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: str | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    redact_values: Sequence[str] | None = None,
    on_line: Callable[[str], None] | None = None,
    adopt: Started | None = None,
) -> ProcessResult:
    """Run `argv` (never through a shell) and return what happened; it never raises for the child.

    `env` is used as given (callers build it with `scrubbed_env`; default: ours, scrubbed).
    Output is redacted of `redact_values` (default: the secret values in our environment).
    `on_line` is told each line of stdout and stderr as it arrives (redacted, without its
    newline), from reader threads, one call at a time; never after this returns. What the
    result holds is the same with or without it. `adopt`: the process `start` began with
    this very argv, cwd and env (the caller has checked): it is supervised instead of a new
    one, and its time counts from its start.
    """
    argv = tuple(str(a) for a in argv)
    if redact_values is None:
        redact_values = secret_values()
    if adopt is not None and adopt.argv == argv and stdin is None:
        began: Started = adopt
    else:
        if adopt is not None:
            abandon(adopt)  # not what the caller checked: never supervise a stranger
        try:
            began = _spawn(argv, cwd, env, stdin=stdin is not None)
        except OSError as exc:
            return ProcessResult(
                argv=argv,
                returncode=None,
                stdout="",
                stderr=f"could not start {argv[0]}: {exc.strerror or exc}",
                duration_s=0.0,
                start_error=str(exc.strerror or exc),
            )
    try:
        result = _supervise(
            began.proc,
            argv,
            started=began.at,
            stdin=stdin,
            timeout=None if timeout is None else max(timeout - (time.monotonic() - began.at), 0.0),
            output_cap=output_cap,
            redact_values=redact_values,
            tag=began.tag,
            on_line=on_line,
        )
    finally:
        _live.pop(began.proc.pid, None)
    if began.ended_at is not None and not result.timed_out:
        return result._replace(duration_s=began.ended_at - began.at)
    return result


def _supervise(
    proc: subprocess.Popen[bytes],
    argv: tuple[str, ...],
    *,
    started: float,
    stdin: str | None,
    timeout: float | None,
    output_cap: int,
    redact_values: Sequence[str],
    tag: str,
    on_line: Callable[[str], None] | None = None,
) -> ProcessResult:
    out, err = _CappedBuffer(output_cap), _CappedBuffer(output_cap // 4 or 1)
    sink = LineSink(on_line, redact_values) if on_line is not None else None
    ended = threading.Event()  # the process is gone: read what is left without waiting
    pumps = [
        threading.Thread(
            target=_pump,
            args=(stream, buffer, StreamLines(sink) if sink is not None else None, ended),
            daemon=True,
        )
        for stream, buffer in ((proc.stdout, out), (proc.stderr, err))
    ]
    for t in pumps:
        t.start()
    if stdin is not None and proc.stdin is not None:
        # In a thread, so a child that never reads a large stdin cannot outlive its timeout.
        feeder = threading.Thread(
            target=_feed, args=(proc.stdin, stdin.encode("utf-8")), daemon=True
        )
        feeder.start()
    timed_out = False
    try:
        timed_out = not _wait(proc, timeout)
    except BaseException:
        ended.set()
        if sink is not None:
            sink.close()  # nothing more on the screen after the interruption is said
        _kill_group(proc)  # Ctrl-C: leave no process behind
        _end_strays(proc, tag)
        raise
    ended.set()
    if timed_out:
        _kill_group(proc)
    _end_strays(proc, tag)
    for t, stream in zip(pumps, (proc.stdout, proc.stderr), strict=True):
        # A grandchild that left the group may hold the pipe open; do not wait for it
        # forever, and leave its stream to the reader thread (closing would block on it).
        t.join(timeout=KILL_GRACE_S)
        if not t.is_alive() and stream is not None:
            stream.close()
    if sink is not None:
        sink.close()  # a stray grandchild's later lines belong to no step any more
    return ProcessResult(
        argv=argv,
        returncode=None if timed_out else proc.returncode,
        stdout=redact(out.text(), redact_values),
        stderr=redact(err.text(), redact_values),
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
        output_bytes=out.total + err.total,
    )
