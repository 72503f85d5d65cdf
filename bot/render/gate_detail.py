"""Report sections about the gate's runs: the evidence that tests ran, time per step per run,
GPUs, experiment metrics.

Pure Markdown, for bot.render.markdown; every string from the project goes through
bot.render.text.
"""

from __future__ import annotations

from bot.gate.evidence import failing_ids
from bot.render.text import md_code, md_text, plural
from bot.report import GateRun, Report, StepResult, StepStatus

STATUS_WORDS = {StepStatus.NEEDS_GPU: "needs a GPU runner"}
RUN_IDS_SHOWN = 3
IDS_SHOWN = 20


def status_word(status: StepStatus) -> str:
    """A step's status as the report says it ("needs a GPU runner", not "needs_gpu")."""
    return STATUS_WORDS.get(status, status.value)


def seconds(value: float) -> str:
    """1.2 s, 1 min 15 s."""
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs} s"


def _mib(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,} MiB"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _step_names(runs: list[GateRun]) -> list[str]:
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(s.name for s in run.steps))
    return list(names)


def _find(run: GateRun | None, name: str) -> StepResult | None:
    return next((s for s in run.steps if s.name == name), None) if run else None


# --- needs a GPU runner -----------------------------------------------------------------


def needs_gpu_note(report: Report) -> list[str]:
    """One line under the status when a step that requires a GPU could not run."""
    if not report.needs_gpu:
        return []
    notes: dict[str, str] = {}
    for run in report.gate_runs():
        for s in run.steps:
            if s.status is StepStatus.NEEDS_GPU:
                notes.setdefault(s.name, s.note or "needs a GPU runner")
    said = "; ".join(f"{md_code(n)}: {md_text(why, 200)}" for n, why in notes.items())
    return [
        f"> **Needs a GPU runner.** Not run: {said or 'a step that requires a GPU'}."
        " The gate cannot be green on this runner; run selfheal on one with a GPU."
    ]


# --- evidence that the tests ran -------------------------------------------------------


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _evidence_row(run: GateRun, step: StepResult) -> str:
    name = md_code(step.name, table=True, limit=60)
    label = md_text(run.label, 60)
    e = step.evidence
    if e is None:
        return f"| {label} | {name} | **{status_word(step.status)}** | - | - | - | - | - | - |"
    # A red run selfheal asked to stop at its first failure (bot.fix.loop): no end, on purpose.
    end = "stopped at 1st failure" if e.cut_short else "yes" if e.normal_end else "**no**"
    return (
        f"| {label} | {name} | {status_word(step.status)} | {_count(e.collected)} | {e.ran}"
        f" | {e.passed} | {e.failed + e.errors} | {e.skipped + e.xfailed} | {end} ({e.source}) |"
    )


def _outcome_after(runs: list[GateRun], step: str, test_id: str) -> tuple[str, str] | None:
    """The last outcome recorded for `test_id` after the first run, and where."""
    for run in reversed(runs[1:]):
        found = _find(run, step)
        if found is None:
            continue
        e = found.evidence
        seen = {**e.watched, **e.selected} if e is not None else {}
        if test_id in seen:
            return seen[test_id], run.label
        if any(f.test_id == test_id for f in found.failures):
            return "failed", run.label
    return None


def evidence(report: Report) -> list[str]:
    """What showed that the tests ran: counts per test step per gate run, each test that
    failed before with its outcome after, and every step that showed nothing, plainly."""
    runs = report.gate_runs()
    shown = [
        (r, s) for r in runs for s in r.steps if s.evidence or s.status is StepStatus.UNVERIFIED
    ]
    if not shown:
        return []
    lines = [
        "| gate run | step | status | collected | ran | passed | failed | skipped | normal end |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_evidence_row(r, s) for r, s in shown),
    ]
    unverified = [(r, s) for r, s in shown if s.status is StepStatus.UNVERIFIED]
    if unverified:
        lines += ["", "Unverified (no evidence that tests ran, so never green):"]
        lines += [
            f"- {md_text(r.label, 60)}: {md_code(s.name)}: {md_text(s.note or 'no evidence', 300)}"
            for r, s in unverified
        ]
    before = report.gate_before
    failed = failing_ids(before) if before is not None else {}
    pairs = [(name, test_id) for name, ids in failed.items() for test_id in ids]
    if pairs and len(runs) > 1:
        lines += ["", "Tests that failed before:"]
        for name, test_id in pairs[:IDS_SHOWN]:
            after = _outcome_after(runs, name, test_id)
            said = f"{after[0]} ({md_text(after[1], 40)})" if after else "no outcome recorded"
            lines.append(f"- {md_code(test_id, limit=200)}: {said}")
        if len(pairs) > IDS_SHOWN:
            lines.append(f"- and {len(pairs) - IDS_SHOWN} more")
    return lines


# --- time per step per gate run ---------------------------------------------------------


def _time_cell(step: StepResult | None) -> str:
    if step is None:
        return "-"
    if step.status is StepStatus.NEEDS_GPU:
        return "not run (needs a GPU runner)"
    cell = seconds(step.duration_s)
    return cell if step.status is StepStatus.PASSED else f"{cell} {status_word(step.status)}"


def step_times(report: Report) -> list[str]:
    """Each gate run (before, each attempt's check, after) and the time each step took in it."""
    runs = report.gate_runs()
    if len(runs) < 2:
        return []  # one run: the gate table already shows it
    names = _step_names(runs)
    head = " | ".join(md_code(n, table=True, limit=60) for n in names)
    rows = [f"| gate run | {head} | total |", "|---" * (len(names) + 2) + "|"]
    for run in runs:
        cells = " | ".join(_time_cell(_find(run, n)) for n in names)
        rows.append(f"| {md_text(run.label, 60)} | {cells} | {seconds(run.duration_s)} |")
    return rows


# --- GPUs -------------------------------------------------------------------------------


def gpus(report: Report) -> list[str]:
    """The GPUs the runner showed, memory and time of each step that used one, and the gpu
    tests left out where there was none."""
    runs = report.gate_runs()
    devices = next((r.gpus for r in runs if r.gpus), [])
    used = [(r, s) for r in runs for s in r.steps if s.gpu is not None]
    lines: list[str] = []
    if devices:
        lines += ["| GPU | name | driver | CUDA | memory |", "|---|---|---|---|---|"]
        for d in devices:
            lines.append(
                f"| {d.index} | {md_text(d.name, 80)} | {md_text(d.driver_version or '-', 40)}"
                f" | {md_text(d.cuda_version or '-', 20)} | {_mib(d.memory_total_mb)} |"
            )
    if used:
        lines += [
            *([""] if lines else []),
            "| gate run | step | wall time | peak GPU memory | at start | samples |",
            "|---|---|---|---|---|---|",
        ]
        for run, s in used:
            assert s.gpu is not None  # chosen above for having one
            lines.append(
                f"| {md_text(run.label, 60)} | {md_code(s.name, table=True, limit=60)}"
                f" | {seconds(s.duration_s)} | {_mib(s.gpu.peak_memory_mb)}"
                f" | {_mib(s.gpu.start_memory_mb)} | {s.gpu.samples} |"
            )
        lines += ["", "GPU memory is sampled with nvidia-smi every 0.5 s, for the whole device."]
    if not devices and (report.needs_gpu or _deselected(runs)):
        lines += [*([""] if lines else []), "No GPU on this runner."]
    if left_out := _deselected(runs):
        lines.append(f"{plural(left_out, 'test')} marked `gpu` left out: no GPU to run them.")
    return lines


def _deselected(runs: list[GateRun]) -> int:
    """The most gpu-marked tests one gate run left out."""
    return max((sum(s.gpu_tests_deselected or 0 for s in r.steps) for r in runs), default=0)


# --- experiment metrics -----------------------------------------------------------------


def _metric_cell(step: StepResult | None, metric: str, threshold: str | None) -> str:
    if step is None:
        return "-"
    check = next((c for c in step.metric_checks if c.threshold == threshold), None)
    value = step.metrics.get(metric)
    if check is not None and not check.ok:
        return f"{_number(value)} (missed)"
    return _number(value)


def _run_ids(step: StepResult | None) -> str:
    if step is None or not step.run_ids:
        return "none"
    shown = ", ".join(md_code(r, limit=80) for r in step.run_ids[:RUN_IDS_SHOWN])
    more = len(step.run_ids) - RUN_IDS_SHOWN
    return shown + (f", and {more} more" if more > 0 else "")


def metrics(report: Report) -> list[str]:
    """Metrics and thresholds of experiment steps before and after the fix, and their run ids."""
    runs = report.gate_runs()
    if not any(s.metrics or s.metric_checks or s.run_ids for r in runs for s in r.steps):
        return []
    before = report.gate_before
    names = _step_names(runs)
    latest = {n: next((r for r in reversed(runs) if _find(r, n) is not None), None) for n in names}
    rows = ["| step | metric | required | before | after |", "|---|---|---|---|---|"]
    runs_lines: list[str] = []
    for name in names:
        first, last_run = _find(before, name), latest[name]
        last = _find(last_run, name) if last_run is not before else None
        seen = [s for s in (first, last) if s is not None]
        pairs: dict[tuple[str, str | None], None] = {}
        for s in seen:
            pairs.update(dict.fromkeys((c.metric, c.threshold) for c in s.metric_checks))
        for s in seen:
            checked = {m for m, _ in pairs}
            pairs.update(dict.fromkeys((m, None) for m in s.metrics if m not in checked))
        step_cell = md_code(name, table=True, limit=60)
        for metric, threshold in pairs:
            required = md_text(threshold, 80) if threshold else "-"
            # Not healed: "after" is the last check the step had, named.
            named = last and last_run and last_run != report.gate_after
            label = f" ({md_text(last_run.label, 40)})" if named and last_run else ""
            rows.append(
                f"| {step_cell} | {md_text(metric, 60)} | {required}"
                f" | {_metric_cell(first, metric, threshold)}"
                f" | {_metric_cell(last, metric, threshold)}{label} |"
            )
        if any(s.run_ids for s in seen):
            after = f"; after: {_run_ids(last)}" if last is not None else ""
            runs_lines.append(f"- {md_code(name)} runs: before: {_run_ids(first)}{after}")
    lines = rows if len(rows) > 2 else []
    if runs_lines:
        lines += ([""] if lines else []) + runs_lines
    return lines
