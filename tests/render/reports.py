"""Reports built in code, one per way a run can end, for the renderer tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from bot.report import (
    Attempt,
    Category,
    Failure,
    FileChange,
    GateRun,
    GuardVerdict,
    Issue,
    Proposal,
    Report,
    Status,
    StepResult,
    StepStatus,
    StopReason,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

# Everything a hostile project or agent could put in a message, a name or a log.
HOSTILE = (
    "pipe | here\nnew line </details> <!-- hidden --> @someone ``` fence"
    " <script>x</script> [link](javascript:alert(1)) owner/repo#12"
)

LINT = Failure(
    step="ruff",
    category=Category.LINT,
    message="`os` imported but unused",
    file="src/calc.py",
    line=1,
    rule="F401",
    signature="ruff:F401:src/calc.py",
    fixable=True,
)
ASSERT = Failure(
    step="pytest",
    category=Category.ASSERTION,
    message="assert 3 == 4",
    file="tests/test_calc.py",
    line=7,
    test_id="tests/test_calc.py::test_add",
    rule="AssertionError",
    excerpt="def test_add():\n>       assert add(1, 2) == 4\nE       assert 3 == 4",
    signature="pytest:tests/test_calc.py::test_add:AssertionError",
)
FLAKY = Failure(
    step="pytest",
    category=Category.FLAKY,
    message="timing out sometimes",
    file="tests/test_net.py",
    line=3,
    test_id="tests/test_net.py::test_ping",
    signature="pytest:tests/test_net.py::test_ping",
)


def step(name: str, status: StepStatus, *failures: Failure, **kw: Any) -> StepResult:
    kind = "pytest" if name == "pytest" else "ruff"
    return StepResult(
        name=name,
        kind=kind,
        argv=[name],
        status=status,
        exit_code=0 if status is StepStatus.PASSED else 1,
        failures=list(failures),
        **kw,
    )


def gate(label: str, *steps: StepResult) -> GateRun:
    return GateRun(label=label, steps=list(steps), duration_s=sum(s.duration_s for s in steps))


def red_gate() -> GateRun:
    return gate(
        "before",
        step("ruff", StepStatus.FAILED, LINT, duration_s=0.3, output="src/calc.py:1:8: F401"),
        step(
            "pytest",
            StepStatus.FAILED,
            ASSERT,
            duration_s=2.5,
            tests_run=12,
            output="FAILED tests/test_calc.py::test_add - assert 3 == 4",
        ),
    )


def green_gate(label: str = "after") -> GateRun:
    return gate(
        label,
        step("ruff", StepStatus.PASSED, duration_s=0.2),
        step("pytest", StepStatus.PASSED, duration_s=2.4, tests_run=12),
    )


PASS = GuardVerdict(guard="protected-paths", ok=True)


def report(**kw: Any) -> Report:
    values: dict[str, Any] = {
        "tool_version": "0.1.0",
        "mode": "heal",
        "status": Status.GREEN,
        "repo": "octo/calc",
        "base_ref": "main",
        "base_sha": "a" * 40,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=75),
        "max_attempts": 3,
        "agent": "command",
    }
    values.update(kw)
    return Report(**values)


def healed() -> Report:
    """Two attempts: the fixers clear lint, the agent fixes the assertion."""
    first = Attempt(
        number=1,
        fixers=["ruff check --fix", "ruff format"],
        changes=[FileChange(path="src/calc.py", removed=1)],
        guards=[PASS],
        remaining=[ASSERT],
        duration_s=0.5,
        outcome="failing",
        verification=gate(
            "verify 1",
            step("pytest", StepStatus.FAILED, ASSERT, output="E  assert 3 == 4 (verify)"),
        ),
    )
    second = Attempt(
        number=2,
        fixers=["command agent"],
        agent="command",
        agent_summary="Fixed add() to return the sum.",
        changes=[
            FileChange(path="src/calc.py", added=2, removed=1),
            FileChange(path="src/util.py", added=3),
        ],
        guards=[PASS],
        duration_s=10.0,
        outcome="green",
    )
    return report(
        status=Status.HEALED,
        stop_reason=StopReason.GREEN,
        agent_note="scripted: this agent replays a known fix",
        gate_before=red_gate(),
        failures=[LINT, ASSERT],
        attempts=[first, second],
        gate_after=green_gate(),
        proposal=Proposal(branch="selfheal/heal-1", commit="b" * 40, pushed=True, remote="origin"),
        timings={"gate before": 2.8, "fix loop": 10.5, "total": 75.0},
        peak_rss_mb=88.25,
        artifacts={"report.json": ".selfheal/report.json", "fix.patch": ".selfheal/fix.patch"},
    )


def stuck() -> Report:
    """The agent keeps producing the same failure."""
    attempts = [
        Attempt(
            number=n,
            fixers=["command agent"],
            changes=[FileChange(path="src/calc.py", added=1, removed=1)],
            guards=[PASS],
            remaining=[ASSERT],
            duration_s=4.0,
            outcome="failing",
        )
        for n in (1, 2)
    ]
    return report(
        status=Status.GAVE_UP,
        stop_reason=StopReason.STUCK,
        detail="The same failure signature came back after attempt 2.",
        gate_before=red_gate(),
        failures=[ASSERT],
        attempts=attempts,
    )


def refused() -> Report:
    """The agent edited the workflow; the protected-paths guard refused it."""
    attempt = Attempt(
        number=1,
        fixers=["command agent"],
        changes=[FileChange(path=".github/workflows/ci.yml", added=4, removed=9)],
        guards=[
            GuardVerdict(
                guard="protected-paths",
                ok=False,
                reason="touches a protected path",
                file=".github/workflows/ci.yml",
            ),
            GuardVerdict(guard="test-weakening", ok=True),
        ],
        refused=True,
        duration_s=3.0,
        outcome="refused",
    )
    return report(
        status=Status.REFUSED,
        stop_reason=StopReason.REFUSED,
        gate_before=red_gate(),
        failures=[ASSERT],
        attempts=[attempt],
    )


def flaky() -> Report:
    before = gate(
        "before", step("pytest", StepStatus.FAILED, FLAKY, output="FAILED test_ping", tests_run=3)
    )
    return report(
        status=Status.FLAKY,
        stop_reason=StopReason.NOTHING_TO_FIX,
        gate_before=before,
        flaky=[FLAKY],
    )


def green() -> Report:
    return report(status=Status.GREEN, gate_before=green_gate("before"))


def implemented() -> Report:
    return report(
        mode="implement",
        status=Status.PROPOSED,
        stop_reason=StopReason.GREEN,
        issue=Issue(number=42, title="Add subtraction", body="Please add sub().", url=None),
        gate_before=green_gate("before"),
        attempts=[
            Attempt(
                number=1,
                fixers=["command agent"],
                changes=[FileChange(path="src/calc.py", added=5)],
                guards=[PASS],
                outcome="green",
            )
        ],
        gate_after=green_gate(),
        proposal=Proposal(
            branch="selfheal/issue-42", commit="c" * 40, pushed=False, push_error="rejected"
        ),
    )
