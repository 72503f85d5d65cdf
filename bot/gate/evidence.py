"""Green is evidence: what a pytest run's counts prove, and what a fix may not change.

Pure: values in, values out. `verdict` judges one pytest run by its evidence (not its exit
code); `evidence_problems` compares the run before a fix with the run after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.report import Evidence, GateRun, StepResult, StepStatus

PYTEST_NO_TESTS = 5
PASSED = "passed"
NOT_COLLECTED = "not collected"
# Outcomes whose test already has a failure of its own (its traceback): nothing to add.
_FAILED_OUTCOMES = frozenset({"failed", "error"})


@dataclass(frozen=True)
class Verdict:
    status: StepStatus
    reason: str = ""  # why it is not green, in a sentence; "" when it is


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def verdict(exit_code: int, evidence: Evidence | None, *, plugin: bool = True) -> Verdict:
    """A finished pytest run's status: PASSED only when its evidence shows tests ran and none
    failed. `plugin`: the evidence was to come from selfheal's plugin (else junit)."""
    if exit_code == PYTEST_NO_TESTS:
        return Verdict(StepStatus.UNVERIFIED, "no tests were collected (pytest exit code 5)")
    if exit_code != 0:
        return Verdict(StepStatus.FAILED)
    if evidence is None:
        if plugin:
            return Verdict(
                StepStatus.UNVERIFIED,
                "pytest exited 0 but selfheal's plugin saw no test session end: something "
                "ended pytest early (a conftest.py or plugin that exits, an option such as "
                "--markers or --version)",
            )
        return Verdict(StepStatus.UNVERIFIED, "pytest exited 0 but wrote no whole junit report")
    if evidence.failed or evidence.errors:
        # A hook turned the exit status to 0: the outcomes are what happened.
        bad = plural(evidence.failed + evidence.errors, "test")
        return Verdict(StepStatus.FAILED, f"{bad} failed, yet pytest exited 0")
    if evidence.stopped:
        return Verdict(
            StepStatus.UNVERIFIED, f"pytest ran with {evidence.stopped}: no test was run"
        )
    if not evidence.normal_end:
        return Verdict(
            StepStatus.UNVERIFIED,
            "pytest exited 0 but its test session did not run to its end "
            "(pytest.exit, or a plugin that stopped it)",
        )
    if evidence.collected == 0:
        return Verdict(StepStatus.UNVERIFIED, "no tests were collected")
    if evidence.ran == 0:
        return Verdict(StepStatus.UNVERIFIED, f"no test ran: {collected_words(evidence)}, none run")
    missing = not_finished(evidence)
    if missing and evidence.collected is not None:
        return Verdict(
            StepStatus.UNVERIFIED,
            f"{missing} of {plural(evidence.collected, 'collected test')} reported no outcome",
        )
    return Verdict(StepStatus.PASSED)


def not_finished(evidence: Evidence) -> int:
    """How many collected tests reported no outcome (0 when the count is unknown)."""
    if evidence.collected is None:
        return 0
    return max(evidence.collected - (evidence.ran + evidence.skipped + evidence.xfailed), 0)


def collected_words(evidence: Evidence) -> str:
    return (
        "collected count unknown"
        if evidence.collected is None
        else (f"{evidence.collected} collected")
    )


def unmet(evidence: Evidence | None, wanted: Sequence[str]) -> dict[str, str]:
    """The ids in `wanted` (selected, or watched) that did not pass and have no failure of
    their own: id -> outcome ("not collected", "skipped", ...)."""
    if not wanted:
        return {}
    if evidence is None:
        return dict.fromkeys(wanted, "not run")
    seen = {**evidence.watched, **evidence.selected}
    outcomes = {i: seen.get(i, NOT_COLLECTED) for i in wanted}
    return {i: o for i, o in outcomes.items() if o != PASSED and o not in _FAILED_OUTCOMES}


def unmet_sentence(test_id: str, outcome: str) -> str:
    if outcome == NOT_COLLECTED:
        return f"{test_id} was not collected"
    return f"{test_id} was {outcome}, not passed"


def gate_sentence(run: GateRun) -> str:
    """The gate's verdict in a line: "gate green", or what failed and what is unverified."""
    if run.green:
        return "gate green"
    parts = [
        f"{s.name} unverified: {s.note or 'no evidence that its tests ran'}"
        for s in run.steps
        if s.status is StepStatus.UNVERIFIED
    ]
    failing = [f for s in run.steps if s.status is not StepStatus.UNVERIFIED for f in s.failures]
    if failing:
        parts.append(f"{len(failing)} failure(s)")
    others = [s for s in run.steps if s.status is not StepStatus.UNVERIFIED and not s.failures]
    parts += [f"{s.name} {s.status.value}" for s in others if s.status is not StepStatus.PASSED]
    return "not green: " + "; ".join(parts) if parts else "not green"


# --- before and after a fix ---------------------------------------------------------------


def _pytest_steps(run: GateRun) -> dict[str, StepResult]:
    """The test steps run whole (their kind selects tests; a selection is a partial run)."""
    from bot.gate.kinds import kind_named  # the kinds read their evidence with this module

    return {s.name: s for s in run.steps if kind_named(s.kind).selects_tests and not s.selection}


def failing_ids(run: GateRun) -> dict[str, list[str]]:
    """Per pytest step, the ids of the tests that failed in `run`: the watch list for the
    full run after a fix."""
    found: dict[str, list[str]] = {}
    for name, step in _pytest_steps(run).items():
        ids = list(dict.fromkeys(f.test_id for f in step.failures if f.test_id))
        if ids:
            found[name] = ids
    return found


def evidence_problems(before: GateRun, after: GateRun) -> list[str]:
    """Why `after` does not prove a fix of `before`, in sentences (none: it does).

    Per pytest step run in full both times: it has evidence, the collected count did not
    drop (more is fine), and every test that failed before was collected and passed after.
    """
    problems: list[str] = []
    later = _pytest_steps(after)
    for name, first in _pytest_steps(before).items():
        second = later.get(name)
        if second is None:
            continue
        if second.status is StepStatus.UNVERIFIED or second.evidence is None:
            why = f": {second.note}" if second.note else ""
            problems.append(f"{name}: the run after the fix shows no evidence that tests ran{why}")
            continue
        problems += _count_dropped(name, first.evidence, second.evidence)
        problems += _not_fixed(name, failing_ids(before).get(name, []), second)
    return problems


def _count_dropped(name: str, first: Evidence | None, second: Evidence) -> list[str]:
    if first is None or first.collected is None:
        return []
    if second.collected is None:
        return [
            f"{name}: {first.collected} tests were collected before the fix; after it the "
            "count is unknown"
        ]
    if second.collected < first.collected:
        lost = first.collected - second.collected
        return [
            f"{name}: {plural(lost, 'test')} fewer collected after the fix "
            f"({first.collected} before, {second.collected} after): no test may be removed "
            "or stop being collected"
        ]
    return []


def _not_fixed(name: str, ids: Sequence[str], second: StepResult) -> list[str]:
    assert second.evidence is not None  # checked by the caller
    outcomes: Mapping[str, str] = {**second.evidence.watched, **second.evidence.selected}
    failed_after = {f.test_id for f in second.failures if f.test_id}
    problems = []
    for test_id in ids:
        outcome = outcomes.get(test_id)
        if outcome == PASSED:
            continue
        if outcome is None:
            outcome = "failed" if test_id in failed_after else "not watched"
        if outcome == "not watched":
            problems.append(
                f"{name}: {test_id} failed before the fix and selfheal has no record of it "
                "after (the full run did not watch it)"
            )
        else:
            problems.append(
                f"{name}: {test_id} failed before the fix and after it {unmet_after(outcome)}"
            )
    return problems


def unmet_after(outcome: str) -> str:
    return "was not collected" if outcome == NOT_COLLECTED else f"was {outcome}"
