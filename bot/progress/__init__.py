"""What selfheal shows while it works: a line per loop stage, and each gate step as it runs.

On a terminal (stderr): a line per stage, a line when a gate starts and one when each step
ends, with its status and the time; the steps' output stays in the report. Under GitHub
Actions: also each step's output in a ::group:: block on stdout, streamed while it runs,
and the stages as a "Progress" list in the job's step summary.

Step output is untrusted: it streams between ::stop-commands:: markers with a fresh random
token, and a line that still looks like a workflow command is defused in case the token
ever leaks. Step names come from the repository's config and are made inert the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol, TextIO

from bot.progress.actions import ActionsSteps, SummaryStages, commands_paused
from bot.progress.console import ConsoleSteps, terminal_progress
from bot.progress.text import StepEnd

__all__ = [
    "LoopProgress",
    "StepEnd",
    "StepProgress",
    "commands_paused",
    "current_steps",
    "loop_progress",
    "on_actions",
    "terminal_progress",
]


class StepProgress(Protocol):
    """Told by `run_gate` as it goes; calls come from the gate's worker threads."""

    def gate_started(self, label: str, steps: Sequence[str]) -> None: ...
    def step_started(self, step: str) -> None: ...
    def step_line(self, step: str, line: str) -> None: ...  # redacted, without its newline
    def step_ended(self, end: StepEnd) -> None: ...
    def gate_ended(self) -> None: ...


_current: contextvars.ContextVar[StepProgress | None] = contextvars.ContextVar(
    "selfheal_step_progress", default=None
)


def current_steps() -> StepProgress | None:
    """What the run under way shows gate steps with (None: nothing, e.g. a library caller)."""
    return _current.get()


class LoopProgress:
    """A run's progress: call it with a stage line; `steps` is what its gates show steps with."""

    def __init__(
        self,
        stages: Sequence[Callable[[str], None]],
        steps: StepProgress,
        summary: SummaryStages | None = None,
    ) -> None:
        self.stages, self.steps, self.summary = list(stages), steps, summary

    def __call__(self, stage: str) -> None:
        for tell in self.stages:
            tell(stage)

    @contextlib.contextmanager
    def shown(self) -> Iterator[LoopProgress]:
        """For the block, every gate run shows its steps here; the summary list ends after."""
        token = _current.set(self.steps)
        try:
            yield self
        finally:
            _current.reset(token)
            if self.summary is not None:
                self.summary.close()


def on_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def loop_progress(
    also: Callable[[str], None] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> LoopProgress:
    """The terminal's stage lines, plus under Actions step groups and the summary list,
    plus `also` (the sticky comment of a single-job run)."""
    env = os.environ if env is None else env
    started = time.monotonic()
    stages: list[Callable[[str], None]] = [terminal_progress(started, err)]
    summary = None
    steps: StepProgress
    if on_actions(env):
        from bot.github.actions import Runner  # the one writer of the step summary

        summary = SummaryStages(Runner(env, out), started)
        stages.append(summary)
        steps = ActionsSteps(started, out)
    else:
        steps = ConsoleSteps(started, err)
    if also is not None:
        stages.append(also)
    return LoopProgress(stages, steps, summary)
