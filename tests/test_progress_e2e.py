"""Progress while it works, through the real command line: gate steps stream into ::group::
blocks under Actions (inert, redacted, capped), stages go to the step summary, and a
terminal gets a compact line per step."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import selfheal
from tests.conftest import MakeRepo
from tests.fakes.actions_log import commands, groups

SECRET = "tok-5f1c9a7e2b"  # the value of DEPLOY_TOKEN, which the gate may see (env_allow)

# Output a hostile project could print: workflow commands in every form the runner reads.
HOSTILE = [
    "::set-output name=x::y",
    "::add-mask::hello",
    "::error::forged",
    "  ::warning::indented",
    "plain\r::notice::after a carriage return",
    "::stop-commands::pwned",
    "::endgroup::",
    "old style ##[error]forged",
]


def _script(lines: list[str], *, code: int = 0, extra: str = "") -> list[str]:
    body = "import os, sys\n"
    body += "".join(f"sys.stdout.write({line!r} + '\\n')\n" for line in lines)
    body += extra + f"sys.exit({code})\n"
    return [sys.executable, "-c", body]


def _gate_repo(make_repo: MakeRepo) -> Path:
    leak = (
        "s = os.environ['DEPLOY_TOKEN']\n"
        "print('secret', s, 'b64', __import__('base64').b64encode(s.encode()).decode(),"
        " 'hex', s.encode().hex())\n"
        "print('the end of lint', file=sys.stderr)\n"
    )
    config = {
        "env_allow": ["DEPLOY_TOKEN"],
        "gate": [
            {
                "name": "lint\n::error::name",  # a step name is the repository's too
                "kind": "command",
                "run": _script(["first line", *HOSTILE], code=1, extra=leak),
            },
            {"name": "tests", "kind": "command", "run": _script(["hello from tests"])},
        ],
    }
    return make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)


def _on_actions(tmp_path: Path) -> dict[str, str]:
    summary = tmp_path / "summary.md"
    summary.write_text("")
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "DEPLOY_TOKEN": SECRET}


def test_under_actions_each_step_is_a_group_and_its_output_commands_nothing(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = _gate_repo(make_repo)
    env = _on_actions(tmp_path)
    done = selfheal("heal", "--repo", str(repo), "--no-push", env=env)
    assert done.returncode == 1, done.stdout + done.stderr  # red, and no agent to fix it
    # Only selfheal's own commands take effect: a group per step, each output paused; then
    # the outcome (which names the step and quotes its output) paused too.
    effective = [c.name for c in commands(done.stdout)]
    group = ["group", "stop-commands", "resume", "endgroup"]
    assert effective == [*group, *group, "stop-commands", "resume"], done.stdout
    (lint_title, lint), (tests_title, tests) = groups(done.stdout)
    assert lint_title.startswith("lint :error:name [before]"), lint_title
    assert "\n" not in lint_title and "::" not in lint_title
    assert tests_title.startswith("tests [before]")
    # Its stdout first (stderr comes through another pipe, and may overtake it on a busy
    # machine: the two are read side by side, in no order between them).
    assert next(line for line in lint if line != "the end of lint") == "first line"
    assert "hello from tests" in tests and "hello from tests" not in lint
    assert "the end of lint" in lint  # stderr streams too
    # Defused lines stay readable; none of them starts a command even with the pause gone.
    for line in lint:
        assert not line.lstrip().startswith("::")
        assert "##[" not in line
    assert "> ::set-output name=x::y" in lint
    assert "> ::notice::after a carriage return" in lint
    said = done.stdout + done.stderr
    b64 = base64.b64encode(SECRET.encode()).decode()
    for form in (SECRET, b64, SECRET.encode().hex()):
        assert form not in said
    assert "secret *** b64 *** hex ***" in lint
    # The step summary: the stages as they happened, above nothing else (no report here).
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    items = [line for line in summary.splitlines() if line.startswith("- ")]
    assert summary.startswith("### Progress\n")
    assert "gate red: 1 failure(s)" in items[0]
    assert "gave" in items[-1]
    assert SECRET not in summary


def test_a_step_that_ends_first_waits_for_the_one_before_it(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    slow = _script(["slow 1"], extra="import time; time.sleep(1.0); print('slow 2')\n")
    config = {
        "gate": [
            {"name": "slow", "kind": "command", "run": slow},
            {"name": "quick", "kind": "command", "run": _script(["quick 1", "quick 2"])},
        ]
    }
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    done = selfheal("gate", "--repo", str(repo), env=_on_actions(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    (slow_title, slow_lines), (quick_title, quick_lines) = groups(done.stdout)
    # The slow step streamed live (its title could not know the outcome); the quick one
    # waited whole, so its title says how it ended, and no line of one is in the other.
    assert "started at" in slow_title and "slow 2" in slow_lines
    assert quick_title.startswith("quick [gate]: passed")
    assert "quick 1" in quick_lines and "quick 1" not in slow_lines
    assert "slow 1" not in quick_lines


def test_a_long_output_streams_its_head_and_tail_and_says_what_was_left_out(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    many = "for i in range(3000): print('line', i)\n"
    config = {"gate": [{"name": "noisy", "kind": "command", "run": _script([], extra=many)}]}
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    done = selfheal("gate", "--repo", str(repo), env=_on_actions(tmp_path))
    ((_, lines),) = groups(done.stdout)
    assert "line 0" in lines and "line 2999" in lines
    assert "line 1500" not in lines
    (left,) = [line for line in lines if "left out" in line]
    assert "2500 lines" in left, left
    assert len(lines) < 600


def test_on_a_terminal_a_line_per_step_and_no_workflow_commands(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    config = {
        "gate": [
            {"name": "lint", "kind": "command", "run": _script(["lint says"], code=1)},
            {"name": "tests", "kind": "command", "run": _script(["tests say"])},
        ]
    }
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "", "GITHUB_STEP_SUMMARY": str(summary)}
    done = selfheal("heal", "--repo", str(repo), "--no-push", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    said = (done.stdout + done.stderr).splitlines()
    assert not [line for line in said if line.lstrip().startswith("::")]
    assert not summary.exists()
    steps = [line.split("] ", 1)[1] for line in said if line.startswith("  [")]
    assert steps[0] == "before: running lint, tests"
    ends = sorted(line.rsplit(", ", 1)[0] for line in steps[1:])
    assert ends == ["  lint: failed, 1 failure", "  tests: passed"], steps
    # The output itself is not flooded onto the terminal while it runs.
    assert "tests say" not in done.stderr


@pytest.mark.parametrize("actions", [True, False])
def test_selfheal_gate_shows_its_steps_too(
    make_repo: MakeRepo, tmp_path: Path, actions: bool
) -> None:
    config = {"gate": [{"name": "only", "kind": "command", "run": _script(["only says"])}]}
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    env = _on_actions(tmp_path) if actions else {"GITHUB_ACTIONS": ""}
    done = selfheal("gate", "--repo", str(repo), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    if actions:
        ((title, lines),) = groups(done.stdout)
        assert title.startswith("only [gate]") and "only says" in lines
    else:
        assert "  only: passed" in done.stderr
        assert "::" not in done.stdout


def test_on_a_tty_the_latest_line_shows_in_place_and_is_wiped(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    ticks = "import time\nfor i in range(8):\n    print('tick', i, flush=True); time.sleep(0.15)\n"
    config = {"gate": [{"name": "ticking", "kind": "command", "run": _script([], extra=ticks)}]}
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    leader, follower = pty.openpty()
    env = {**os.environ, "GITHUB_ACTIONS": "", "COLUMNS": "60"}
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "gate", "--repo", str(repo)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    ) as child:
        os.close(follower)
        said = b""
        with contextlib.suppress(OSError):  # EIO once the child's end of the pty closes
            while chunk := os.read(leader, 4096):
                said += chunk
        assert child.wait(timeout=60) == 0
    os.close(leader)
    text = said.decode()
    drawn = re.findall(r"\r\x1b\[K    ticking: (tick \d)", text)
    assert len(drawn) >= 2, text
    # Wiped before the step's line, which then stands on a line of its own.
    assert re.search(r"\r\x1b\[K  \[ *[\d.]+ s\]   ticking: passed", text), text


def test_with_json_stdout_is_only_the_report_and_the_groups_go_to_stderr(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    config = {"gate": [{"name": "only", "kind": "command", "run": _script(["only says"])}]}
    repo = make_repo({".github/selfheal.yml": json.dumps(config)}, origin=False)
    done = selfheal("gate", "--repo", str(repo), "--json", env=_on_actions(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "green"
    ((title, lines),) = groups(done.stderr)
    assert title.startswith("only [gate]") and "only says" in lines
