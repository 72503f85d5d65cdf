"""One broken fixture repo per failure category, healed end to end with no agent."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.cli import heal, load, origin_branches
from tests.conftest import MakeRepo

pytestmark = pytest.mark.slow

# category -> (exit code, status, stop reason) of `selfheal heal --agent none`: what the
# fixers cannot fix needs an agent, and the run says so instead of spending its attempts
EXPECTED = {
    "lint": (0, "healed", "green"),
    "format": (0, "healed", "green"),
    "syntax": (1, "gave_up", "needs_agent"),
    "import": (1, "gave_up", "needs_agent"),
    "dependency": (1, "gave_up", "needs_agent"),
    "type": (1, "gave_up", "needs_agent"),
    "assertion": (1, "gave_up", "needs_agent"),
    "error": (1, "gave_up", "needs_agent"),
    "collection": (1, "gave_up", "needs_agent"),
    "timeout": (1, "gave_up", "needs_agent"),
    "flaky": (0, "flaky", "nothing_to_fix"),
    "infra": (1, "gave_up", "nothing_to_fix"),
}


@pytest.mark.parametrize("category", sorted(EXPECTED))
def test_category(category: str, make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(fixture=f"categories/{category}")
    env = {
        "FLAKY_MARKER": str(tmp_path / "flaky-ran-once"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = heal(repo, None, "--agent", "none", "--max-attempts", "1", env=env)
    code, status, reason = EXPECTED[category]
    report = load(repo)
    assert (done.returncode, report["status"], report["stop_reason"]) == (code, status, reason), (
        done.stdout + done.stderr
    )
    found = {f["category"] for s in report["gate_before"]["steps"] for f in s["failures"]}
    if category == "flaky":
        assert [f["category"] for f in report["flaky"]] == ["flaky"]
    else:
        assert found == {category}, json.dumps(report["failures"], indent=1)[:3000]
    if status == "healed":
        assert report["proposal"]["branch"] in origin_branches(repo)
    else:
        assert origin_branches(repo) == ["main"]
