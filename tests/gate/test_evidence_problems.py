"""evidence_problems: what the run after a fix must show about the run before it."""

from __future__ import annotations

from pathlib import Path

from bot.config import GateStep
from bot.gate.evidence import evidence_problems, failing_ids
from bot.gate.runner import run_gate
from bot.report import Category, Evidence, Failure, GateRun, StepResult, StepStatus
from tests.conftest import MakeRepo

FAILING = "tests/test_a.py::test_x"


def step(
    collected: int | None,
    *,
    failing: tuple[str, ...] = (),
    watched: dict[str, str] | None = None,
    status: StepStatus = StepStatus.PASSED,
    kind: str = "pytest",
) -> StepResult:
    failures = [
        Failure(step="tests", category=Category.ASSERTION, message="no", test_id=i, signature=i)
        for i in failing
    ]
    evidence = (
        Evidence(source="plugin", normal_end=True, collected=collected, watched=watched or {})
        if status is not StepStatus.UNVERIFIED
        else None
    )
    return StepResult(
        name="tests",
        kind=kind,
        argv=["pytest"],
        status=StepStatus.FAILED if failing else status,
        failures=failures,
        evidence=evidence,
        note="no tests were collected" if status is StepStatus.UNVERIFIED else "",
    )


def gate(label: str, *steps: StepResult) -> GateRun:
    return GateRun(label=label, steps=list(steps))


BEFORE = gate("before", step(10, failing=(FAILING,)))


def test_a_fix_with_the_same_tests_passing_has_no_problems() -> None:
    after = gate("after", step(10, watched={FAILING: "passed"}))
    assert evidence_problems(BEFORE, after) == []
    more = gate("after", step(12, watched={FAILING: "passed"}))  # added tests are fine
    assert evidence_problems(BEFORE, more) == []


def test_fewer_tests_collected_is_a_problem() -> None:
    after = gate("after", step(8, watched={FAILING: "passed"}))
    assert evidence_problems(BEFORE, after) == [
        "tests: 2 tests fewer collected after the fix (10 before, 8 after): no test may be "
        "removed or stop being collected"
    ]


def test_a_previously_failing_test_not_collected_or_not_passed_is_a_problem() -> None:
    gone = gate("after", step(10, watched={FAILING: "not collected"}))
    assert evidence_problems(BEFORE, gone) == [
        f"tests: {FAILING} failed before the fix and after it was not collected"
    ]
    skipped = gate("after", step(10, watched={FAILING: "skipped"}))
    assert evidence_problems(BEFORE, skipped) == [
        f"tests: {FAILING} failed before the fix and after it was skipped"
    ]


def test_a_previously_failing_test_the_full_run_did_not_watch_is_a_problem() -> None:
    after = gate("after", step(10))
    (problem,) = evidence_problems(BEFORE, after)
    assert problem.startswith(f"tests: {FAILING} failed before the fix and selfheal has no record")


def test_an_unverified_run_after_is_a_problem() -> None:
    after = gate("after", step(None, status=StepStatus.UNVERIFIED))
    assert evidence_problems(BEFORE, after) == [
        "tests: the run after the fix shows no evidence that tests ran: no tests were collected"
    ]


def test_only_test_steps_run_whole_are_compared() -> None:
    lint_before = gate("before", step(10, kind="command", failing=(FAILING,)))
    assert evidence_problems(lint_before, gate("after", step(0, kind="command"))) == []
    assert failing_ids(BEFORE) == {"tests": [FAILING]}


def test_real_runs_before_and_after_a_fix_that_deletes_a_test(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    tests = "def test_x():\n    assert 1 == 2\n\n\ndef test_y():\n    pass\n"
    repo = make_repo({"tests/test_a.py": tests}, origin=False)
    steps = [GateStep(name="tests", run=["pytest", "-p", "no:cacheprovider"], kind="pytest")]
    before = run_gate(steps, repo, label="before", env=gate_env)
    assert failing_ids(before) == {"tests": [FAILING]}
    # The "fix" deletes the failing test: every step exits 0, and the evidence says why not.
    Path(repo, "tests/test_a.py").write_text("def test_y():\n    pass\n")
    after = run_gate(steps, repo, label="after", env=gate_env, watch=failing_ids(before))
    assert after.steps[0].status is StepStatus.FAILED  # the watched id was not collected
    assert evidence_problems(before, after) == [
        "tests: 1 test fewer collected after the fix (2 before, 1 after): no test may be "
        "removed or stop being collected",
        f"tests: {FAILING} failed before the fix and after it was not collected",
    ]
