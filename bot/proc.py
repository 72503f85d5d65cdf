"""The one place selfheal starts a process.

Own process group (the whole group dies on timeout), output kept head-and-tail up to a
cap, invalid UTF-8 replaced, binary output elided, and an environment with secrets removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT_OUTPUT_CAP = 256 * 1024
KILL_GRACE_S = 3.0
_CHUNK = 64 * 1024

ALWAYS_SECRET = frozenset(
    {"GITHUB_TOKEN", "ANTHROPIC_API_KEY", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
)
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL")
_MIN_REDACT_LEN = 6


def is_secret_name(name: str, allow: Sequence[str] = ()) -> bool:
    """True for variables that must never reach a child process."""
    upper = name.upper()
    if upper in ALWAYS_SECRET:
        return True
    if name in allow:
        return False
    return any(word in upper for word in _SECRET_WORDS)


def scrubbed_env(
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    allow: Sequence[str] = (),
) -> dict[str, str]:
    """The environment for a child: `base` (default os.environ) without secrets, plus `extra`."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not is_secret_name(k, allow)}
    env.update(extra or {})
    return env


def secret_values(base: Mapping[str, str] | None = None, allow: Sequence[str] = ()) -> list[str]:
    """Values of secret variables, longest first, to redact from anything we keep or show."""
    source = os.environ if base is None else base
    values = {
        v for k, v in source.items() if is_secret_name(k, allow) and len(v) >= _MIN_REDACT_LEN
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value replaced by ***."""
    for value in secrets:
        if value in text:
            text = text.replace(value, "***")
    return text


def redact_data(data: object, secrets: Sequence[str]) -> object:
    """Redact every string inside JSON-like data, before it is encoded or escaped anywhere."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, secrets) for v in data]
    return data


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


_BINARY_LINE = re.compile(r"[^\n]*\x00[^\n]*")


def decode(data: bytes) -> str:
    """UTF-8 with replacement; lines holding NUL bytes are elided as binary."""
    text = data.decode("utf-8", errors="replace")
    if "\x00" in text:
        text = _BINARY_LINE.sub(lambda m: f"[binary output elided: {len(m.group(0))} chars]", text)
    return text


@dataclass(frozen=True)
class ProcessResult:
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


def _pump(stream: IO[bytes], buffer: _CappedBuffer) -> None:
    try:
        while chunk := stream.read1(_CHUNK):  # type: ignore[attr-defined]  # what has arrived, not a full chunk
            buffer.write(chunk)
    except (OSError, ValueError):
        return  # the pipe was closed under us after a timeout
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


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> bool:
    """Wait for the child to exit; False when `timeout` passed first.

    Popen.wait(timeout) polls, sleeping up to 50 ms between looks (25 ms late on average,
    on every step and every verification); a thread blocked in waitpid wakes at once.
    """
    waiter = threading.Thread(target=proc.wait, daemon=True)
    waiter.start()
    waiter.join(timeout)
    return not waiter.is_alive()


def run_process(
    argv: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: str | None = None,
    output_cap: int = DEFAULT_OUTPUT_CAP,
    redact_values: Sequence[str] | None = None,
) -> ProcessResult:
    """Run `argv` (never through a shell) and return what happened; it never raises for the child.

    `env` is used as given (callers build it with `scrubbed_env`; default: ours, scrubbed).
    Output is redacted of `redact_values` (default: the secret values in our environment).
    """
    argv = tuple(str(a) for a in argv)
    if redact_values is None:
        redact_values = secret_values()
    started = time.monotonic()
    child_env = dict(scrubbed_env() if env is None else env)
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=child_env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return ProcessResult(
            argv=argv,
            returncode=None,
            stdout="",
            stderr=f"could not start {argv[0]}: {exc.strerror or exc}",
            duration_s=time.monotonic() - started,
            start_error=str(exc.strerror or exc),
        )
    out, err = _CappedBuffer(output_cap), _CappedBuffer(output_cap // 4 or 1)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
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
        _kill_group(proc)  # Ctrl-C: leave no process behind
        raise
    if timed_out:
        _kill_group(proc)
    for t, stream in zip(pumps, (proc.stdout, proc.stderr), strict=True):
        # A grandchild that left the group may hold the pipe open; do not wait for it
        # forever, and leave its stream to the reader thread (closing would block on it).
        t.join(timeout=KILL_GRACE_S)
        if not t.is_alive() and stream is not None:
            stream.close()
    return ProcessResult(
        argv=argv,
        returncode=None if timed_out else proc.returncode,
        stdout=redact(out.text(), redact_values),
        stderr=redact(err.text(), redact_values),
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
        output_bytes=out.total + err.total,
    )
