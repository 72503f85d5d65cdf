"""Faults after a fix is proven: nothing is lost and nothing is reported as proposed when it
was not. Real CLI, real git (bare remotes, a refusing hook), real pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.calc import CALC, FIX
from tests.cli import heal, load, origin_branches, scripted, state
from tests.conftest import MakeRepo, git

pytestmark = pytest.mark.slow


def _fix_agent(tmp_path: Path) -> str:
    return scripted(tmp_path, {"summary": "use high as the upper bound", "edits": [FIX]})


def _patch_heals_the_base(repo: Path, patch: Path, tmp_path: Path) -> None:
    """fix.patch applies to the commit that was healed, and makes its tests pass."""
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(repo), str(check))
    git(check, "apply", str(patch))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=check,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_a_push_refused_by_a_hook_is_not_proposed_and_the_patch_is_kept(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    origin = Path(git(repo, "remote", "get-url", "origin").strip())
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes need review' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = state(repo)
    done = heal(repo, _fix_agent(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "not_proposed"
    assert report["proposal"]["pushed"] is False
    assert "pre-receive" in report["proposal"]["push_error"] or "protected" in report["detail"]
    patch = Path(report["artifacts"]["fix.patch"])
    assert f"fix.patch: {patch}" in done.stdout  # the console says where the fix is
    assert "not_proposed" in done.stdout
    assert origin_branches(repo) == ["main"]
    assert state(repo) == before
    _patch_heals_the_base(repo, patch, tmp_path)


def test_an_unreachable_remote_is_not_proposed_and_says_where_the_fix_is(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    git(repo, "remote", "set-url", "origin", str(tmp_path / "gone" / "origin.git"))
    done = heal(repo, _fix_agent(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "not_proposed"
    assert report["stop_reason"] == "not_proposed"
    patch = Path(report["artifacts"]["fix.patch"])
    assert f"fix.patch: {patch}" in done.stdout
    _patch_heals_the_base(repo, patch, tmp_path)


def test_two_runs_on_one_commit_both_end_sanely(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    runs = []
    for n in (1, 2):
        (tmp_path / f"a{n}").mkdir()
        agent = _fix_agent(tmp_path / f"a{n}")
        args = ["heal", "--repo", str(repo), "--agent", "command", "--agent-command", agent]
        args += ["--report-dir", str(tmp_path / f"report{n}")]
        runs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
        )
    outputs = [run.communicate(timeout=180) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
    reports = [json.loads((tmp_path / f"report{n}" / "report.json").read_text()) for n in (1, 2)]
    assert all(r["status"] == "healed" and r["proposal"]["pushed"] for r in reports)
    branch = reports[0]["proposal"]["branch"]
    origin = Path(git(repo, "remote", "get-url", "origin").strip())
    pushed = git(origin, "rev-parse", f"refs/heads/{branch}").strip()
    assert pushed in {r["proposal"]["commit"] for r in reports}  # the later one won, whole
    assert git(origin, "rev-parse", f"{pushed}^").strip() == git(repo, "rev-parse", "main").strip()
    assert "min(value, high)" in git(origin, "show", f"{pushed}:calc/ops.py")
