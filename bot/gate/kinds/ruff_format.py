"""`ruff format --check`: its own text is what is read; `ruff format` is its fixer."""

from __future__ import annotations

from pathlib import Path

from bot.config import GateStep
from bot.gate import parsers
from bot.gate.kinds.base import (
    Options,
    PreparedStep,
    Reading,
    StepKind,
    before_double_dash,
    resolve_executable,
    without,
)
from bot.gate.toolcache import pinned_argv
from bot.gate.triage import Triage
from bot.proc import ProcessResult


class RuffFormat(StepKind):
    name = "ruff-format"
    fixer_name = "ruff format"
    fixer_order = 1
    safe_after_fixes = True  # after an autofix, formatting is always safe and saves an attempt

    def prepare(self, step: GateStep, scratch: Path, options: Options) -> PreparedStep:
        # Its own text is what we read (older ruff has no JSON here): keep it on, and plain.
        argv = without(
            list(step.run), frozenset({"--silent", "-s"}), frozenset({"--output-format"})
        )
        if "--check" not in argv:
            argv = before_double_dash(argv, ["--check"])
        argv = resolve_executable(argv, options.search_path)
        # The ruff the project's CI runs: another version formats some code differently.
        argv, tool = pinned_argv(argv, options.repo, options.search_path)
        return PreparedStep(step=step, argv=argv, tool=tool)

    def read(self, prepared: PreparedStep, result: ProcessResult, repo: Path) -> Reading:
        if result.returncode == 0:
            return Reading([])
        triage = Triage(prepared.step, result, repo)
        problems = parsers.parse_ruff_format(result.output, triage.roots)
        return Reading(triage.ruff_format(problems) if problems else [triage.unrecognized()])

    def fixer_argv(self, step: GateStep) -> list[str] | None:
        return resolve_executable(without(list(step.run), frozenset({"--check", "--diff"})))
