"""pytest: selfheal's plugin reports failures and the evidence that tests ran.

The plugin (bot/gate/pytest_plugin.py) runs in the project's interpreter; it selects tests
from a file of node ids, leaves out gpu tests on a CPU runner, and writes a results file.
When it cannot load (a wrapper that drops PYTHONPATH), the step runs again with --junitxml,
the ids on the command line, and `-m "not gpu"`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from bot.config import GateStep
from bot.gate import evidence as judge
from bot.gate import pytest_results
from bot.gate.kinds.base import (
    Options,
    PreparedStep,
    Reading,
    StepKind,
    before_double_dash,
    resolve_executable,
    safe_name,
)
from bot.gate.kinds.pytest_argv import apply_selection, exclude_marker, turns_off
from bot.gate.pytest_results import PytestResults, RunCounts
from bot.gate.triage import Triage
from bot.proc import ProcessResult
from bot.report import Category, Evidence, Failure, StepStatus

# The plugin runs in the project's interpreter, which may not have selfheal: a copy under
# this module name goes into a scratch directory that the pytest step alone gets on its
# PYTHONPATH.
PLUGIN_MODULE = "_selfheal_pytest"
_PLUGIN_SOURCE = Path(__file__).parent.parent / "pytest_plugin.py"
_RAN = frozenset({0, 1, 5})  # pytest's exit codes for a session that got to its tests
_JUNIT_BANNER = re.compile(r"^-+ generated xml file: .* -+\n?", re.MULTILINE)


def plugin_dir(scratch: Path) -> Path:
    """The directory (under `scratch`) that holds the plugin's copy: put it on PYTHONPATH."""
    return scratch / "pytest-plugin"


def install_plugin(scratch: Path) -> Path:
    """Copy selfheal's pytest plugin into `scratch`; returns `plugin_dir(scratch)`. A copy
    that is already there, the same, is left as it is: a step started ahead of the gate's
    configuration may be reading it (bot.gate.head_start)."""
    where = plugin_dir(scratch)
    where.mkdir(parents=True, exist_ok=True)
    copy, source = where / f"{PLUGIN_MODULE}.py", _PLUGIN_SOURCE.read_bytes()
    try:
        same = copy.read_bytes() == source
    except OSError:
        same = False
    if not same:
        copy.write_bytes(source)
    return where


def plugin_refused(output: str) -> bool:
    """pytest said it could not load selfheal's plugin (a wrapper that drops PYTHONPATH)."""
    return PLUGIN_MODULE in output or "--selfheal-results" in output


def _cache_outside(scratch: Path, argv: Sequence[str]) -> list[str]:
    """pytest's cache (--lf, --sw) in this gate run's scratch dir: never in the work tree,
    and never one an earlier run (or the agent) left. Nothing where the command line turns
    the cache plugin off: `cache_dir` is then an option nobody declared, which pytest warns
    of (an error under filterwarnings = error or -W error) and refuses under --strict-config
    or `strict = true` (exit 4). Turned off in addopts, pytest says nothing of it."""
    if turns_off(argv, "cacheprovider"):
        return []
    return ["-o", f"cache_dir={scratch / 'pytest-cache'}"]


# A run asked to stop at its first failure does so from this many tests. Below it the rest
# of the run costs seconds, and the agent is better off seeing every failure.
FIRST_FAILURE_FROM = 1000


def _ids_file(path: Path, ids: Sequence[str]) -> Path:
    path.write_text(json.dumps(list(ids)), encoding="utf-8")
    return path


class Pytest(StepKind):
    name = "pytest"
    selects_tests = True

    def prepare(self, step: GateStep, scratch: Path, options: Options) -> PreparedStep:
        """With the plugin: the user's argv and the plugin's options (the selection goes in a
        file, not the command line). Without: a junit file, the ids and `-m` on the line."""
        argv = list(step.run)
        base = scratch / safe_name(step.name)
        selection, watch = tuple(options.selection), tuple(options.watch)
        if not options.plugin:
            if selection:
                argv = apply_selection(argv, selection)
            if options.deselect_marker:
                argv = exclude_marker(argv, options.deselect_marker)
            junit = base.with_name(base.name + ".xml")
            # xunit1 carries file and line; junit_logging=no keeps captured output out of it.
            extra = [f"--junitxml={junit}", "-o", "junit_family=xunit1", "-o", "junit_logging=no"]
            extra += _cache_outside(scratch, argv)
            return PreparedStep(
                step=step,
                argv=resolve_executable(before_double_dash(argv, extra), options.search_path),
                junit_path=junit,
                selection=selection,
                watch=watch,
                deselect_marker=options.deselect_marker,
            )
        # --junitxml would cost pytest an XML element for every passing test; the plugin
        # writes only what failed, and the counts.
        results = base.with_name(base.name + ".jsonl")
        extra = [
            "-p",
            PLUGIN_MODULE,
            f"--selfheal-results={results}",
            *_cache_outside(scratch, argv),
        ]
        if options.deselect_marker:
            # The plugin and-s it with the final -m, wherever the project gave one.
            extra.append(f"--selfheal-deselect-marker={options.deselect_marker}")
        if selection:
            chosen = _ids_file(base.with_name(base.name + ".select.json"), selection)
            extra.append(f"--selfheal-select={chosen}")
        if watch:
            watched = _ids_file(base.with_name(base.name + ".watch.json"), watch)
            extra.append(f"--selfheal-watch={watched}")
        if options.first_failure:
            extra.append(f"--selfheal-first-failure={FIRST_FAILURE_FROM}")
        return PreparedStep(
            step=step,
            argv=resolve_executable(before_double_dash(argv, extra), options.search_path),
            results_path=results,
            python_path=install_plugin(scratch),
            selection=selection,
            watch=watch,
            deselect_marker=options.deselect_marker,
        )

    def fallback(
        self, prepared: PreparedStep, result: ProcessResult, scratch: Path, options: Options
    ) -> PreparedStep | None:
        """Without the plugin when it could not load; then, where `-m "not gpu"` meets
        --strict-markers in a project that never registers gpu (so has no gpu tests: with
        strict markers it could not mark any), without the `-m`."""
        if result.start_error is not None or result.timed_out or result.returncode == 0:
            return None
        path, marker = prepared.results_path, prepared.deselect_marker
        if path is not None and not path.exists() and plugin_refused(result.output):
            plain = dataclasses.replace(options, plugin=False)
            return self.prepare(prepared.step, scratch, plain)
        if path is None and marker and _unknown_marker(result.output, marker):
            plain = dataclasses.replace(options, plugin=False, deselect_marker=None)
            return self.prepare(prepared.step, scratch, plain)
        return None

    def shown_argv(self, step: GateStep, selection: Sequence[str]) -> list[str]:
        return apply_selection(step.run, selection) if selection else list(step.run)

    def read(self, prepared: PreparedStep, result: ProcessResult, repo: Path) -> Reading:
        triage = Triage(prepared.step, result, repo)
        results = _results(prepared)
        evidence = _evidence(results.counts) if results is not None else None
        code = result.returncode if result.returncode is not None else -1
        failures: list[Failure] = []
        if results is not None and results.problems:
            failures = triage.pytest(results)
        elif code not in (0, judge.PYTEST_NO_TESTS):
            failures = triage.text()
        said = judge.verdict(code, evidence, plugin=prepared.results_path is not None)
        status, note = said.status, said.reason
        # Only a run that got to its tests says which were collected: not a usage error
        # (exit 4: the junit fallback names a missing id on the command line) or a
        # collection error (exit 2), which have failures of their own.
        concluded = evidence is not None and code in _RAN
        unmet = judge.unmet(evidence, [*prepared.selection, *prepared.watch]) if concluded else {}
        if unmet:
            # Every test re-run to check a fix must have been collected and passed.
            failures += [_unmet(triage, test_id, outcome) for test_id, outcome in unmet.items()]
            if status is not StepStatus.FAILED:
                status = StepStatus.FAILED
                note = _join(note, "; ".join(judge.unmet_sentence(*u) for u in unmet.items()))
        if evidence is not None and evidence.cut_short:
            note = _join(note, _cut_short(evidence))
        if status is StepStatus.UNVERIFIED:
            failures.append(triage.failure(Category.INFRA, "no-evidence", note, rule="no-evidence"))
        return Reading(
            failures,
            tests_run=results.tests_run if results is not None else None,
            status=status,
            note=note,
            evidence=evidence,
            marker_deselected=results.marker_deselected if results is not None else None,
            output=_JUNIT_BANNER.sub("", result.output),
        )


def _unknown_marker(output: str, marker: str) -> bool:
    """pytest refused `marker` in a -m expression: unregistered, under --strict-markers."""
    return any(
        line.startswith("ERROR: Unknown marker(s) in '-m' expression:")
        and marker in line.split(":", 2)[2].split(".")[0].replace(",", " ").split()
        for line in output.splitlines()
    )


def _cut_short(evidence: Evidence) -> str:
    """What a run that stopped at its first failure left out, in a sentence."""
    said = "stopped at its first failure, as --maxfail=1 does"
    if evidence.collected is None:
        return said
    return f"{said}: {judge.not_finished(evidence)} of {evidence.collected} collected tests not run"


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def _unmet(triage: Triage, test_id: str, outcome: str) -> Failure:
    return triage.failure(
        Category.COLLECTION,
        f"unmet:{test_id}",
        f"selected test {judge.unmet_sentence(test_id, outcome)}",
        test_id=test_id,
        rule=outcome,
    )


def _results(prepared: PreparedStep) -> PytestResults | None:
    """What pytest reported structurally: selfheal's plugin's file, else a junit file."""
    if prepared.results_path is not None:
        results = pytest_results.parse_pytest_results(prepared.results_path)
        if results is not None or prepared.junit_path is None:
            return results
    if prepared.junit_path is None:
        return None
    tracked = {*prepared.selection, *prepared.watch}
    report = pytest_results.parse_junit(prepared.junit_path, tracked)
    return report.results(prepared.selection, prepared.watch) if report is not None else None


def _evidence(counts: RunCounts | None) -> Evidence | None:
    if counts is None:
        return None
    outcomes = counts.outcomes
    passed, failed, errors = (outcomes.get(k, 0) for k in ("passed", "failed", "error"))
    skipped, xfailed, xpassed = (outcomes.get(k, 0) for k in ("skipped", "xfailed", "xpassed"))
    return Evidence(
        source="junit" if counts.source == "junit" else "plugin",
        normal_end=counts.normal_end,
        collected=counts.collected,
        deselected=counts.deselected,
        ran=passed + failed + errors + xpassed,
        passed=passed,
        failed=failed,
        errors=errors,
        skipped=skipped,
        xfailed=xfailed,
        xpassed=xpassed,
        stopped=counts.stopped,
        selected=counts.selected,
        watched=counts.watched,
        cut_short=counts.cut_short,
    )
