"""Run the gate: every step at once, each through `bot.proc.run_process`, into a `GateRun`."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.bytecode import forget
from bot.config import GateStep
from bot.gate import gpu, metrics
from bot.gate.head_start import HeadStart, Launch
from bot.gate.kinds import Options, PreparedStep, Reading, StepKind, kind_for, selects_tests
from bot.gate.toolcache import label_text
from bot.gate.triage import Triage, signature
from bot.proc import ProcessResult, Started, run_process
from bot.progress import StepEnd, StepProgress, current_steps
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
_FALLBACKS = 2  # a step is run at most this many more times, each another way


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
    # No __pycache__ left in the working tree for the fix loop to mistake for a change:
    # bytecode goes to the cache the caller gives (bot.bytecode), else is not written.
    if not merged.get("PYTHONPYCACHEPREFIX"):
        merged.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # One hash seed for every run of the gate: tests parametrized over a set get ids in hash
    # order (isodate's test_parse[4-1985-04-expected3-%Y-%m]), and a failing test must keep
    # its id when it is run again to check a fix.
    merged.setdefault("PYTHONHASHSEED", "0")
    return merged


@dataclass(frozen=True)
class _Job:
    prepared: PreparedStep
    kind: StepKind
    options: Options  # how it was prepared: its fallback is prepared the same way
    shown_argv: list[str]  # the user's command (with the selection), not our additions
    selection: list[str]
    env: dict[str, str]
    timeout: float
    gpus: tuple[int, ...] = ()  # the GPUs it may use, when it requires one: sample their memory
    no_gpu: str = ""  # why no GPU is visible to it (it requires one, or has gpu tests)
    started: Started | None = None  # its process, started ahead of the configuration

    def launch(self, repo: Path) -> Launch:
        return Launch.of(self.prepared.argv, repo, self.env)


def _execute(
    job: _Job, repo: Path, scratch: Path, on_line: Callable[[str], None] | None
) -> tuple[PreparedStep, ProcessResult, bool]:
    """Run the job's process (again another way, if its kind says the first could not work:
    pytest without selfheal's plugin); whether it fell back."""
    prepared, timeout, cap = job.prepared, job.timeout, job.kind.output_cap
    result = run_process(
        prepared.argv,
        repo,
        env=job.env,
        timeout=timeout,
        output_cap=cap,
        on_line=on_line,
        adopt=job.started,
    )
    fell_back = False
    for _ in range(_FALLBACKS):
        fallback = job.kind.fallback(prepared, result, scratch, job.options)
        if fallback is None:
            break
        # e.g. a wrapper that does not pass PYTHONPATH on: run it again the older way.
        spent, prepared, fell_back = result.duration_s, fallback, True
        if on_line is not None:
            on_line(f"[selfheal: {job.prepared.step.name} runs again another way]")
        result = run_process(
            prepared.argv,
            repo,
            env=job.env,
            timeout=max(timeout - spent, 0.1),
            output_cap=cap,
            on_line=on_line,
        )
        result = result._replace(duration_s=result.duration_s + spent)
    return prepared, result, fell_back


def _read(job: _Job, prepared: PreparedStep, result: ProcessResult, repo: Path) -> Reading:
    """What the finished process showed; a process that never ran or ran out of time is read
    alike for every kind."""
    triage = Triage(prepared.step, result, repo)
    if result.start_error is not None or triage.not_found:
        return Reading([triage.infra()], status=StepStatus.ERROR, note="could not start")
    if result.timed_out:
        return Reading([triage.timeout()], status=StepStatus.TIMEOUT)
    try:
        return job.kind.read(prepared, result, repo)
    except Exception as exc:  # noqa: BLE001
        # Output we failed to read must not take the whole run down; it shows as an error.
        return Reading([_unreadable(prepared.step, exc)])


def _run_step(
    job: _Job, repo: Path, scratch: Path, shown: StepProgress | None = None
) -> StepResult:
    if shown is None:
        return _judge(job, repo, scratch, None)
    name = job.prepared.step.name
    shown.step_started(name)

    def on_line(line: str) -> None:
        shown.step_line(name, line)

    result = _judge(job, repo, scratch, on_line)
    if job.kind.renders_output:
        # What the process wrote is not what a person reads (ruff's JSON): show the reading.
        for line in result.output.splitlines():
            on_line(line)
    shown.step_ended(step_end(result))
    return result


def step_end(result: StepResult) -> StepEnd:
    return StepEnd(
        name=result.name,
        status=result.status.value,
        duration_s=result.duration_s,
        failures=len(result.failures),
        note=result.note,
    )


def _judge(
    job: _Job, repo: Path, scratch: Path, on_line: Callable[[str], None] | None
) -> StepResult:
    step, timeout = job.prepared.step, job.timeout
    metrics_path = repo / step.metrics if step.metrics else None
    raw = None if job.kind.renders_output else on_line
    before = metrics.snapshot(metrics_path) if metrics_path else None
    usage: GpuUsage | None = None
    if job.gpus:
        with gpu.MemorySampler(job.gpus, job.env, repo) as sampler:
            prepared, result, fell_back = _execute(job, repo, scratch, raw)
        usage = sampler.usage()
    else:
        prepared, result, fell_back = _execute(job, repo, scratch, raw)
    reading = _read(job, prepared, result, repo)
    status = reading.status or (StepStatus.PASSED if result.returncode == 0 else StepStatus.FAILED)
    failures, note = reading.failures, reading.note
    if fell_back:
        note = _join("selfheal's pytest plugin could not load; ran again with --junitxml", note)
    if status is StepStatus.PASSED:
        failures = []  # e.g. ruff --exit-zero: the user chose not to fail on these
    if status is StepStatus.TIMEOUT:
        why = "its timeout" if timeout >= step.timeout else "the run's deadline"
        note = f"killed after {round(timeout, 1):g} s ({why})"
    deselected = reading.marker_deselected if job.no_gpu else None
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
        output=reading.output if reading.output is not None else result.output,
        output_bytes=result.output_bytes,
        failures=failures,
        tests_run=reading.tests_run,
        selection=job.selection,
        note=note,
        gpu=usage,
        gpu_tests_deselected=deselected,
        metrics=values,
        metric_checks=checks,
        run_ids=metrics.find_run_ids(step.run_id_pattern, result.output),
        evidence=reading.evidence,
        tool=label_text(prepared.tool),
    )


def _join(note: str, more: str) -> str:
    return f"{note}; {more}" if note and more else note or more


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
    watch: Mapping[str, Sequence[str]] | None = None,
    first_failure: bool = False,
    deadline: float | None = None,
    progress: StepProgress | None = None,
    head_start: HeadStart | None = None,
) -> GateRun:
    """Run the steps (those in `only`, if given) concurrently; `deadline` is a
    time.monotonic() value no step may outlive. `progress` (default: the run's, see
    bot.progress) is told each step's start, output lines and end as they happen.

    `selection` maps a test step to the node ids to re-run (only those); `watch` maps one
    to ids whose outcome a full run must report (the tests that failed before a fix). Each
    such id must be collected and pass, or the step fails naming it. `first_failure`: the
    test steps run whole stop at their first failing test, in a large suite. `head_start`:
    processes started before the configuration was read, each taken for the step it exactly
    is.
    """
    started = time.monotonic()
    selection, watch = selection or {}, watch or {}
    chosen = [s for s in steps if only is None or s.name in only]
    # Steps that require a GPU need one; test steps leave out their gpu tests without one.
    wants_gpu = any(s.requires == "gpu" or selects_tests(s) for s in chosen)
    found = gpu.probe(env, repo) if wants_gpu else gpu.GpuProbe()
    with _scratch_dir(env) as tmp:

        def prepared(scratch: Path) -> list[_Job]:
            return [
                _job(
                    step,
                    repo,
                    env,
                    scratch,
                    found=found,
                    wants_gpu=wants_gpu,
                    deadline=deadline,
                    selection=selection,
                    watch=watch,
                    first_failure=first_failure,
                )
                for step in chosen
            ]

        scratch = tmp
        jobs = prepared(scratch)
        order = _start_order(jobs)
        if head_start is not None:
            ahead = head_start.take([jobs[i].launch(repo) for i in order], scratch)
            if ahead is not None:  # the same steps, prepared where their processes look
                again = prepared(ahead)
                began = head_start.adopt([again[i].launch(repo) for i in order])
                if began is not None:
                    scratch, processes = ahead, dict(zip(order, began, strict=True))
                    started = min([started, *(process.at for process in began)])
                    jobs = [
                        dataclasses.replace(job, started=processes[i]) if i in processes else job
                        for i, job in enumerate(again)
                    ]
        shown = progress if progress is not None else current_steps()
        if shown is not None:
            shown.gate_started(label, [job.prepared.step.name for job in jobs])
        # Lint and tests at the same time: the gate takes as long as its slowest step.
        with ThreadPoolExecutor(max_workers=max(len(jobs), 1)) as pool:
            futures = {i: pool.submit(_run_step, jobs[i], repo, scratch, shown) for i in order}
            results = [
                futures[i].result() if i in futures else _not_run(job, shown)
                for i, job in enumerate(jobs)
            ]
        if shown is not None:
            shown.gate_ended()
    partial = len(chosen) < len(steps) or any(r.selection for r in results)
    return GateRun(
        label=label,
        steps=results,
        duration_s=round(time.monotonic() - started, 3),
        partial=partial,
        gpus=found.devices,
        started_ahead=[job.prepared.step.name for job in jobs if job.started is not None],
    )


def _job(
    step: GateStep,
    repo: Path,
    env: Mapping[str, str],
    scratch: Path,
    *,
    found: gpu.GpuProbe,
    wants_gpu: bool,
    deadline: float | None,
    selection: Mapping[str, Sequence[str]],
    watch: Mapping[str, Sequence[str]],
    first_failure: bool,
) -> _Job:
    kind = kind_for(step)
    tests = kind.selects_tests
    wanted = list(selection.get(step.name, ())) if tests else []
    run_env = step_env(step, repo, env)
    cuda_visible = run_env.get("CUDA_VISIBLE_DEVICES")
    seen = gpu.visible(found.devices, cuda_visible)
    no_gpu = "" if seen or not wants_gpu else gpu.why_none(found, cuda_visible)
    options = Options(
        selection=wanted,
        watch=list(watch.get(step.name, ())) if tests and not wanted else [],
        search_path=run_env.get("PATH"),
        deselect_marker=GPU_MARKER if no_gpu and tests else None,
        first_failure=first_failure and tests and not wanted,
        repo=repo,
    )
    prepared = kind.prepare(step, scratch, options)
    if prepared.python_path is not None:
        # Last on the path: it holds only selfheal's plugin, and the repo's code comes first.
        run_env["PYTHONPATH"] += os.pathsep + str(prepared.python_path)
    timeout = step.timeout
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
    return _Job(
        prepared=prepared,
        kind=kind,
        options=options,
        shown_argv=kind.shown_argv(step, wanted),
        selection=wanted,
        env=run_env,
        timeout=timeout,
        gpus=tuple(d.index for d in seen) if step.requires == "gpu" else (),
        no_gpu=no_gpu,
    )


@contextlib.contextmanager
def _scratch_dir(env: Mapping[str, str]) -> Iterator[Path]:
    """A gate run's scratch dir (selfheal's pytest plugin, results files), removed on any way
    out, with what its processes compiled from it (bot.bytecode.forget)."""
    with tempfile.TemporaryDirectory(prefix="selfheal-gate-") as tmp:
        try:
            yield Path(tmp)
        finally:
            forget(env, Path(tmp))


def _start_order(jobs: Sequence[_Job]) -> list[int]:
    """The runnable jobs' indices in the order they start: test steps first (the slowest
    step, nearly always: the gate ends when it does, so it must not wait for the lint's
    processes to start), then the others in the configuration's order."""
    runnable = [i for i, job in enumerate(jobs) if _runnable(job)]
    return sorted(runnable, key=lambda i: not jobs[i].kind.selects_tests)


def _runnable(job: _Job) -> bool:
    return job.timeout > 0 and not (job.prepared.step.requires == "gpu" and job.no_gpu)


def _not_run(job: _Job, shown: StepProgress | None) -> StepResult:
    if job.prepared.step.requires == "gpu" and job.no_gpu:
        result = _needs_gpu(job)
    else:
        result = _not_started(job)
    if shown is not None:
        shown.step_ended(step_end(result))
    return result


def rerun_plan(
    failures: Sequence[Failure], steps: Sequence[GateStep]
) -> tuple[set[str], dict[str, list[str]]]:
    """What to re-run to check a fix: the failing steps, and the failing tests of pytest steps.

    A pytest step with any failure that names no test (collection error, timeout, crash)
    is re-run whole.
    """
    by_name = {s.name: s for s in steps}
    only = {f.step for f in failures if f.step in by_name}
    selection: dict[str, list[str]] = {}
    for name in only:
        if not selects_tests(by_name[name]):
            continue
        mine = [f for f in failures if f.step == name]
        if all(f.test_id for f in mine):
            selection[name] = list(dict.fromkeys(f.test_id for f in mine if f.test_id))
    return only, selection
