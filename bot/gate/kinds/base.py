"""The interface every gate step kind implements, and the argv helpers they share.

A kind knows four things about its tool: the argv to run it with (and to re-run only some
tests, where it can), how to read a finished process into failures and evidence, the
deterministic fixer if it has one, and whether it selects tests. The default is a plain
command: exit 0 passes, anything else fails with what its output shows.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import GateStep
from bot.gate.toolcache import Label
from bot.gate.triage import Triage
from bot.proc import DEFAULT_OUTPUT_CAP, ProcessResult
from bot.report import Evidence, Failure, StepStatus


@dataclass(frozen=True)
class PreparedStep:
    """A step with the argv the bot runs, and where pytest's results will be (pytest only):
    the file selfheal's plugin writes (`results_path`), or a junit file (`junit_path`)."""

    step: GateStep
    argv: list[str]
    junit_path: Path | None = None
    results_path: Path | None = None
    python_path: Path | None = None  # a directory the step needs last on its PYTHONPATH
    selection: tuple[str, ...] = ()  # the test ids it re-runs (none: all)
    watch: tuple[str, ...] = ()  # test ids whose outcome it reports in a full run
    deselect_marker: str | None = None  # tests marked with it are left out (gpu, no GPU here)
    # Which tool version ran and why: "ruff 0.4.10 (pinned in uv.lock)" (toolcache.Label)
    tool: Label = ""


@dataclass(frozen=True)
class Reading:
    """What a finished step showed: its failures, and for test steps the evidence."""

    failures: list[Failure]
    tests_run: int | None = None
    status: StepStatus | None = None  # None: the exit code decides (0 passes)
    note: str = ""
    evidence: Evidence | None = None
    marker_deselected: int | None = None  # tests left out for a marker (gpu on a CPU runner)
    output: str | None = None  # what to show instead of the process's own output


@dataclass(frozen=True)
class Options:
    """How to run a step this time."""

    selection: Sequence[str] = ()
    watch: Sequence[str] = ()
    search_path: str | None = None  # the PATH the step will run with (default: ours)
    plugin: bool = True  # pytest: load selfheal's plugin (else write a junit file)
    deselect_marker: str | None = None  # pytest: leave out tests marked with it
    first_failure: bool = False  # pytest: stop at the first failing test (a large suite)
    extra: dict[str, str] = field(default_factory=dict)
    repo: Path | None = None  # the checkout it runs in: where the project pins its tools


class StepKind:
    """A plain command: exit 0 passes, its output says what failed."""

    name = "command"
    selects_tests = False  # it can re-run only some tests, and mark tests to leave out
    fixer_name: str | None = None  # "ruff check --fix": what a reviewer recognises
    fixer_order = 2  # fixers run in this order: lint fixes before formatting
    safe_after_fixes = False  # its fixer always runs after another fixer changed code
    output_cap = DEFAULT_OUTPUT_CAP
    # Its reading shows a rendering, not the process's output (ruff's JSON): the live view
    # gets that rendering when the step ends, instead of the raw lines as they come.
    renders_output = False

    def prepare(self, step: GateStep, scratch: Path, options: Options) -> PreparedStep:
        """The argv to run `step` with, and where its results will be."""
        return PreparedStep(step=step, argv=resolve_executable(list(step.run), options.search_path))

    def fallback(
        self, prepared: PreparedStep, result: ProcessResult, scratch: Path, options: Options
    ) -> PreparedStep | None:
        """Another way to run it, when this run shows the first could not work."""
        return None

    def read(self, prepared: PreparedStep, result: ProcessResult, repo: Path) -> Reading:
        """Failures (and evidence) of a process that started and ended in time."""
        if result.returncode == 0:
            return Reading([])
        return Reading(Triage(prepared.step, result, repo).text())

    def shown_argv(self, step: GateStep, selection: Sequence[str]) -> list[str]:
        """The user's command as the report shows it."""
        return list(step.run)

    def fixer_argv(self, step: GateStep) -> list[str] | None:
        """The deterministic fixer's argv, or None when the kind has none."""
        return None


# --- argv helpers -------------------------------------------------------------------------


def before_double_dash(argv: list[str], extra: Sequence[str]) -> list[str]:
    """Options added where the tool still reads options: before a `--`, else at the end."""
    if "--" in argv:
        at = argv.index("--")
        return [*argv[:at], *extra, *argv[at:]]
    return [*argv, *extra]


def without(
    argv: list[str], flags: frozenset[str], valued: frozenset[str] = frozenset()
) -> list[str]:
    """`argv` without `flags`, and without `valued` options together with their values."""
    kept: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if i == 0 or arg == "--" or "--" in kept:
            kept.append(arg)
        elif arg in flags or arg.split("=", 1)[0] in valued:
            skip_next = arg in valued  # "--output-format json": drop the value too
        else:
            kept.append(arg)
    return kept


def safe_name(name: str) -> str:
    """A file name for a step's scratch files: readable, and distinct for distinct names."""
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:40]}-{digest}"


# Tools selfheal depends on itself, runnable as `python -m NAME` from its own environment.
_OWN_MODULES = frozenset({"ruff"})


def resolve_executable(argv: list[str], search_path: str | None = None) -> list[str]:
    """Use our own interpreter's copy of a tool that is not on PATH (selfheal's venv not active)."""
    first = argv[0]
    if "/" in first or shutil.which(first, path=search_path) is not None:
        return argv
    ours = Path(sys.executable).parent / first
    if ours.is_file() and os.access(ours, os.X_OK):
        return [str(ours), *argv[1:]]
    if first in _OWN_MODULES and importlib.util.find_spec(first) is not None:
        return [sys.executable, "-m", first, *argv[1:]]  # e.g. ruff from a shared site-packages
    return argv
