"""Progress as text: pure formatting of stage and step lines, and what makes a line from
a step's output or the repository's config inert in the Actions log."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepEnd:
    """How one gate step ended, as shown while the run goes on."""

    name: str
    status: str
    duration_s: float
    failures: int = 0
    note: str = ""


# Characters that end or rewrite a line on a terminal or in the runner's log reader (.NET's
# ReadLine also splits at a lone CR); and Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_LOG_CONTROL = re.compile(
    r"[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f-\x9f\u2028\u2029]"
)  # keeps ESC: colours
_COMMAND_COLONS = re.compile(r":{2,}")
# The runner's older command form, `##[name]data`, is looked for anywhere in a line.
_OLD_COMMAND = re.compile(r"##\[")


def stamp(elapsed: float) -> str:
    return f"[{elapsed:6.1f} s]"


def inert(text: str, limit: int = 160) -> str:
    """Untrusted text (a step name, a note) as one line that cannot be a workflow command."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    flat = _OLD_COMMAND.sub("# #[", _COMMAND_COLONS.sub(":", flat))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def defuse(line: str) -> str:
    """One line of a step's output as the log shows it: after a carriage return only what a
    terminal would leave, and nothing the runner could read as a workflow command."""
    if "\r" in line:
        line = next((part for part in reversed(line.split("\r")) if part), "")
    line = _LOG_CONTROL.sub(" ", line.replace("\t", "    "))
    # The runner trims leading whitespace before it looks for "::"; str.lstrip trims a
    # superset of what .NET counts as whitespace.
    if line.lstrip().startswith("::"):
        line = "> " + line
    return _OLD_COMMAND.sub("# #[", line)


def step_outcome(end: StepEnd) -> str:
    """'failed, 2 failures, 0.4 s (note)': a step's end in a few words."""
    said = end.status.replace("_", " ")
    if end.failures:
        said += f", {end.failures} failure{'s' if end.failures != 1 else ''}"
    said += f", {end.duration_s:.1f} s"
    return f"{said} ({end.note})" if end.note else said


def group_title(name: str, label: str, *, end: StepEnd | None, started_at: float) -> str:
    """A ::group:: title: with the outcome when the step has ended, else when it started."""
    head = f"{inert(name, 80)} [{inert(label, 40)}]"
    if end is not None:
        return inert(f"{head}: {step_outcome(end)}")
    return f"{head} (started at {started_at:.1f} s)"


@dataclass(frozen=True)
class StreamCap:
    """How much of one step's output the live log shows: a head, then the last lines."""

    head_lines: int = 400
    head_bytes: int = 64 * 1024
    tail_lines: int = 100


@dataclass
class StepLog:
    """One step's shown lines: the head as it comes, then a ring of the last ones."""

    cap: StreamCap
    started_at: float | None = None
    end: StepEnd | None = None
    pending: list[str] = field(default_factory=list)  # shown, but waiting for the log
    opened_live: bool = False
    head_lines: int = 0
    head_bytes: int = 0
    tail: deque[str] = field(default_factory=deque)
    left_lines: int = 0
    left_bytes: int = 0

    def take(self, line: str) -> str | None:
        """The line if it is shown now; None if it waits in the tail (or is left out)."""
        size = len(line.encode("utf-8", errors="replace")) + 1
        if self.head_lines < self.cap.head_lines and self.head_bytes + size <= self.cap.head_bytes:
            self.head_lines, self.head_bytes = self.head_lines + 1, self.head_bytes + size
            return line
        self.tail.append(line)
        if len(self.tail) > self.cap.tail_lines:
            dropped = self.tail.popleft()
            self.left_lines += 1
            self.left_bytes += len(dropped.encode("utf-8", errors="replace")) + 1
        return None

    def closing(self) -> list[str]:
        """What is shown after the head: how much was left out, then the last lines."""
        said = []
        if self.left_lines:
            said.append(
                f"[... {self.left_lines} lines ({self.left_bytes} bytes) of output left out "
                "here by selfheal; the report keeps its head and tail ...]"
            )
        return [*said, *self.tail]
