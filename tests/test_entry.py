"""`selfheal`'s way out (bot.cli.entry): it skips the interpreter's module teardown, and
still does everything an exit does that anyone could see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(body: str, tmp_path: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`body` defines main() -> int for bot.cli.entry to run, in a fresh interpreter."""
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(body) + "\nimport bot.cli\nbot.cli.main = main\nbot.cli.entry()\n",
        encoding="utf-8",
    )
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, str(script)],
        cwd=ROOT,
        text=True,
        timeout=60,
        check=False,
        # buffered output, as a pipe or file gets it unless the environment says otherwise
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        **({"capture_output": True} | kwargs),
    )


def test_an_exit_joins_threads_runs_atexit_handlers_and_flushes_output(tmp_path: Path) -> None:
    result = _run(
        f"""
        import atexit, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from pathlib import Path

        def late() -> None:
            time.sleep(0.3)
            Path({str(tmp_path / "thread")!r}).write_text("joined")

        def main() -> int:
            threading.Thread(target=late).start()  # not a daemon: the exit waits for it
            pool = ThreadPoolExecutor(1)  # never shut down: the exit stops it
            pool.submit(time.sleep, 0.1)
            atexit.register(lambda: Path({str(tmp_path / "atexit")!r}).write_text("ran"))
            sys.stdout.write("x" * 200_000)  # buffered, no newline: only a flush sends it
            sys.stderr.write("to stderr")
            return 3
        """,
        tmp_path,
    )
    assert result.returncode == 3
    assert result.stdout == "x" * 200_000
    assert result.stderr == "to stderr"
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "atexit").read_text() == "ran"


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [(0, 120), (1, 1)],  # 120: as Python's own exit has it; a failure keeps its own code
    ids=["succeeded", "failed"],
)
def test_output_that_cannot_be_written_is_said_and_is_an_error_exit(
    tmp_path: Path, code: int, exit_code: int
) -> None:
    with Path("/dev/full").open("w") as full:  # every write: ENOSPC
        result = _run(
            f"""
            import sys

            def main() -> int:
                sys.stdout.write("the report")
                return {code}
            """,
            tmp_path,
            stdout=full,
            capture_output=False,
            stderr=subprocess.PIPE,
        )
    assert result.returncode == exit_code
    assert (
        result.stderr
        == "selfheal: the output could not be written: [Errno 28] No space left on device\n"
    )


def test_ctrl_c_while_a_thread_is_joined_exits_130_without_a_traceback(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = tmp_path / "prog.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import threading, time
            from pathlib import Path

            def late() -> None:  # joined at the exit, which is under way when it says so
                time.sleep(0.3)
                Path({str(ready)!r}).write_text("")
                time.sleep(60)

            def main() -> int:
                threading.Thread(target=late).start()
                return 0
            """
        )
        + "\nimport bot.cli\nbot.cli.main = main\nbot.cli.entry()\n",
        encoding="utf-8",
    )
    child = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):  # up to 30 s for the interpreter to start
            if ready.exists():
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 130
    assert err == "selfheal: interrupted while exiting\n"
    assert out == ""
