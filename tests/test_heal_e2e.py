"""`selfheal heal` end to end: the real CLI, real git, real ruff and pytest, scripted agents."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.calc import CALC, FIX
from tests.cli import heal, load, origin_branches, scripted, selfheal, state
from tests.conftest import MakeRepo, git

pytestmark = pytest.mark.slow


def test_command_agent_heals_and_pushes_one_commit(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    agent = scripted(tmp_path, {"summary": "use high as the upper bound", "edits": [FIX]})
    done = heal(repo, agent)
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed"
    branch = report["proposal"]["branch"]
    assert branch == f"selfheal/heal-{before[0][:7]}"
    assert branch in origin_branches(repo)
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert "min(value, high)" in git(repo, "show", f"{branch}:calc/ops.py")
    assert state(repo) == before  # the user's branch and tree are untouched
    prompt = (repo / ".selfheal" / "prompt-1.md").read_text()
    assert "tests/test_ops.py::test_inside" in prompt
    assert "tests/test_ops.py:5" in prompt  # file and line where it fails
    for name in ("report.json", "report.md", "fix.patch", "transcript.jsonl"):
        assert (repo / ".selfheal" / name).is_file()
    assert "min(value, high)" in (repo / ".selfheal" / "fix.patch").read_text()


def test_agent_that_changes_nothing_gives_up_after_the_cap(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    agent = scripted(tmp_path, {"summary": "I looked but changed nothing", "edits": []})
    done = heal(repo, agent, "--max-attempts", "3")
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "gave_up"
    assert report["stop_reason"] == "attempt_cap"
    assert [a["outcome"] for a in report["attempts"]] == ["no_change"] * 3
    assert origin_branches(repo) == ["main"]
    assert state(repo) == before


def test_agent_that_makes_useless_changes_is_stuck(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    useless = {
        "summary": "added a comment",
        "edits": [{"path": "calc/ops.py", "old": "def clamp", "new": "# hmm\ndef clamp"}],
    }
    agent = scripted(tmp_path, useless)
    done = heal(repo, agent, "--max-attempts", "5")
    assert done.returncode == 1
    report = load(repo)
    assert report["stop_reason"] == "stuck"
    assert len(report["attempts"]) == 2  # stopped early, not at the cap of 5
    assert origin_branches(repo) == ["main"]


@pytest.mark.parametrize(
    ("edit", "guard"),
    [
        ({"path": "tests/test_ops.py", "delete": True}, "test-weakening"),
        (
            {
                "path": "tests/test_ops.py",
                "old": "def test_inside",
                "new": "import pytest\n\n\n@pytest.mark.skip\ndef test_inside",
            },
            "test-weakening",
        ),
        ({"path": ".github/workflows/x.yml", "write": "on: push\n"}, "protected-path"),
        (
            {
                "path": "calc/key.py",
                "write": "TOKEN = 'ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'\n",
            },
            "secrets",
        ),
    ],
    ids=["delete-test", "skip-test", "protected", "secret"],
)
def test_guards_refuse_and_roll_back(
    make_repo: MakeRepo, tmp_path: Path, edit: dict, guard: str
) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    agent = scripted(tmp_path, {"summary": "cheat", "edits": [edit]})
    done = heal(repo, agent, "--max-attempts", "2")
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "refused"
    refused = [v["guard"] for a in report["attempts"] for v in a["guards"] if not v["ok"]]
    assert guard in refused
    assert origin_branches(repo) == ["main"]
    assert state(repo) == before
    assert (repo / ".selfheal" / "fix.patch").read_text() == ""  # refused changes are rolled back
    second_prompt = (repo / ".selfheal" / "prompt-2.md").read_text()
    assert "refused" in second_prompt.lower()  # the next attempt is told why


def test_symlink_out_of_the_repo_is_refused(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    link_maker = tmp_path / "link.py"
    link_maker.write_text("import os\nos.symlink('/etc', 'calc/etc')\n")
    done = heal(
        repo, f"{shlex.quote(sys.executable)} {shlex.quote(str(link_maker))}", "--max-attempts", "1"
    )
    assert done.returncode == 1
    refused = [v["guard"] for a in load(repo)["attempts"] for v in a["guards"] if not v["ok"]]
    assert "escape" in refused


def test_flaky_test_is_reported_not_fixed(make_repo: MakeRepo, tmp_path: Path) -> None:
    marker = tmp_path / "ran-once"
    repo = make_repo(
        {
            "tests/test_flaky.py": f"""\
                from pathlib import Path


                def test_sometimes():
                    marker = Path({str(marker)!r})
                    first = not marker.exists()
                    marker.touch()
                    assert not first, "failed the first time only"
                """,
        }
    )
    done = heal(repo, None)
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "flaky"
    assert [f["test_id"] for f in report["flaky"]] == ["tests/test_flaky.py::test_sometimes"]
    assert report["attempts"] == []
    assert origin_branches(repo) == ["main"]


def test_lint_and_format_are_fixed_without_an_agent(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "pyproject.toml": "[tool.ruff]\nline-length = 88\n",
            "pkg/__init__.py": "",
            "pkg/core.py": "import os\n\n\ndef f(x):\n    return x*2\n",
        }
    )
    done = heal(repo, None, "--no-push")
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed"
    assert report["attempts"][0]["fixers"] == ["ruff check --fix", "ruff format"]
    assert origin_branches(repo) == ["main"]  # --no-push
    branch = report["proposal"]["branch"]
    assert git(repo, "show", f"{branch}:pkg/core.py") == "def f(x):\n    return x * 2\n"


def test_a_test_that_never_ends_is_killed_at_its_timeout(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(
        {
            ".github/selfheal.yml": "gate:\n  - name: pytest\n    kind: pytest\n    run: pytest -p no:cacheprovider\n    timeout: 3\n",
            "tests/test_hang.py": "import time\n\n\ndef test_forever():\n    while True:\n        time.sleep(1)\n",
        }
    )
    started = time.monotonic()
    done = heal(repo, None, "--max-attempts", "1")
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    categories = {f["category"] for f in report["failures"]}
    assert categories == {"timeout"}
    assert report["gate_before"]["steps"][0]["status"] == "timeout"
    # one gate run killed at 3 s (the flaky re-run needs test ids, a timeout has none), plus start-up
    assert elapsed < 3 + 12


def test_a_test_printing_100_mb_stays_small(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(
        {
            "tests/test_loud.py": """\
                import sys


                def test_loud():
                    chunk = "spam " * 200_000 + "\\n"
                    for _ in range(100):
                        sys.stdout.write(chunk)
                    assert False, "too loud"
                """,
        }
    )
    done = heal(repo, scripted(tmp_path, {"edits": []}), "--max-attempts", "1", timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    report = load(repo)
    assert report["peak_rss_mb"] is not None
    assert report["peak_rss_mb"] < 300
    assert report["gate_before"]["steps"][0]["output_bytes"] > 100_000_000
    prompt = (repo / ".selfheal" / "prompt-1.md").read_text()
    assert len(prompt) / 4 <= 8000 + 1500  # the digest budget plus the fixed text around it
    assert (repo / ".selfheal" / "report.md").stat().st_size < 200_000


def test_dirty_checkout_is_refused_before_any_work(make_repo: MakeRepo) -> None:
    repo = make_repo(CALC)
    (repo / "calc" / "ops.py").write_text("changed = True\n")
    done = heal(repo, None)
    assert done.returncode == 2
    assert "calc/ops.py" in done.stderr
    assert (repo / "calc" / "ops.py").read_text() == "changed = True\n"


def test_bad_config_names_key_and_file(make_repo: MakeRepo) -> None:
    repo = make_repo({**CALC, ".github/selfheal.yml": "max_attempts: lots\nbogus: 1\n"})
    done = heal(repo, None)
    assert done.returncode == 2
    assert "selfheal.yml" in done.stderr
    assert "max_attempts" in done.stderr
    assert "bogus" in done.stderr


def test_green_gate_is_nothing_to_do(make_repo: MakeRepo) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    assert True\n"})
    done = heal(repo, None)
    assert done.returncode == 0
    assert load(repo)["status"] == "green"


def test_report_rerenders_a_stored_report(make_repo: MakeRepo) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    assert True\n"})
    assert heal(repo, None).returncode == 0
    again = selfheal("report", str(repo / ".selfheal" / "report.json"))
    assert again.returncode == 0
    assert again.stdout.strip() == (repo / ".selfheal" / "report.md").read_text().strip()
    bad = tmp = repo / "not-a-report.json"
    tmp.write_text('{"status": "nope"}')
    refused = selfheal("report", str(bad))
    assert refused.returncode == 2
    assert "not a selfheal report" in refused.stderr


def test_implement_proposes_a_branch_for_the_issue(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    assert True\n"})
    issue = tmp_path / "issue.json"
    issue.write_text(
        json.dumps({"number": 7, "title": "Add a greeting", "body": "Please add greet()."})
    )
    agent = scripted(
        tmp_path,
        {
            "summary": "added greet",
            "edits": [{"path": "greet.py", "write": "def greet():\n    return 'hi'\n"}],
        },
    )
    done = selfheal(
        "implement",
        "--repo",
        str(repo),
        "--issue-file",
        str(issue),
        "--agent",
        "command",
        "--agent-command",
        agent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "proposed"
    assert report["proposal"]["branch"] == "selfheal/issue-7"
    message = git(repo, "log", "-1", "--format=%B", "selfheal/issue-7")
    assert "Fixes #7" in message
    assert "Add a greeting" in (repo / ".selfheal" / "prompt-1.md").read_text()


def test_demo_heals_the_bundled_repo(tmp_path: Path) -> None:
    done = selfheal("demo", "--dir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert said.count("The model's answers in this demo are scripted") == 1
    # Not silent while it works: a line per stage, with the time since the start.
    stages = [line for line in done.stderr.splitlines() if line.startswith("selfheal: [")]
    assert [line.split("] ", 1)[1].split(":")[0] for line in stages[:3]] == [
        "gate red",
        "attempt 1 of 3",
        "verifying attempt 1",
    ], done.stderr
    # ...and under each, a line per gate and per step's end (not the steps' output).
    steps = [line.split("] ", 1)[1] for line in done.stderr.splitlines() if line.startswith("  [")]
    assert steps[0] == "before: running ruff, ruff format, pytest", done.stderr
    assert "  pytest: failed, 2 failures, " in "\n".join(steps)
    assert "test_add" not in done.stderr
    repo = tmp_path / "demo" / "calc"
    report = load(repo)
    assert report["status"] == "healed"
    # The headline counts the fixes once; the detail says where the fix went.
    headline = (repo / ".selfheal" / "report.md").read_text().splitlines()[0]
    assert headline.count("fixed") == 1, headline
    assert "proposed as selfheal/heal-" in headline
    assert report["attempts"][0]["fixers"] == ["ruff check --fix", "ruff format", "claude"]
    assert report["attempts"][0]["agent_turns"] == 4
    categories = sorted({f["category"] for f in report["failures"]})
    assert categories == ["assertion", "format", "lint"]
    assert report["proposal"]["pushed"] is True


def test_ctrl_c_leaves_the_checkout_as_it_was(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    started, pid_file = tmp_path / "agent-started", tmp_path / "agent.pid"
    agent = tmp_path / "slow_agent.py"
    agent.write_text(
        "import os, pathlib, time\n"
        "pathlib.Path('calc/ops.py').write_text('half-done edit\\n')\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "heal",
            "--repo",
            str(repo),
            "--agent",
            "command",
            "--agent-command",
            command,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert started.exists(), proc.communicate()[1]
    proc.send_signal(__import__("signal").SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    report = load(repo)
    assert report["status"] == "interrupted"
    assert report["stop_reason"] == "interrupted"
    assert state(repo) == before  # no worktree left, branch, HEAD and files as they were
    assert origin_branches(repo) == ["main"]
    agent_pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(agent_pid, 0)  # the agent's process group was killed too


def test_agent_that_cannot_start_is_bad_input_and_loses_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    done = heal(repo, "/nonexistent/agent {prompt_file}")
    assert done.returncode == 2
    assert "could not start" in done.stderr
    assert load(repo)["status"] == "error"
    assert state(repo) == before


def test_json_output_is_the_report(make_repo: MakeRepo) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    assert True\n"})
    done = heal(repo, None, "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["status"] == "green"
    assert "selfheal heal: green" in done.stderr
