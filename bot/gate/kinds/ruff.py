"""`ruff check`: run with JSON output, shown as ruff's own text; `--fix` is its fixer."""

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
from bot.proc import DEFAULT_OUTPUT_CAP, ProcessResult
from bot.render.text import cap_text

# Options that would stop ruff printing one JSON diagnostic per problem.
_NO_JSON = frozenset({"--statistics", "--silent", "-s", "--show-files", "--show-settings"})
_NO_JSON |= frozenset({"--diff", "--watch", "-w"})
# ...and options whose value would send it elsewhere (--output-file writes it to a file).
_OUTPUT_OPTS = frozenset({"--output-format", "--format", "--output-file", "-o"})
# ruff's JSON is ~600 bytes a problem; read all of it, then show the much shorter text.
_JSON_CAP = 32 * 1024 * 1024


class Ruff(StepKind):
    name = "ruff"
    fixer_name = "ruff check --fix"
    fixer_order = 0
    output_cap = _JSON_CAP
    renders_output = True

    def prepare(self, step: GateStep, scratch: Path, options: Options) -> PreparedStep:
        argv = without(list(step.run), _NO_JSON, _OUTPUT_OPTS)
        argv = before_double_dash(argv, ["--output-format=json"])
        argv = resolve_executable(argv, options.search_path)
        # The ruff the project's CI runs: a newer one flags code the project accepts.
        argv, tool = pinned_argv(argv, options.repo, options.search_path)
        return PreparedStep(step=step, argv=argv, tool=tool)

    def read(self, prepared: PreparedStep, result: ProcessResult, repo: Path) -> Reading:
        triage = Triage(prepared.step, result, repo)
        diagnostics = parsers.parse_ruff_json(result.stdout, triage.roots)
        shown = None
        if diagnostics is not None:
            # What the user would have seen: ruff's JSON rendered back to its text.
            text = parsers.render_ruff_concise(diagnostics)
            if result.stderr.strip():
                text += result.stderr
            shown = cap_text(text, DEFAULT_OUTPUT_CAP, head_share=0.5)
        if result.returncode == 0:
            return Reading([], output=shown)
        failures = triage.ruff(diagnostics) if diagnostics else [triage.unrecognized()]
        return Reading(failures, output=shown)

    def fixer_argv(self, step: GateStep) -> list[str] | None:
        # Options that would stop it writing fixes (or stop it at all) are left out.
        argv = without(list(step.run), _NO_JSON | {"--no-fix", "--exit-zero", "-e"})
        if "--fix" not in argv:
            argv = before_double_dash(argv, ["--fix"])
        return resolve_executable(argv)
