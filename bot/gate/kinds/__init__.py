"""Gate step kinds: one module each, one interface (kinds/base.py), and this registry.

Adding a kind touches one new module and one line here; nothing else asks what kind a
step is.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import GateStep
from bot.gate.kinds.base import Options, PreparedStep, Reading, StepKind
from bot.gate.kinds.command import Command
from bot.gate.kinds.pytest import Pytest
from bot.gate.kinds.ruff import Ruff
from bot.gate.kinds.ruff_format import RuffFormat
from bot.gate.triage import Triage
from bot.proc import ProcessResult
from bot.report import Failure

__all__ = ["Options", "PreparedStep", "Reading", "StepKind", "kind_for"]

_KINDS: dict[str, StepKind] = {k.name: k for k in (Ruff(), RuffFormat(), Pytest(), Command())}


def kind_named(name: str) -> StepKind:
    """The kind registered as `name` (a step result's `kind`); a plain command if unknown."""
    return _KINDS.get(name, _KINDS["command"])


def kind_for(step: GateStep) -> StepKind:
    """The kind that runs and reads `step`."""
    return kind_named(step.kind)


def has_fixer(step: GateStep) -> bool:
    """The step has a deterministic fixer (ruff check --fix, ruff format)."""
    return kind_for(step).fixer_argv(step) is not None


def selects_tests(step: GateStep) -> bool:
    """The step runs tests it can re-run one by one (and report evidence for)."""
    return kind_for(step).selects_tests


def step_failures(
    step: GateStep,
    result: ProcessResult,
    junit_path: Path | None,
    repo: Path,
    *,
    results_path: Path | None = None,
) -> tuple[list[Failure], int | None]:
    """The failures one finished process of `step` shows, and how many tests ran (None:
    unknown). pytest's are read from `results_path` (selfheal's plugin) or `junit_path`."""
    triage = Triage(step, result, repo)
    if result.start_error is not None or triage.not_found:
        return [triage.infra()], None
    if result.timed_out:
        return [triage.timeout()], None
    prepared = PreparedStep(
        step=step, argv=list(step.run), junit_path=junit_path, results_path=results_path
    )
    reading = kind_for(step).read(prepared, result, repo)
    return reading.failures, reading.tests_run
