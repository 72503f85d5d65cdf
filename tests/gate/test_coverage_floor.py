"""A run of a few selected tests is not held to the whole suite's coverage floor (pytest-cov's
--cov-fail-under, or coverage's own fail_under); the whole gate still is. Real pytest with
pytest-cov (a test dependency: without it these runs stop on unknown options, and fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate.runner import run_gate
from bot.report import StepResult, StepStatus
from tests.conftest import MakeRepo

PYTEST = GateStep(name="tests", run=["pytest", "-q", "-p", "no:cacheprovider"], kind="pytest")
DOUBLE = "tests/test_pkg.py::test_double"
PACKAGE = "def double(x):\n    return 2 * x\n\n\ndef triple(x):\n    return 3 * x\n"
TESTS = """\
from pkg import double, triple


def test_double():
    assert double(2) == 4


def test_triple():
    assert triple(2) == 6
"""
# The floor where projects put it: pytest's addopts, or coverage's own configuration.
FLOORS = {
    "addopts": '[tool.pytest.ini_options]\naddopts = "--cov=pkg --cov-fail-under=95"\n',
    "coverage": (
        '[tool.pytest.ini_options]\naddopts = "--cov=pkg"\n\n'
        "[tool.coverage.report]\nfail_under = 95\n"
    ),
}


def project(make_repo: MakeRepo, floor: str, tests: str) -> Path:
    """pkg, its `tests` and the coverage floor configured as `floor` says, committed."""
    files = {
        "pyproject.toml": FLOORS[floor],
        "pkg/__init__.py": PACKAGE,
        "tests/test_pkg.py": tests,
    }
    return make_repo(files, origin=False)


def run(repo: Path, env: dict[str, str], **kw: object) -> StepResult:
    gate = run_gate([PYTEST], repo, label="before", env=env, **kw)  # type: ignore[arg-type]
    (result,) = gate.steps
    return result


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_selected_tests_are_not_held_to_the_whole_suites_coverage(
    make_repo: MakeRepo, gate_env: dict[str, str], floor: str
) -> None:
    repo = project(make_repo, floor, TESTS)
    # The whole suite covers all of pkg: green, and the floor was there to pass.
    whole = run(repo, gate_env)
    assert whole.status is StepStatus.PASSED, whole.output
    assert "Required test coverage of 95" in whole.output
    # One test covers 3 of pkg's 4 lines (75%): pytest-cov alone would fail this run, exit 1.
    selected = run(repo, gate_env, selection={"tests": [DOUBLE]})
    assert selected.status is StepStatus.PASSED, selected.output
    assert selected.exit_code == 0
    assert selected.evidence is not None
    assert selected.evidence.selected == {DOUBLE: "passed"}
    assert "FAIL Required test coverage" not in selected.output
    # A selected test that fails still fails the run.
    (repo / "pkg" / "__init__.py").write_text(PACKAGE.replace("2 * x", "2 * x + 1"))
    broken = run(repo, gate_env, selection={"tests": [DOUBLE]})
    assert broken.status is StepStatus.FAILED
    assert [f.test_id for f in broken.failures] == [DOUBLE]


@pytest.mark.parametrize("floor", sorted(FLOORS))
def test_the_whole_gate_is_still_held_to_the_floor(
    make_repo: MakeRepo, gate_env: dict[str, str], floor: str
) -> None:
    # A suite that leaves triple() uncovered: 75% against a floor of 95.
    repo = project(make_repo, floor, TESTS.partition("\n\n\ndef test_triple")[0] + "\n")
    whole = run(repo, gate_env)
    assert whole.status is StepStatus.FAILED, whole.output
    assert whole.exit_code == 1
    assert "FAIL Required test coverage of 95" in whole.output
    # Watching the test (the last red run's) runs everything: the floor holds there too.
    watched = run(repo, gate_env, watch={"tests": [DOUBLE]})
    assert watched.status is StepStatus.FAILED
    assert watched.exit_code == 1
