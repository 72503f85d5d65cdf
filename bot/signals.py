"""How selfheal holds itself while it runs: its secrets out of reach of what it starts, and
SIGTERM, SIGINT and SIGHUP turned into an exception that unwinds every stage cleanly.

A signal first ends every process selfheal started (so nothing waits for a gate step to
end by itself), then raises `Interrupted` in the main thread: the workspace closes, the
report is written with status interrupted, and the CLI exits 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from bot import proc, reaper
from bot.isolation import record_non_dumpable
from bot.secrets import sealed

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal ended the run; `exit_code` is what a shell shows for it (130, 143, 129)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Once:
    """The first signal interrupts; later ones are ignored so that the clean-up they would
    otherwise cut short (workspace removal, the report) can finish."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.signum is not None:
            return
        self.signum = signum
        proc.stop_all()
        raise Interrupted(signum)


@contextlib.contextmanager
def handling_signals() -> Iterator[None]:
    """Within the block, SIGTERM, SIGINT and SIGHUP raise `Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Once()
    previous = {sig: signal.signal(sig, handler) for sig in HANDLED}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def guarded_process() -> Iterator[None]:
    """Everything selfheal does before its first child: non-dumpable (same-uid processes
    cannot read our environment or memory), a subreaper (daemons a test starts stay ours to
    end), secrets out of os.environ, and signals handled."""
    record_non_dumpable(reaper.make_non_dumpable())
    reaper.become_subreaper()
    with sealed(), handling_signals():
        yield
