"""Run the gate: every step at once, each through `bot.proc.run_process`, into a `GateRun`."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.config import GateStep
from bot.gate import gpu, metrics, parsers, pytest_results
from bot.gate.steps import (
    PreparedStep,
    apply_selection,
    install_plugin,
    plugin_dir,
    plugin_refused,
    prepare,
)
from bot.gate.triage import (
    EXIT_NOT_FOUND,
    PYTEST_NO_TESTS,
    repo_roots,
    signature,
    step_failures,
)
from bot.proc import DEFAULT_OUTPUT_CAP, ProcessResult, run_process
from bot.render.text import cap_text
from bot.report import (
    Category,
    Failure,
    GateRun,
    GpuUsage,
    MetricCheck,
    StepResult,
    StepStatus,
)

GPU_MARKER = "gpu"  # pytest tests marked with it run only where a GPU is

# ruff's JSON is ~600 bytes a problem; read all of it, then show the much shorter text.
_RUFF_JSON_CAP = 32 * 1024 * 1024
_JUNIT_BANNER = re.compile(r"^-+ generated xml file: .* -+\n?", re.MULTILINE)


def step_env(step: GateStep, repo: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a step runs with: `env`, the step's own, and the repo's code first."""
    merged = {**env, **step.env}
    # The project must import the copy under test (often a worktree), not an installed one
    # (an editable install points at the user's checkout): src/ for a src layout, else the
    # repo root, as `python -m pytest` would.
    src = repo / "src"
    first = src if src.is_dir() else repo
    old = merged.get("PYTHONPATH")
    merged["PYTHONPATH"] = str(first) + (os.pathsep + old if old else "")
    # No __pycache__ left in the working tree for the fix loop to mistake for a change.
    merged.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return merged


def shown_output(step: GateStep, result: ProcessResult, repo: Path) -> str:
    """What the user would have seen: ruff's JSON rendered back to its text, no junit banner."""
    if step.kind == "ruff" and not result.timed_out and result.start_error is None:
        diagnostics = parsers.parse_ruff_json(result.stdout, repo_roots(repo))
        if diagnostics is not None:
            text = parsers.render_ruff_concise(diagnostics)
            if result.stderr.strip():
                text += result.stderr
            return cap_text(text, DEFAULT_OUTPUT_CAP, head_share=0.5)
    if step.kind == "pytest":
        return _JUNIT_BANNER.sub("", result.output)
    return result.output


def _status(step: GateStep, result: ProcessResult) -> tuple[StepStatus, str]:
    if result.start_error is not None or result.returncode == EXIT_NOT_FOUND:
        return StepStatus.ERROR, "could not start"
    if result.timed_out:
        return StepStatus.TIMEOUT, ""
    if result.returncode == 0:
        return StepStatus.PASSED, ""
    if step.kind == "pytest" and result.returncode == PYTEST_NO_TESTS:
        return StepStatus.PASSED, "no tests were collected (pytest exit code 5)"
    return StepStatus.FAILED, ""


@dataclass(frozen=True)
class _Job:
    prepared: PreparedStep
    shown_argv: list[str]  # the user's command (with the selection), not our additions
    selection: list[str]
    env: dict[str, str]
    timeout: float
    fallback: PreparedStep | None = None  # pytest with --junitxml, if the plugin cannot load
    gpus: tuple[int, ...] = ()  # the GPUs it may use, when it requires one: sample their memory
    no_gpu: str = ""  # why no GPU is visible to it (it requires one, or has gpu tests)


def _plugin_failed(prepared: PreparedStep, result: ProcessResult) -> bool:
    """pytest ran without selfheal's plugin because it could not load it."""
    path = prepared.results_path
    return (
        path is not None
        and result.start_error is None
        and not result.timed_out
        and result.returncode != 0
        and not path.exists()
        and plugin_refused(result.output)
    )


def _execute(job: _Job, repo: Path) -> tuple[PreparedStep, ProcessResult, bool]:
    """Run the job's process (again without the plugin, if it could not load); whether it fell
    back."""
    prepared, timeout = job.prepared, job.timeout
    cap = _RUFF_JSON_CAP if prepared.step.kind == "ruff" else DEFAULT_OUTPUT_CAP
    result = run_process(prepared.argv, repo, env=job.env, timeout=timeout, output_cap=cap)
    fell_back = job.fallback is not None and _plugin_failed(prepared, result)
    if fell_back and job.fallback is not None:
        # e.g. a wrapper that does not pass PYTHONPATH on: run it again the older way.
        spent = result.duration_s
        prepared = job.fallback
        result = run_process(
            prepared.argv, repo, env=job.env, timeout=max(timeout - spent, 0.1), output_cap=cap
        )
        result = dataclasses.replace(result, duration_s=result.duration_s + spent)
    return prepared, result, fell_back


def _run_step(job: _Job, repo: Path) -> StepResult:
    step, timeout = job.prepared.step, job.timeout
    metrics_path = repo / step.metrics if step.metrics else None
    before = metrics.snapshot(metrics_path) if metrics_path else None
    usage: GpuUsage | None = None
    if job.gpus:
        with gpu.MemorySampler(job.gpus, job.env, repo) as sampler:
            prepared, result, fell_back = _execute(job, repo)
        usage = sampler.usage()
    else:
        prepared, result, fell_back = _execute(job, repo)
    status, note = _status(step, result)
    if fell_back and not note:
        note = "selfheal's pytest plugin could not load; ran again with --junitxml"
    try:
        failures, tests_run = step_failures(
            step, result, prepared.junit_path, repo, results_path=prepared.results_path
        )
        output = shown_output(step, result, repo)
    except Exception as exc:  # noqa: BLE001
        # Output we failed to read must not take the whole run down; it shows as an error.
        failures, tests_run, output = [_unreadable(step, exc)], None, result.output
    if status is StepStatus.PASSED:
        failures = []  # e.g. ruff --exit-zero: the user chose not to fail on these
    if status is StepStatus.TIMEOUT:
        why = "its timeout" if timeout >= step.timeout else "the run's deadline"
        note = f"killed after {round(timeout, 1):g} s ({why})"
    deselected = _deselected(prepared, job)
    if deselected:
        said = f"{deselected} {'test' if deselected == 1 else 'tests'} marked {GPU_MARKER}"
        note = _join(note, f"{said} deselected: no GPU on this runner ({job.no_gpu})")
    values: dict[str, float] = {}
    checks: list[MetricCheck] = []
    if metrics_path is not None:
        values, problem = metrics.read_metrics(metrics_path, repo, step.metrics or "", before)
        checks = metrics.check(step.thresholds, values)
        # A step that failed on its own says why; its metrics are shown, not judged.
        missed = _metric_failures(step, checks, problem, values)
        if status is StepStatus.PASSED and missed:
            status, failures = StepStatus.FAILED, missed
            note = _join(note, problem or "a metric missed its threshold")
    return StepResult(
        name=step.name,
        kind=step.kind,
        argv=job.shown_argv,
        status=status,
        exit_code=result.returncode,
        duration_s=round(result.duration_s, 3),
        output=output,
        output_bytes=result.output_bytes,
        failures=failures,
        tests_run=tests_run,
        selection=job.selection,
        note=note,
        gpu=usage,
        gpu_tests_deselected=deselected,
        metrics=values,
        metric_checks=checks,
        run_ids=metrics.find_run_ids(step.run_id_pattern, result.output),
    )


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def _deselected(prepared: PreparedStep, job: _Job) -> int | None:
    """How many gpu-marked tests selfheal's plugin left out (None: none asked, or unknown)."""
    if not job.no_gpu or prepared.results_path is None or job.prepared.step.kind != "pytest":
        return None
    results = pytest_results.parse_pytest_results(prepared.results_path)
    return results.marker_deselected if results is not None else None


def _metric_failures(
    step: GateStep, checks: list[MetricCheck], problem: str, values: dict[str, float]
) -> list[Failure]:
    def sign(category: Category, key: str, message: str) -> str:
        return signature(step.name, category, key, message)

    return metrics.metric_failures(
        step.name, checks, problem=problem, shown=step.metrics or "", metrics=values, sign=sign
    )


def _needs_gpu(job: _Job) -> StepResult:
    """A step that requires a GPU, on a runner that shows it none: not run, and not passing."""
    step = job.prepared.step
    message = f"{step.name} requires a GPU and none is visible here: {job.no_gpu}"
    failure = Failure(
        step=step.name,
        category=Category.INFRA,  # no code change gives a runner a GPU: never the agent's
        message=message,
        rule="needs-gpu",
        signature=signature(step.name, Category.INFRA, "needs-gpu", "needs a GPU runner"),
    )
    return StepResult(
        name=step.name,
        kind=step.kind,
        argv=job.shown_argv,
        status=StepStatus.NEEDS_GPU,
        failures=[failure],
        selection=job.selection,
        note=f"needs a GPU runner ({job.no_gpu})",
    )


def _unreadable(step: GateStep, exc: Exception) -> Failure:
    message = f"selfheal could not read the results of {step.name}: {type(exc).__name__}: {exc}"
    return Failure(
        step=step.name,
        category=Category.ERROR,
        message=message[:300],
        signature=signature(step.name, Category.ERROR, "unreadable", type(exc).__name__),
    )


def _not_started(job: _Job) -> StepResult:
    step = job.prepared.step
    message = f"{step.name} was not started: the run's time budget was spent"
    failure = Failure(
        step=step.name,
        category=Category.TIMEOUT,
        message=message,
        signature=signature(step.name, Category.TIMEOUT, "budget", message),
    )
    return StepResult(
        name=step.name,
        kind=step.kind,
        argv=job.shown_argv,
        status=StepStatus.TIMEOUT,
        failures=[failure],
        selection=job.selection,
        note="not started: deadline reached",
    )


def run_gate(
    steps: Sequence[GateStep],
    repo: Path,
    *,
    label: str,
    env: Mapping[str, str],
    only: Collection[str] | None = None,
    selection: Mapping[str, Sequence[str]] | None = None,
    deadline: float | None = None,
) -> GateRun:
    """Run the steps (those in `only`, if given) concurrently; `selection` maps a pytest step
    to the node ids to re-run; `deadline` is a time.monotonic() value no step may outlive."""
    started = time.monotonic()
    selection = selection or {}
    chosen = [s for s in steps if only is None or s.name in only]
    # Steps that require a GPU need one; pytest steps leave out their gpu tests without one.
    wants_gpu = any(s.requires == "gpu" or s.kind == "pytest" for s in chosen)
    found = gpu.probe(env, repo) if wants_gpu else gpu.GpuProbe()
    with tempfile.TemporaryDirectory(prefix="selfheal-gate-") as tmp:
        scratch = Path(tmp)
        if any(step.kind == "pytest" for step in chosen):
            install_plugin(scratch)
        jobs = []
        for step in chosen:
            wanted = list(selection.get(step.name, ())) if step.kind == "pytest" else []
            run_env = step_env(step, repo, env)
            search_path = run_env.get("PATH")
            cuda_visible = run_env.get("CUDA_VISIBLE_DEVICES")
            seen = gpu.visible(found.devices, cuda_visible)
            no_gpu = "" if seen or not wants_gpu else gpu.why_none(found, cuda_visible)
            marker = GPU_MARKER if no_gpu and step.kind == "pytest" else None
            prepared = prepare(
                step, scratch, wanted, search_path=search_path, deselect_marker=marker
            )
            fallback = None
            if prepared.results_path is not None:
                # Last on the path: it holds only the plugin, and the repo's code comes first.
                run_env["PYTHONPATH"] += os.pathsep + str(plugin_dir(scratch))
                fallback = prepare(
                    step,
                    scratch,
                    wanted,
                    search_path=search_path,
                    plugin=False,
                    deselect_marker=marker,
                )
            timeout = step.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
            jobs.append(
                _Job(
                    prepared=prepared,
                    shown_argv=apply_selection(step.run, wanted) if wanted else list(step.run),
                    selection=wanted,
                    env=run_env,
                    timeout=timeout,
                    fallback=fallback,
                    gpus=tuple(d.index for d in seen) if step.requires == "gpu" else (),
                    no_gpu=no_gpu,
                )
            )
        # Lint and tests at the same time: the gate takes as long as its slowest step.
        with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
            futures = [
                pool.submit(_run_step, job, repo) if _runnable(job) else None for job in jobs
            ]
            results = [
                future.result() if future is not None else _not_run(job)
                for future, job in zip(futures, jobs, strict=True)
            ]
    partial = len(chosen) < len(steps) or any(r.selection for r in results)
    return GateRun(
        label=label,
        steps=results,
        duration_s=round(time.monotonic() - started, 3),
        partial=partial,
        gpus=found.devices,
    )


def _runnable(job: _Job) -> bool:
    return job.timeout > 0 and not (job.prepared.step.requires == "gpu" and job.no_gpu)


def _not_run(job: _Job) -> StepResult:
    if job.prepared.step.requires == "gpu" and job.no_gpu:
        return _needs_gpu(job)
    return _not_started(job)


def rerun_plan(
    failures: Sequence[Failure], steps: Sequence[GateStep]
) -> tuple[set[str], dict[str, list[str]]]:
    """What to re-run to check a fix: the failing steps, and the failing tests of pytest steps.

    A pytest step with any failure that names no test (collection error, timeout, crash)
    is re-run whole.
    """
    kinds = {s.name: s.kind for s in steps}
    only = {f.step for f in failures if f.step in kinds}
    selection: dict[str, list[str]] = {}
    for name in only:
        if kinds[name] != "pytest":
            continue
        mine = [f for f in failures if f.step == name]
        if all(f.test_id for f in mine):
            selection[name] = list(dict.fromkeys(f.test_id for f in mine if f.test_id))
    return only, selection
