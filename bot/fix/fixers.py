"""Deterministic fixers: ruff's own autofix and formatter, run before any agent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import GateStep
from bot.gate.kinds import kind_for
from bot.gate.toolcache import pinned_argv
from bot.proc import run_process
from bot.report import FIXER_CATEGORIES, Failure


@dataclass(frozen=True)
class FixerRun:
    name: str  # what a reviewer recognises: "ruff check --fix", "ruff format"
    argv: tuple[str, ...]
    exit_code: int | None
    output: str


def fixers_for(failures: Sequence[Failure], steps: Sequence[GateStep]) -> list[GateStep]:
    """The steps whose deterministic fixer should run for these failures, in a safe order."""
    failing = {f.step for f in failures if f.category in FIXER_CATEGORIES}
    chosen = [s for s in steps if s.name in failing and kind_for(s).fixer_argv(s) is not None]
    if chosen:
        # After an autofix, formatting is always safe and saves an attempt.
        chosen += [s for s in steps if kind_for(s).safe_after_fixes and s not in chosen]
    # ruff check --fix can leave code unformatted, so lint fixers run before the formatter.
    return sorted(chosen, key=lambda s: kind_for(s).fixer_order)


def run_fixers(
    failures: Sequence[Failure],
    steps: Sequence[GateStep],
    workdir: Path,
    env: Mapping[str, str],
    timeout: float | None = None,
) -> list[FixerRun]:
    """Run the fixers that apply, in the worktree; the diff they leave is checked like any other."""
    return run_step_fixers(fixers_for(failures, steps), workdir, env, timeout)


def all_fixers(steps: Sequence[GateStep]) -> list[GateStep]:
    """Every step with a deterministic fixer, in the order they must run (lint, then format)."""
    chosen = [s for s in steps if kind_for(s).fixer_argv(s) is not None]
    return sorted(chosen, key=lambda s: kind_for(s).fixer_order)


def run_step_fixers(
    steps: Sequence[GateStep],
    workdir: Path,
    env: Mapping[str, str],
    timeout: float | None = None,
) -> list[FixerRun]:
    """Run the fixers of `steps`, in this order, in the worktree."""
    runs = []
    for step in steps:
        kind = kind_for(step)
        argv = kind.fixer_argv(step)
        assert argv is not None  # callers keep only steps that have one
        argv, _ = pinned_argv(argv, workdir)  # fix with the ruff the gate checks with
        result = run_process(argv, workdir, env={**env, **step.env}, timeout=timeout)
        name = kind.fixer_name or " ".join(argv)
        runs.append(FixerRun(name, result.argv, result.returncode, result.output))
    return runs
