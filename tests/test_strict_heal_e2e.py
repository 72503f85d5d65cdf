"""A project with the strict settings mature projects use heals, on a CPU runner (its gpu
tests left out) and on a GPU runner (a fake nvidia-smi: its gpu tests run).

fixtures/strict has --strict-markers, --strict-config, -W error, -p no:cacheprovider,
xfail_strict and filterwarnings = error; a bug is put into it and a command agent fixes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import heal, load, origin_branches, scripted
from tests.conftest import MakeRepo, git
from tests.fakes import nvidia_smi
from tests.test_gpu_e2e import cpu_env, gpu_env

pytestmark = pytest.mark.slow

GOOD = "    return sum(values) / len(values)\n"
BAD = "    return sum(values) / (len(values) + 1)\n"


def _broken_strict_repo(make_repo: MakeRepo) -> Path:
    repo = make_repo(fixture="strict")
    module = repo / "strictcalc" / "__init__.py"
    module.write_text(module.read_text().replace(GOOD, BAD))
    git(repo, "commit", "-qam", "break mean")
    git(repo, "push", "-q", "origin", "main")
    return repo


@pytest.mark.parametrize("runner", ["cpu", "gpu"])
def test_a_strict_project_heals(make_repo: MakeRepo, tmp_path: Path, runner: str) -> None:
    repo = _broken_strict_repo(make_repo)
    env = gpu_env(nvidia_smi.install(tmp_path / "gpu-bin")) if runner == "gpu" else cpu_env()
    fix = {"path": "strictcalc/__init__.py", "old": BAD, "new": GOOD}
    agent = scripted(tmp_path, {"summary": "divide by the count", "edits": [fix]})
    done = heal(repo, agent, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed", report["detail"]
    assert report["proposal"]["branch"] in origin_branches(repo)
    (before,) = [s for s in report["gate_before"]["steps"] if s["kind"] == "pytest"]
    (after,) = [s for s in report["gate_after"]["steps"] if s["kind"] == "pytest"]
    # Not stopped by selfheal's own options: the red run is the bug, not "Unknown marker".
    assert before["status"] == "failed"
    assert {f["test_id"] for f in before["failures"]} == {"tests/test_calc.py::test_mean"}
    assert after["status"] == "passed"
    # Reproduced with the tests of what the red commit changed; the fix gated in full.
    assert before["selection"] == ["tests/test_calc.py"]
    assert report["gate_before"]["partial"] and not report["gate_after"]["partial"]
    gpu_tests = len(list((repo / "tests").glob("test_gpu*.py")))
    assert gpu_tests
    if runner == "gpu":
        assert not after["gpu_tests_deselected"]  # the gpu tests were collected and ran
    else:
        assert after["gpu_tests_deselected"] >= gpu_tests
        assert "deselected" in after["note"]
