"""Progress under GitHub Actions: each gate step's output in a ::group:: on stdout, and the
loop's stages as a list in the job's step summary."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from secrets import token_hex
from typing import TYPE_CHECKING, TextIO

from bot.progress.text import StepEnd, StepLog, StreamCap, defuse, group_title
from bot.render.text import md_text
from bot.secrets import redact, secret_values

if TYPE_CHECKING:
    from bot.github.actions import Runner


class ActionsSteps:
    """Each step's output in its own ::group:: on stdout, in the gate's step order.

    Steps run at once, and one step's lines must not land inside another's group: the
    first unfinished step (in the gate's order) streams live; the others keep their lines
    (capped) until every step before them is written, then come out whole with their
    outcome in the title, or go on live if still running. A gate of one step (a re-run of
    the failing tests) is always live.
    """

    def __init__(self, started: float, out: TextIO | None = None, cap: StreamCap | None = None):
        self.started, self.out, self.cap = started, out, cap or StreamCap()
        self.lock = threading.Lock()
        self.hidden = secret_values()
        self.broken = False
        self.label = ""
        self.order: list[str] = []
        self.logs: dict[str, StepLog] = {}
        self.done = 0  # steps of `order` written out
        self.live: str | None = None
        self.token = ""

    def gate_started(self, label: str, steps: Sequence[str]) -> None:
        with self.lock:
            self._drain()
            self.label, self.order, self.logs, self.done = label, list(steps), {}, 0

    def step_started(self, step: str) -> None:
        with self.lock:
            self._log(step).started_at = time.monotonic() - self.started
            self._advance()

    def step_line(self, step: str, line: str) -> None:
        with self.lock:
            log = self.logs.get(step)
            if log is None or log.end is not None:
                return
            taken = log.take(line)  # defused only if shown: most of a flood is never shown
            if taken is None:
                return
            shown = defuse(taken)
            if step == self.live:
                self._write([shown])
            else:
                log.pending.append(shown)

    def step_ended(self, end: StepEnd) -> None:
        with self.lock:
            self._log(end.name).end = end
            self._advance()

    def gate_ended(self) -> None:
        with self.lock:
            self._drain()

    def _log(self, step: str) -> StepLog:
        if step not in self.logs:
            self.logs[step] = StepLog(self.cap)
            if step not in self.order:
                self.order.append(step)
        return self.logs[step]

    def _advance(self) -> None:
        """Write out, in order, every step whose turn it is; stop at one still running."""
        while self.done < len(self.order):
            name = self.order[self.done]
            log = self.logs.get(name)
            if log is None or (log.end is None and log.started_at is None):
                return  # not started yet: its turn waits
            if self.live != name:
                self._open(name, log)
            if log.end is None:
                return  # it streams live from here
            self._close(name, log)

    def _drain(self) -> None:
        """The gate is over: whatever is left (a step that never reported) is written now."""
        while self.done < len(self.order):
            name = self.order[self.done]
            log = self.logs.get(name)
            if log is not None and (log.started_at is not None or log.end is not None):
                if self.live != name:
                    self._open(name, log)
                self._close(name, log)
            else:
                self.done += 1

    def _open(self, name: str, log: StepLog) -> None:
        started_at = log.started_at or 0.0
        title = group_title(name, self.label, end=log.end, started_at=started_at)
        # A fresh token per group: output cannot end the pause it runs under.
        self.token, self.live, log.opened_live = token_hex(16), name, log.end is None
        self._write(
            [f"::group::{title.replace('%', '%25')}", f"::stop-commands::{self.token}"],
            trusted=True,
        )
        self._write(log.pending)
        log.pending.clear()

    def _close(self, name: str, log: StepLog) -> None:
        self._write([defuse(line) for line in log.closing()])
        self._write([f"::{self.token}::", "::endgroup::"], trusted=True)
        if log.opened_live and log.end is not None:
            # The outcome shows with the group folded, as a finished group's title shows it.
            self._write([group_title(name, self.label, end=log.end, started_at=0.0)])
        self.live, self.done = None, self.done + 1

    def _write(self, lines: Sequence[str], *, trusted: bool = False) -> None:
        if self.broken or not lines:
            return
        text = "\n".join(lines) if trusted else redact("\n".join(lines), self.hidden)
        out = self.out if self.out is not None else sys.stdout
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):
            self.broken = True  # a closed stdout ends the view, not the run


class SummaryStages:
    """Each stage as one item of a "Progress" list in the job's step summary, as it
    happens; the final report is appended below it by whoever writes it."""

    def __init__(self, runner: Runner, started: float) -> None:
        self.runner, self.started = runner, started
        self.hidden = secret_values()
        self.opened = False

    def __call__(self, stage: str) -> None:
        if not self.opened:
            self.runner.summary("### Progress\n")
            self.opened = True
        elapsed = time.monotonic() - self.started
        self.runner.summary(f"- `{elapsed:.1f} s` {md_text(redact(stage, self.hidden), 300)}")

    def close(self) -> None:
        # The list ends here: the report's first line must not continue its last item.
        if self.opened:
            self.runner.summary("<!-- end of selfheal progress -->")
            self.opened = False


@contextlib.contextmanager
def commands_paused(on_runner: bool, out: TextIO | None = None) -> Iterator[None]:
    """Under Actions, what the block prints to stdout (a digest of the project's output, a
    step name from its config) is not read for workflow commands: it sits between
    ::stop-commands:: and the resume line of a fresh random token."""
    if not on_runner:
        yield
        return
    token = token_hex(16)
    stream = out if out is not None else sys.stdout
    print(f"::stop-commands::{token}", file=stream, flush=True)
    try:
        yield
    finally:
        print(f"::{token}::", file=stream, flush=True)
