"""Progress on a terminal: a stderr line per stage, per gate and per step's end."""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from bot.progress.text import StepEnd, inert, stamp, step_outcome
from bot.secrets import redact, secret_values


def _stderr(err: TextIO | None) -> TextIO:
    return err if err is not None else sys.stderr  # looked up late: tests swap sys.stderr


def terminal_progress(
    started: float | None = None, err: TextIO | None = None
) -> Callable[[str], None]:
    """One line on stderr per stage (gate red, attempt k, verifying, the end), with the time
    since the run began: a heal is never silent while it works."""
    began = time.monotonic() if started is None else started
    hidden = secret_values()

    def say(line: str) -> None:
        said = redact(f"selfheal: {stamp(time.monotonic() - began)} {line}", hidden)
        print(said, file=_stderr(err), flush=True)

    return say


class ConsoleSteps:
    """On a terminal: a line when a gate starts, one when each step ends; no output flood.

    Where stderr is a TTY, the latest line of output also shows in place (redrawn at most
    `REDRAW_S` apart, cut to the width) and is wiped before any other line, so a long test
    run is seen to move; piped, nothing but the lines above is written.
    """

    REDRAW_S = 0.1

    def __init__(self, started: float, err: TextIO | None = None) -> None:
        self.started, self.err = started, err
        self.lock = threading.Lock()
        self.live = False  # a transient line is on the screen
        self.drawn = 0.0
        stream = _stderr(err)
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            stream = _stderr(self.err)
            stream.write(text)
            stream.flush()

    def _wipe(self) -> None:
        if self.live:
            self._write("\r\x1b[K")
            self.live = False

    def _say(self, line: str) -> None:
        with self.lock:
            self._wipe()
            self._write(f"  {stamp(time.monotonic() - self.started)} {line}\n")

    def gate_started(self, label: str, steps: Sequence[str]) -> None:
        self._say(f"{inert(label, 40)}: running {inert(', '.join(steps), 200)}")

    def step_started(self, step: str) -> None:
        return  # the gate's line named it

    def step_line(self, step: str, line: str) -> None:
        if not self.tty:
            return  # the report shows the output; a log gets the outcome
        now = time.monotonic()
        with self.lock:
            if now - self.drawn < self.REDRAW_S:
                return
            self.drawn = now
            width = shutil.get_terminal_size().columns - 1
            shown = "    " + inert(f"{inert(step, 40)}: {line}", max(width - 4, 16))
            self._write(f"\r\x1b[K{shown}")
            self.live = True

    def step_ended(self, end: StepEnd) -> None:
        self._say(f"  {inert(end.name, 80)}: {inert(step_outcome(end), 200)}")

    def gate_ended(self) -> None:
        with self.lock:
            self._wipe()
