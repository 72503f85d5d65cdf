"""The report shows the evidence: counts before and after, each test that failed before with
its outcome after, and unverified steps plainly."""

from __future__ import annotations

from bot.render.gate_detail import evidence
from bot.render.markdown import render_markdown
from bot.report import (
    Attempt,
    Category,
    Evidence,
    Failure,
    GateRun,
    Report,
    Status,
    StepResult,
    StepStatus,
)
from tests.render.reports import T0

FAILED_ID = "tests/test_calc.py::test_add"
OTHER_ID = "tests/test_calc.py::test_sub|pipe"
HOSTILE_NOTE = "no tests were collected <!-- x --> | @someone"


def failure(test_id: str | None, category: Category = Category.ASSERTION) -> Failure:
    return Failure(
        step="pytest", category=category, message="boom", test_id=test_id, signature=str(test_id)
    )


def step(status: StepStatus, ev: Evidence | None, *fails: Failure, note: str = "") -> StepResult:
    return StepResult(
        name="pytest",
        kind="pytest",
        argv=["pytest"],
        status=status,
        failures=list(fails),
        evidence=ev,
        note=note,
    )


BEFORE = GateRun(
    label="before",
    steps=[
        step(
            StepStatus.FAILED,
            Evidence(source="plugin", normal_end=True, collected=12, ran=11, passed=9, failed=2),
            failure(FAILED_ID),
            failure(OTHER_ID),
        )
    ],
)
VERIFY = GateRun(
    label="verify 1",
    partial=True,
    steps=[
        step(
            StepStatus.PASSED,
            Evidence(
                source="plugin",
                normal_end=True,
                collected=2,
                ran=2,
                passed=2,
                selected={FAILED_ID: "passed", OTHER_ID: "passed"},
            ),
        ).model_copy(update={"selection": [FAILED_ID, OTHER_ID]})
    ],
)
AFTER = GateRun(
    label="gate 1",
    steps=[
        step(
            StepStatus.FAILED,
            Evidence(
                source="plugin",
                normal_end=True,
                collected=11,
                ran=10,
                passed=10,
                skipped=1,
                watched={FAILED_ID: "passed", OTHER_ID: "not collected"},
            ),
            failure(OTHER_ID, Category.COLLECTION),
        )
    ],
)
UNVERIFIED = GateRun(
    label="gate 2",
    steps=[step(StepStatus.UNVERIFIED, None, failure(None, Category.INFRA), note=HOSTILE_NOTE)],
)


def report(*attempt_runs: GateRun) -> Report:
    return Report(
        tool_version="0",
        mode="heal",
        status=Status.GAVE_UP,
        repo="r",
        base_sha="abc",
        started_at=T0,
        gate_before=BEFORE,
        attempts=[Attempt(number=i + 1, verification=run) for i, run in enumerate(attempt_runs)],
    )


def test_counts_per_run_and_each_failing_test_with_its_outcome_after() -> None:
    lines = evidence(report(VERIFY, AFTER))
    assert lines[:5] == [
        "| gate run | step | status | collected | ran | passed | failed | skipped | normal end |",
        "|---|---|---|---|---|---|---|---|---|",
        "| before | `pytest` | failed | 12 | 11 | 9 | 2 | 0 | yes (plugin) |",
        "| verify 1 | `pytest` | passed | 2 | 2 | 2 | 0 | 0 | yes (plugin) |",
        "| gate 1 | `pytest` | failed | 11 | 10 | 10 | 0 | 1 | yes (plugin) |",
    ]
    assert lines[5:] == [
        "",
        "Tests that failed before:",
        f"- `{FAILED_ID}`: passed (gate 1)",
        f"- `{OTHER_ID}`: not collected (gate 1)",
    ]


def test_an_unverified_step_is_said_plainly_and_inertly() -> None:
    lines = evidence(report(UNVERIFIED))
    assert "| gate 2 | `pytest` | **unverified** | - | - | - | - | - | - |" in lines
    assert "Unverified (no evidence that tests ran, so never green):" in lines
    (said,) = [line for line in lines if line.startswith("- gate 2:")]
    assert "no tests were collected" in said
    assert "<!--" not in said and "@someone" not in said  # the note is the project's text
    assert f"- `{FAILED_ID}`: no outcome recorded" in lines


def test_the_markdown_report_has_an_evidence_section() -> None:
    text = render_markdown(report(VERIFY, AFTER))
    assert "### Evidence" in text
    assert "| gate 1 | `pytest` | failed | 11 |" in text
    no_tests = Report(
        tool_version="0", mode="gate", status=Status.GREEN, repo="r", base_sha="", started_at=T0
    )
    assert "### Evidence" not in render_markdown(no_tests)


def test_a_red_run_stopped_at_its_first_failure_says_so_not_that_it_ended_badly() -> None:
    cut = Evidence(source="plugin", normal_end=False, collected=1200, ran=31, passed=30, failed=1)
    before = BEFORE.model_copy(
        update={"steps": [step(StepStatus.FAILED, cut.model_copy(update={"cut_short": True}))]}
    )
    crashed = BEFORE.model_copy(update={"steps": [step(StepStatus.FAILED, cut)]})
    row = evidence(report().model_copy(update={"gate_before": before}))[2]
    assert (
        row
        == "| before | `pytest` | failed | 1200 | 31 | 30 | 1 | 0 | stopped at 1st failure (plugin) |"
    )
    row = evidence(report().model_copy(update={"gate_before": crashed}))[2]
    assert row.endswith("| **no** (plugin) |")
