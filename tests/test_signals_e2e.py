"""A signal at any stage: within 10 s every process the run started is gone, the workspace
is removed, the report says interrupted, and the exit code says which signal."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import MakeRepo

pytestmark = pytest.mark.slow

PY = sys.executable

# Started by the agent or by a test: a child, and a daemon that double-forks into a session
# of its own (its parent exits, so it is nobody's child until a subreaper adopts it).
SPAWN = """\
import os, pathlib, subprocess, sys, time
marker, ready = sys.argv[1], sys.argv[2]
sleeper = [sys.executable, "-c", "import time; time.sleep(120)", marker]
subprocess.Popen(sleeper)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
os.wait()
pathlib.Path(ready).write_text("ready")
time.sleep(120)
"""


def with_marker(marker: str) -> list[int]:
    """Processes whose argv holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in argv and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def start(repo: Path, tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    argv = [PY, "-m", "bot", "heal", "--repo", str(repo), "--no-push", *extra]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, run: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not path.exists():
        if run.poll() is not None:
            out, err = run.communicate()
            pytest.fail(f"selfheal ended before the stage began: {run.returncode}\n{out}\n{err}")
        assert time.monotonic() < deadline, "the stage never began"
        time.sleep(0.05)


def interrupt(run: subprocess.Popen[str], signum: int) -> tuple[int, float, str]:
    sent = time.monotonic()
    run.send_signal(signum)
    try:
        _, err = run.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail("selfheal did not end within 10 s of the signal")
    return run.returncode, time.monotonic() - sent, err


def check_everything_ended(marker: str, tmp_path: Path, repo: Path, stage: str) -> None:
    assert with_marker(marker) == [], "a process the run started outlived it"
    # The workspace and the gate's scratch removed; only the work tree kept for the next run
    # of the repository (bot.forge.kept_trees: it checks every file before using it).
    left = [p.name for p in (tmp_path / "tmpdir").iterdir()]
    assert left == [f"selfheal-trees-{os.getuid()}"]
    report = json.loads((repo / ".selfheal" / "report.json").read_text())
    assert report["status"] == "interrupted"
    assert report["stop_reason"] == "interrupted"
    assert stage in json.dumps(report) or stage == ""
    assert (repo / ".selfheal" / "fix.patch").is_file()


@pytest.fixture
def marker() -> str:
    return f"selfheal-signal-test-{uuid.uuid4().hex}"


def test_sigterm_while_a_command_agent_sleeps(
    make_repo: MakeRepo, tmp_path: Path, marker: str
) -> None:
    repo = make_repo(
        {
            "app.py": "def ok():\n    return False\n",
            "tests/test_x.py": "from app import ok\n\n\ndef test_x():\n    assert ok()\n",
            ".github/selfheal.yml": textwrap.dedent(
                f"""\
                flaky_check: false
                gate:
                  - name: tests
                    kind: pytest
                    run: {shlex.quote(PY)} -m pytest -q -p no:cacheprovider
                """
            ),
        },
        origin=False,
    )
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import pathlib\n"
        "pathlib.Path('app.py').write_text('def ok():\\n    return True\\n')\n" + SPAWN
    )
    ready = tmp_path / "agent-ready"
    command = shlex.join([PY, str(agent), marker, str(ready)]) + " {prompt_file}"
    run = start(repo, tmp_path, "--agent", "command", "--agent-command", command)
    try:
        wait_for(ready, run)
        assert len(with_marker(marker)) >= 3  # agent, its child, its daemon: all running
        code, took, err = interrupt(run, signal.SIGTERM)
    finally:
        if run.poll() is None:
            run.kill()
    assert code == 143, err
    assert took < 10
    assert "SIGTERM" in err
    assert "Traceback" not in err
    check_everything_ended(marker, tmp_path, repo, "")
    # The agent's edit so far is kept.
    assert "+    return True" in (repo / ".selfheal" / "fix.patch").read_text()


def test_sigint_while_a_gate_test_sleeps(make_repo: MakeRepo, tmp_path: Path, marker: str) -> None:
    ready = tmp_path / "test-ready"
    spawn = tmp_path / "spawn.py"
    spawn.write_text(SPAWN)
    repo = make_repo(
        {
            "tests/test_slow.py": textwrap.dedent(
                f"""\
                import subprocess, sys


                def test_sleeps():
                    subprocess.run([sys.executable, {str(spawn)!r}, {marker!r}, {str(ready)!r}])
                """
            ),
            ".github/selfheal.yml": textwrap.dedent(
                f"""\
                gate:
                  - name: lint
                    kind: ruff
                    run: ruff check .
                  - name: tests
                    kind: pytest
                    timeout: 300
                    run: {shlex.quote(PY)} -m pytest -q -p no:cacheprovider
                """
            ),
        },
        origin=False,
    )
    run = start(repo, tmp_path, "--agent", "none")
    try:
        wait_for(ready, run)
        code, took, err = interrupt(run, signal.SIGINT)
    finally:
        if run.poll() is None:
            run.kill()
    assert code == 130, err
    assert took < 10  # not the step's 300 s timeout
    assert "SIGINT" in err
    assert "Traceback" not in err
    check_everything_ended(marker, tmp_path, repo, "")


def test_sighup_exits_129(make_repo: MakeRepo, tmp_path: Path, marker: str) -> None:
    ready = tmp_path / "hup-ready"
    repo = make_repo(
        {
            "spawn.py": SPAWN,
            ".github/selfheal.yml": textwrap.dedent(
                f"""\
                gate:
                  - name: wait
                    run: {shlex.quote(PY)} spawn.py {marker} {shlex.quote(str(ready))}
                """
            ),
        },
        origin=False,
    )
    run = start(repo, tmp_path, "--agent", "none")
    try:
        wait_for(ready, run)
        code, took, err = interrupt(run, signal.SIGHUP)
    finally:
        if run.poll() is None:
            run.kill()
    assert code == 129, err
    assert took < 10
    check_everything_ended(marker, tmp_path, repo, "")


def test_a_test_daemon_holding_stdout_ends_with_its_step(
    make_repo: MakeRepo, tmp_path: Path, marker: str
) -> None:
    daemon = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {marker!r}])\n"
        "    os._exit(0)\n"
        "os.wait()\n"
    )
    repo = make_repo(
        {
            "daemon.py": daemon,
            ".github/selfheal.yml": f"gate:\n  - name: starts-a-daemon\n    run: {shlex.quote(PY)} daemon.py\n",
        },
        origin=False,
    )
    started = time.monotonic()
    done = subprocess.run(
        [PY, "-m", "bot", "gate", "--repo", str(repo), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    step = json.loads(done.stdout)["gate_before"]["steps"][0]
    assert step["duration_s"] < 2, step  # no waiting on the daemon's pipe (it was ~6 s)
    assert took < 10
    assert with_marker(marker) == [], "the daemon outlived its step"
