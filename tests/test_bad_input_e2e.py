"""Bad input through the real command line: exit 2, one line naming the key or path, and
nothing made (no workspace, no report directory) before it is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli import heal, selfheal
from tests.conftest import MakeRepo, git

pytestmark = pytest.mark.slow

BROKEN_TEST = {"tests/test_x.py": "def test_x():\n    assert False\n"}


def refused(done: subprocess.CompletedProcess[str], *names: str) -> str:
    """The one line selfheal said; asserts exit 2, no traceback, and that it names `names`."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def run_heal(repo: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """heal with its temp dir under tmp_path, so a workspace made by mistake would show."""
    temp = tmp_path / "tmpdir"
    temp.mkdir(exist_ok=True)
    return heal(repo, None, "--agent", "none", *extra, env={"TMPDIR": str(temp)})


def nothing_made(repo: Path, tmp_path: Path) -> None:
    assert list((tmp_path / "tmpdir").iterdir()) == []  # no workspace, not even for a moment
    assert not (repo / ".selfheal").exists()


def with_config(make_repo: MakeRepo, config: str) -> Path:
    return make_repo({**BROKEN_TEST, ".github/selfheal.yml": config}, origin=False)


def test_a_report_dir_under_a_regular_file(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(BROKEN_TEST, origin=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    done = run_heal(repo, tmp_path, "--report-dir", str(blocker / "reports"))
    line = refused(done, str(blocker))
    assert "not a directory" in line
    nothing_made(repo, tmp_path)


@pytest.mark.parametrize("seconds", ["1e300", "-1", "0"])
def test_wall_seconds_out_of_range(make_repo: MakeRepo, tmp_path: Path, seconds: str) -> None:
    repo = with_config(make_repo, f"budget:\n  wall_seconds: {seconds}\n")
    refused(run_heal(repo, tmp_path), "budget.wall_seconds", "selfheal.yml")
    nothing_made(repo, tmp_path)


def test_a_yaml_syntax_error_is_file_line_column(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = with_config(make_repo, "max_attempts: 2\ngate:\n  - name: [x\n")
    line = refused(run_heal(repo, tmp_path), ".github/selfheal.yml:4:1: not valid YAML")
    assert "^" not in line  # no quoted parser context
    nothing_made(repo, tmp_path)


def test_an_empty_gate(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = with_config(make_repo, "gate: []\n")
    refused(run_heal(repo, tmp_path), "gate: the gate has no steps")
    nothing_made(repo, tmp_path)


def test_a_gate_program_that_is_not_there_is_named_on_the_console(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    config = "gate:\n  - name: lint\n    run: ruff check .\n  - name: check\n    run: no-such-tool-7c1 --all\n"
    repo = with_config(make_repo, config)
    refused(run_heal(repo, tmp_path), "gate step 'check'", "'no-such-tool-7c1'", "PATH")
    nothing_made(repo, tmp_path)
    # ruff comes from selfheal's own environment when it is not on PATH: not refused.
    repo = with_config(make_repo, "gate:\n  - name: lint\n    run: ruff check .\n")
    done = selfheal("gate", "--repo", str(repo), env={"PATH": "/usr/bin:/bin"})
    assert done.returncode in (0, 1), done.stderr


def test_selfheal_gate_refuses_a_report_dir_before_running(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = with_config(make_repo, "gate:\n  - name: marker\n    run: touch ran.txt\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = selfheal("gate", "--repo", str(repo), "--report-dir", str(blocker / "r"))
    refused(done, str(blocker))
    assert not (repo / "ran.txt").exists()  # the gate never ran


def test_no_report_dir_in_a_directory_that_is_not_a_repo(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (tmp_path / "tmpdir").mkdir()
    done = run_heal(plain, tmp_path)
    refused(done, str(plain))
    nothing_made(plain, tmp_path)


def test_no_report_dir_in_a_checkout_with_uncommitted_changes(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(BROKEN_TEST, origin=False)
    (repo / "tests/test_x.py").write_text("def test_x():\n    assert 1\n")
    before = git(repo, "status", "--porcelain", "--ignored")
    refused(run_heal(repo, tmp_path), "uncommitted changes")
    nothing_made(repo, tmp_path)
    assert git(repo, "status", "--porcelain", "--ignored") == before


def test_an_agent_program_that_is_not_there_is_said_before_the_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(BROKEN_TEST, origin=False)
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    env = {"TMPDIR": str(temp), "PATH": "/usr/bin:/bin"}
    done = heal(repo, None, "--agent-preset", "aider", env=env)
    refused(done, "'aider'", "not installed", "agent preset aider")
    nothing_made(repo, tmp_path)
    done = heal(repo, "no-such-agent-5e2 {prompt_file}", env=env)
    refused(done, "'no-such-agent-5e2'")
    nothing_made(repo, tmp_path)
