"""Green is evidence: real pytest runs that exit 0 (or 5) without showing that tests ran are
never passed, and a re-run's selected tests must each be collected and pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate.runner import run_gate
from bot.report import Category, StepResult, StepStatus
from tests.conftest import MakeRepo

PYTEST = GateStep(name="tests", run=["pytest", "-q", "-p", "no:cacheprovider"], kind="pytest")
TESTS = {
    "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_pkg.py": """\
        import pytest

        from pkg import double

        def test_double():
            assert double(2) == 4

        def test_zero():
            assert double(0) == 0

        @pytest.mark.skip(reason="later")
        def test_later():
            pass
        """,
}
DOUBLE = "tests/test_pkg.py::test_double"


def run(repo: Path, env: dict[str, str], step: GateStep = PYTEST, **kw: object) -> StepResult:
    gate = run_gate([step], repo, label="before", env=env, **kw)  # type: ignore[arg-type]
    (result,) = gate.steps
    assert gate.green is (result.status is StepStatus.PASSED)
    return result


def unverified(result: StepResult) -> str:
    """The step's reason; it is unverified, and says so with one failure nobody may fix."""
    assert result.status is StepStatus.UNVERIFIED, (result.status, result.output)
    (failure,) = result.failures
    assert (failure.category, failure.rule) == (Category.INFRA, "no-evidence")
    assert result.note.endswith(failure.message)  # after any other note (a fallback)
    return failure.message


def test_a_green_run_shows_its_evidence(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    result = run(make_repo(TESTS, origin=False), gate_env)
    assert result.status is StepStatus.PASSED, result.output
    evidence = result.evidence
    assert evidence is not None
    assert (evidence.source, evidence.normal_end, evidence.collected) == ("plugin", True, 3)
    assert (evidence.ran, evidence.passed, evidence.skipped, evidence.failed) == (2, 2, 1, 0)


# --- exit 0 without evidence --------------------------------------------------------------


@pytest.mark.parametrize(
    "conftest",
    [
        "import os\nos._exit(0)\n",
        "import sys\nsys.exit(0)\n",
        "raise SystemExit(0)\n",
        "def pytest_configure(config):\n    import os\n    os._exit(0)\n",
    ],
    ids=["os._exit", "sys.exit", "SystemExit", "configure-os._exit"],
)
def test_a_conftest_that_ends_pytest_with_status_0_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str], conftest: str
) -> None:
    repo = make_repo({**TESTS, "conftest.py": conftest}, origin=False)
    result = run(repo, gate_env)
    assert result.exit_code == 0
    assert "selfheal's plugin saw no test session end" in unverified(result)
    assert result.evidence is None


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--co", "pytest ran with --collect-only: no test was run"),
        ("--collect-only", "pytest ran with --collect-only: no test was run"),
        ("--setup-plan", "pytest ran with --setup-plan: no test was run"),
        ("--setup-only", "pytest ran with --setup-only: no test was run"),
        ("--fixtures", "pytest ran with --fixtures: no test was run"),
        ("--markers", "selfheal's plugin saw no test session end"),
    ],
)
def test_options_that_run_no_test_are_unverified_in_addopts_or_on_the_line(
    make_repo: MakeRepo, gate_env: dict[str, str], option: str, said: str
) -> None:
    config = f'[tool.pytest.ini_options]\naddopts = ["{option}"]\n'
    repo = make_repo({**TESTS, "pyproject.toml": config}, origin=False)
    assert said in unverified(run(repo, gate_env))
    plain = make_repo(TESTS, origin=False)
    step = PYTEST.model_copy(update={"run": [*PYTEST.run, option]})
    assert said in unverified(run(plain, gate_env, step))


def test_a_pytest_configure_that_raises_system_exit_0_is_not_green(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    conftest = "def pytest_configure(config):\n    raise SystemExit(0)\n"
    result = run(make_repo({**TESTS, "conftest.py": conftest}, origin=False), gate_env)
    assert result.status is StepStatus.FAILED  # pytest calls it an internal error (exit 3)
    assert result.exit_code == 3


def test_version_on_the_command_line_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # (In addopts pytest ignores it and runs the tests.)
    step = PYTEST.model_copy(update={"run": [*PYTEST.run, "--version"]})
    result = run(make_repo(TESTS, origin=False), gate_env, step)
    assert "selfheal's plugin saw no test session end" in unverified(result)


def test_a_k_that_selects_nothing_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    step = PYTEST.model_copy(update={"run": [*PYTEST.run, "-k", "no_such_test"]})
    result = run(make_repo(TESTS, origin=False), gate_env, step)
    assert unverified(result) == "no tests were collected (pytest exit code 5)"


def test_pytest_exit_inside_a_test_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    files = {
        **TESTS,
        "tests/test_a_first.py": "import pytest\n\ndef test_stop():\n    pytest.exit('bye', 0)\n",
    }
    result = run(make_repo(files, origin=False), gate_env)
    assert "did not run to its end" in unverified(result)


def test_a_hook_that_runs_no_test_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    conftest = "def pytest_runtest_protocol(item, nextitem):\n    return True\n"
    result = run(make_repo({**TESTS, "conftest.py": conftest}, origin=False), gate_env)
    assert unverified(result) == "no test ran: 3 collected, none run"


def test_a_hook_that_skips_running_some_tests_is_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    conftest = (
        "def pytest_runtest_protocol(item, nextitem):\n"
        "    return True if item.name == 'test_zero' else None\n"
    )
    result = run(make_repo({**TESTS, "conftest.py": conftest}, origin=False), gate_env)
    assert unverified(result) == "1 of 3 collected tests reported no outcome"


def test_a_hook_that_turns_failures_into_exit_0_fails(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    conftest = "def pytest_sessionfinish(session):\n    session.exitstatus = 0\n"
    files = {
        **TESTS,
        "conftest.py": conftest,
        "pkg/__init__.py": "def double(x):\n    return x\n",
    }
    result = run(make_repo(files, origin=False), gate_env)
    assert (result.exit_code, result.status) == (0, StepStatus.FAILED)
    assert result.note == "1 test failed, yet pytest exited 0"
    assert [f.test_id for f in result.failures] == [DOUBLE]


# --- selections and watch lists -------------------------------------------------------------


def test_a_selected_test_that_is_not_collected_fails_naming_it(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(TESTS, origin=False)
    gone = "tests/test_pkg.py::test_renamed_away"
    result = run(repo, gate_env, selection={"tests": [DOUBLE, gone]})
    assert result.status is StepStatus.FAILED
    (failure,) = result.failures
    assert failure.test_id == gone
    assert failure.category is Category.COLLECTION
    assert failure.message == f"selected test {gone} was not collected"
    assert result.evidence is not None
    assert result.evidence.selected == {DOUBLE: "passed", gone: "not collected"}
    assert result.argv == [*PYTEST.run, DOUBLE, gone]  # readable: the user's command, the ids


def test_a_selection_of_only_missing_ids_fails_rather_than_going_unverified(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(TESTS, origin=False)
    gone = "tests/test_gone.py::test_x"
    result = run(repo, gate_env, selection={"tests": [gone]})
    assert result.status is StepStatus.FAILED
    assert [f.message for f in result.failures] == [f"selected test {gone} was not collected"]


@pytest.mark.parametrize(
    ("mark", "outcome"),
    [
        ("@pytest.mark.skip(reason='x')\n", "skipped"),
        ("@pytest.mark.xfail(reason='x')\n", "xpassed"),
    ],
)
def test_a_selected_test_that_is_skipped_or_marked_fails(
    make_repo: MakeRepo, gate_env: dict[str, str], mark: str, outcome: str
) -> None:
    files = dict(TESTS)
    files["tests/test_pkg.py"] = TESTS["tests/test_pkg.py"].replace(
        "        def test_double", f"        {mark}        def test_double"
    )
    repo = make_repo(files, origin=False)
    result = run(repo, gate_env, selection={"tests": [DOUBLE]})
    assert result.status is StepStatus.FAILED
    (failure,) = result.failures
    assert failure.message == f"selected test {DOUBLE} was {outcome}, not passed"


def test_a_selection_collects_only_the_selected_files(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # A file elsewhere that cannot even be collected: only a narrowed collection passes.
    files = {**TESTS, "tests/test_broken.py": "import no_such_module_xyz\n"}
    repo = make_repo(files, origin=False)
    full = run(repo, gate_env)
    assert full.status is StepStatus.FAILED
    result = run(repo, gate_env, selection={"tests": [DOUBLE]})
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None
    assert (result.evidence.collected, result.evidence.selected) == (1, {DOUBLE: "passed"})


def test_a_selected_file_runs_every_test_of_it_and_stands_for_them(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    broken = "def test_half():\n    assert 1 == 2\n\n\ndef test_whole():\n    assert 1 == 1\n"
    files = {**TESTS, "tests/test_other.py": broken, "tests/test_gone.py": "import nope_xyz\n"}
    repo = make_repo(files, origin=False)
    result = run(repo, gate_env, selection={"tests": ["tests/test_pkg.py"]})
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None
    assert result.evidence.collected == 3  # the file's three tests (one skipped), no other
    assert result.evidence.selected == {"tests/test_pkg.py": "passed"}
    red = run(repo, gate_env, selection={"tests": ["tests/test_other.py", DOUBLE]})
    assert red.status is StepStatus.FAILED
    assert [f.test_id for f in red.failures] == ["tests/test_other.py::test_half"]
    assert red.evidence is not None and red.evidence.ran == 3
    assert red.evidence.selected == {"tests/test_other.py": "failed", DOUBLE: "passed"}


def test_a_watched_test_must_be_collected_and_pass_in_a_full_run(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(TESTS, origin=False)
    result = run(repo, gate_env, watch={"tests": [DOUBLE]})
    assert result.status is StepStatus.PASSED
    assert result.evidence is not None
    assert result.evidence.watched == {DOUBLE: "passed"}
    assert result.evidence.collected == 3  # a full run: nothing narrowed
    gone = "tests/test_pkg.py::test_was_failing"
    result = run(repo, gate_env, watch={"tests": [DOUBLE, gone]})
    assert result.status is StepStatus.FAILED
    assert [f.test_id for f in result.failures] == [gone]


def test_xdist_runs_give_evidence(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    pytest.importorskip("xdist")
    step = PYTEST.model_copy(update={"run": [*PYTEST.run, "-n", "2"]})
    repo = make_repo(TESTS, origin=False)
    result = run(repo, gate_env, step, watch={"tests": [DOUBLE]})
    assert result.status is StepStatus.PASSED, result.output
    evidence = result.evidence
    assert evidence is not None
    assert (evidence.collected, evidence.ran, evidence.skipped) == (3, 2, 1)
    assert evidence.watched == {DOUBLE: "passed"}
    selected = run(repo, gate_env, step, selection={"tests": [DOUBLE, "tests/test_pkg.py::x"]})
    assert selected.status is StepStatus.FAILED
    assert selected.evidence is not None
    assert selected.evidence.selected == {DOUBLE: "passed", "tests/test_pkg.py::x": "not collected"}


# --- a red run that stops at its first failure ---------------------------------------------

BIG = {
    "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_a.py": "from pkg import double\n\ndef test_half():\n    assert double(1) == 1\n",
    "tests/test_b.py": """\
        import pytest

        @pytest.mark.parametrize("i", range(1200))
        def test_many(i):
            pass
        """,
}


def test_a_large_suite_asked_to_stop_at_its_first_failure_says_what_it_left_out(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(BIG, origin=False)
    result = run(repo, gate_env, first_failure=True)
    assert result.status is StepStatus.FAILED
    assert [f.test_id for f in result.failures] == ["tests/test_a.py::test_half"]
    evidence = result.evidence
    assert evidence is not None and evidence.cut_short
    assert (evidence.collected, evidence.ran) == (1201, 1)  # the other 1,200 never ran
    assert "stopped at its first failure" in result.note
    assert "1200 of 1201 collected tests not run" in result.note
    # Asked or not, a run with no failure runs whole; and one not asked never stops.
    whole = run(repo, gate_env)
    assert whole.evidence is not None and not whole.evidence.cut_short
    assert whole.evidence.ran == 1201 and "stopped" not in whole.note


def test_a_small_suite_or_an_xdist_run_asked_to_stop_early_runs_whole(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # Under 1,000 tests the rest costs little and the agent sees every failure.
    small = {**BIG, "tests/test_b.py": "def test_one():\n    assert False\n"}
    result = run(make_repo(small, origin=False), gate_env, first_failure=True)
    assert result.evidence is not None and not result.evidence.cut_short
    assert [f.test_id for f in result.failures] == [
        "tests/test_a.py::test_half",
        "tests/test_b.py::test_one",
    ]
    pytest.importorskip("xdist")
    step = PYTEST.model_copy(update={"run": [*PYTEST.run, "-n", "2"]})
    result = run(make_repo(BIG, origin=False), gate_env, step, first_failure=True)
    assert result.status is StepStatus.FAILED
    assert result.evidence is not None and not result.evidence.cut_short
    assert result.evidence.ran == 1201


# --- without the plugin: junit ------------------------------------------------------------


def test_the_junit_fallback_gives_evidence_too(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # -E: PYTHONPATH is ignored, so selfheal's plugin cannot load; it runs again with junit.
    step = GateStep(name="tests", run=[sys.executable, "-E", "-m", "pytest", "-q"], kind="pytest")
    repo = make_repo({**TESTS, "conftest.py": "import sys\nsys.path.insert(0, '.')\n"})
    result = run(repo, gate_env, step)
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None
    assert (result.evidence.source, result.evidence.collected, result.evidence.ran) == (
        "junit",
        3,
        2,
    )
    # The ids go on the command line, where pytest itself refuses one it cannot find.
    gone = "tests/test_pkg.py::test_gone"
    result = run(repo, gate_env, step, selection={"tests": [DOUBLE, gone]})
    assert (result.status, result.exit_code) == (StepStatus.FAILED, 4)
    assert f"not found: {repo}/{gone}" in result.output
    result = run(repo, gate_env, step, selection={"tests": [DOUBLE]})
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None and result.evidence.selected == {DOUBLE: "passed"}
    co = step.model_copy(update={"run": [*step.run, "--co"]})
    assert unverified(run(repo, gate_env, co)) == "no tests were collected"


CASES = {
    "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_pkg.py": """\
        import pytest

        from pkg import double

        @pytest.mark.parametrize("x", [1, 2, RESULT])
        def test_double(x):
            assert double(x) == 2 * x
        """,
}


def test_a_case_whose_id_is_gone_stands_only_when_all_its_test_cases_pass(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # Parameters hashed by address give a case a new id in every run (isodate's tests): the
    # old id is found through its test, whose every case must pass.
    files = {**CASES, "tests/test_pkg.py": CASES["tests/test_pkg.py"].replace("RESULT", "3")}
    repo = make_repo(files, origin=False)
    old = "tests/test_pkg.py::test_double[7]"
    result = run(repo, gate_env, watch={"tests": [old]})
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None and result.evidence.watched == {old: "passed"}
    selected = run(repo, gate_env, selection={"tests": [old]})
    assert selected.status is StepStatus.PASSED, selected.output
    assert selected.evidence is not None and selected.evidence.collected == 3
    # One case failing: the gone id is not covered by its test.
    failing = {**CASES, "tests/test_pkg.py": CASES["tests/test_pkg.py"].replace("RESULT", "'x'")}
    failing["pkg/__init__.py"] = "def double(x):\n    return x + x if x != 'x' else 0\n"
    repo = make_repo(failing, origin=False)
    result = run(repo, gate_env, watch={"tests": [old]})
    assert result.status is StepStatus.FAILED
    assert result.evidence is not None and result.evidence.watched == {old: "not collected"}
