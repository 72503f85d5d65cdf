"""report.md's GPU, metrics and step-time sections, and the needs-a-GPU-runner line."""

from __future__ import annotations

from bot.render.markdown import render_markdown
from bot.report import (
    Attempt,
    Category,
    Failure,
    GpuDevice,
    GpuUsage,
    MetricCheck,
    Report,
    Status,
    StepStatus,
    StopReason,
)
from tests.render import reports
from tests.render.reports import HOSTILE, gate, step
from tests.render.test_markdown import assert_well_formed, tables

H100 = GpuDevice(
    index=0,
    name="NVIDIA H100 80GB HBM3",
    uuid="GPU-1",
    driver_version="550.54.15",
    cuda_version="12.4",
    memory_total_mb=81559,
)
NEEDS = Failure(
    step="train",
    category=Category.INFRA,
    message="train requires a GPU and none is visible here: nvidia-smi is not on PATH",
    rule="needs-gpu",
    signature="needs-gpu",
)


def needs_gpu_report() -> Report:
    before = gate(
        "before",
        step("ruff", StepStatus.PASSED, duration_s=0.2),
        step(
            "train",
            StepStatus.NEEDS_GPU,
            NEEDS,
            note="needs a GPU runner (nvidia-smi is not on PATH)",
            output="should not be shown",
        ),
    )
    return reports.report(
        status=Status.GAVE_UP,
        stop_reason=StopReason.NOTHING_TO_FIX,
        detail="only infra failures: no code change can fix these",
        gate_before=before,
        failures=[NEEDS],
    )


def test_a_report_built_from_a_gate_that_needs_a_gpu_says_so() -> None:
    report = needs_gpu_report()
    assert report.needs_gpu  # derived from the gate it was built with
    assert report.gate_before is not None and report.gate_before.needs_gpu
    assert not report.gate_before.green
    assert not reports.report(gate_before=reports.green_gate("before")).needs_gpu
    again = Report.model_validate_json(report.model_dump_json())
    assert again.needs_gpu and again == report


def test_needs_a_gpu_runner_is_said_under_the_status_and_in_the_gate() -> None:
    md = render_markdown(needs_gpu_report())
    lines = md.split("\n")
    assert lines[2] == (
        "> **Needs a GPU runner.** Not run: `train`: needs a GPU runner (nvidia-smi is not on"
        " PATH). The gate cannot be green on this runner; run selfheal on one with a GPU."
    )
    assert "| `train` | **needs a GPU runner** | not run |" in md
    assert "### GPU\n\nNo GPU on this runner.\n" in md
    assert "should not be shown" not in md  # it never ran: no log to fold
    assert "| infra | 1 |" in md


def test_the_agent_note_and_the_gpu_note_are_two_quotes() -> None:
    report = needs_gpu_report().model_copy(update={"agent_note": "scripted"})
    md = render_markdown(report)
    assert "> Note: scripted\n\n> **Needs a GPU runner.**" in md


def gpu_heal() -> Report:
    """A GPU step out of memory, then fixed, with its memory sampled each time."""
    oom = Failure(
        step="train",
        category=Category.GPU_OOM,
        message="OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        test_id="tests/test_train.py::test_step",
        signature="oom",
    )
    before = gate(
        "before",
        step(
            "train",
            StepStatus.FAILED,
            oom,
            duration_s=0.4,
            gpu=GpuUsage(devices=[0], peak_memory_mb=900, start_memory_mb=1, samples=1),
        ),
        step("ruff", StepStatus.PASSED, duration_s=0.2),
    ).model_copy(update={"gpus": [H100]})
    after = gate(
        "gate 1",
        step(
            "train",
            StepStatus.PASSED,
            duration_s=75.0,
            gpu=GpuUsage(devices=[0], peak_memory_mb=40_960, start_memory_mb=0, samples=150),
        ),
        step("ruff", StepStatus.PASSED, duration_s=0.3),
    ).model_copy(update={"gpus": [H100]})
    attempt = Attempt(number=1, verification=after, outcome="green", fixers=["command"])
    return reports.report(
        status=Status.HEALED,
        stop_reason=StopReason.GREEN,
        gate_before=before,
        failures=[oom],
        attempts=[attempt],
        gate_after=after,
    )


def test_gpu_section_lists_the_devices_and_each_gpu_steps_memory() -> None:
    md = render_markdown(gpu_heal())
    assert "| 0 | NVIDIA H100 80GB HBM3 | 550.54.15 | 12.4 | 81,559 MiB |" in md
    assert "| before | `train` | 0.4 s | 900 MiB | 1 MiB | 1 |" in md
    assert "| gate 1 | `train` | 1 min 15 s | 40,960 MiB | 0 MiB | 150 |" in md
    assert "| gpu-oom | 1 |" in md
    assert "Needs a GPU runner" not in md


def test_step_times_per_gate_run() -> None:
    md = render_markdown(gpu_heal())
    assert "### Step times" not in md  # one section for time: the gate runs lead it
    timings = md.split("### Timings\n\n", 1)[1]
    assert timings.startswith("| gate run | `train`")
    assert "| gate: " not in timings  # not the same runs twice
    table = next(t for t in tables(md) if t[0].startswith("| gate run | `train`"))
    assert table == [
        "| gate run | `train` | `ruff` | total |",
        "|---|---|---|---|",
        "| before | 0.4 s failed | 0.2 s | 0.6 s |",
        "| gate 1 | 1 min 15 s | 0.3 s | 1 min 15 s |",  # gate_after is gate 1: not twice
    ]
    # One gate run: the gate table says it all.
    assert "| gate run |" not in render_markdown(reports.green())


def test_step_times_show_steps_not_rerun_and_steps_needing_a_gpu() -> None:
    report = needs_gpu_report()
    check = gate("verify 1", step("ruff", StepStatus.FAILED, duration_s=1.0))
    report = report.model_copy(update={"attempts": [Attempt(number=1, verification=check)]})
    md = render_markdown(report)
    assert "| before | 0.2 s | not run (needs a GPU runner) | 0.2 s |" in md
    assert "| verify 1 | 1.0 s failed | - | 1.0 s |" in md


def experiment_report(healed: bool) -> Report:
    checks_before = [
        MetricCheck(threshold="accuracy >= 0.9", metric="accuracy", value=0.82, ok=False),
        MetricCheck(threshold="loss <= 0.35", metric="loss", value=0.3, ok=True),
    ]
    checks_after = [
        MetricCheck(threshold="accuracy >= 0.9", metric="accuracy", value=0.93, ok=True),
        MetricCheck(threshold="loss <= 0.35", metric="loss", value=0.31, ok=True),
    ]
    before = gate(
        "before",
        step(
            "train",
            StepStatus.FAILED,
            metrics={"accuracy": 0.82, "loss": 0.3, "epochs": 2.0},
            metric_checks=checks_before,
            run_ids=["a" * 32],
        ),
    )
    after = gate(
        "gate 1",
        step(
            "train",
            StepStatus.PASSED,
            metrics={"accuracy": 0.93, "loss": 0.31, "epochs": 4.0},
            metric_checks=checks_after,
            run_ids=["b" * 32, "c" * 32, "d" * 32, "e" * 32],
        ),
    )
    attempt = Attempt(number=1, verification=after, outcome="green" if healed else "failing")
    return reports.report(
        status=Status.HEALED if healed else Status.GAVE_UP,
        gate_before=before,
        attempts=[attempt],
        gate_after=after if healed else None,
    )


def test_metrics_before_and_after_with_their_thresholds_and_runs() -> None:
    md = render_markdown(experiment_report(healed=True))
    section = md.split("### Metrics\n\n", 1)[1].split("\n### ", 1)[0]
    assert section.split("\n\n")[0].split("\n") == [
        "| step | metric | required | before | after |",
        "|---|---|---|---|---|",
        "| `train` | accuracy | accuracy &gt;= 0.9 | 0.82 (missed) | 0.93 |",
        "| `train` | loss | loss &lt;= 0.35 | 0.3 | 0.31 |",
        "| `train` | epochs | - | 2 | 4 |",
    ]
    assert (
        f"- `train` runs: before: `{'a' * 32}`; after: `{'b' * 32}`, `{'c' * 32}`,"
        f" `{'d' * 32}`, and 1 more"
    ) in section


def test_metrics_after_a_fix_that_did_not_go_green_name_the_check() -> None:
    md = render_markdown(experiment_report(healed=False))
    assert "| `train` | accuracy | accuracy &gt;= 0.9 | 0.82 (missed) | 0.93 (gate 1) |" in md


def test_no_metrics_section_without_experiment_steps() -> None:
    md = render_markdown(reports.healed())
    assert "### Metrics" not in md and "### GPU" not in md


def test_gpu_tests_left_out_are_counted() -> None:
    before = gate("before", step("pytest", StepStatus.PASSED, gpu_tests_deselected=3))
    md = render_markdown(reports.report(gate_before=before))
    assert "No GPU on this runner.\n3 tests marked `gpu` left out: no GPU to run them." in md


def test_hostile_names_stay_in_their_cells() -> None:
    device = H100.model_copy(update={"name": HOSTILE, "driver_version": HOSTILE})
    before = gate(
        HOSTILE,
        step(
            "train",
            StepStatus.FAILED,
            metrics={HOSTILE: 1.0},
            metric_checks=[MetricCheck(threshold=HOSTILE, metric=HOSTILE, value=1.0, ok=False)],
            run_ids=[HOSTILE],
            gpu=GpuUsage(devices=[0], peak_memory_mb=1, samples=1),
        ),
        step("pytest", StepStatus.PASSED),
    ).model_copy(update={"gpus": [device]})
    md = render_markdown(reports.report(gate_before=before))
    assert_well_formed(md)
    assert "| 0 | pipe \\| here new line &lt;/details&gt;" in md
