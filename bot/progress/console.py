"""Progress on a terminal: a stderr line per stage, per gate and per step's end."""

from __future__ import annotations

import contextlib
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
    """On a terminal: a line when a gate starts, one when each step ends; no output flood."""

    def __init__(self, started: float, err: TextIO | None = None) -> None:
        self.started, self.err = started, err
        self.lock = threading.Lock()

    def _say(self, line: str) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):
            print(f"  {stamp(time.monotonic() - self.started)} {line}", file=_stderr(self.err))

    def gate_started(self, label: str, steps: Sequence[str]) -> None:
        self._say(f"{inert(label, 40)}: running {inert(', '.join(steps), 200)}")

    def step_started(self, step: str) -> None:
        return  # the gate's line named it

    def step_line(self, step: str, line: str) -> None:
        return  # the report shows the output; a terminal gets the outcome

    def step_ended(self, end: StepEnd) -> None:
        self._say(f"  {inert(end.name, 80)}: {inert(step_outcome(end), 200)}")

    def gate_ended(self) -> None:
        return
