"""The gate on GPU and experiment steps: real processes, real pytest, a fake nvidia-smi."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate.runner import run_gate
from bot.gate.steps import exclude_marker
from bot.report import Category, GateRun, StepResult, StepStatus
from tests.conftest import MakeRepo
from tests.fakes import nvidia_smi
from tests.fakes.nvidia_smi import H100, FakeNvidiaSmi

PY = sys.executable
A100 = {**H100, "index": 1, "uuid": "GPU-8f1d2c3b-0000", "name": "NVIDIA A100-SXM4-40GB"}


def only_step(run: GateRun) -> StepResult:
    (step,) = run.steps
    return step


@pytest.fixture
def fake_gpu(tmp_path: Path) -> FakeNvidiaSmi:
    return nvidia_smi.install(tmp_path / "gpu-bin")


@pytest.fixture
def cpu_env(gate_env: dict[str, str]) -> dict[str, str]:
    """The gate's environment on a runner with no GPU (whatever this machine has)."""
    return nvidia_smi.without_gpu(gate_env)


def with_gpu(env: dict[str, str], fake: FakeNvidiaSmi) -> dict[str, str]:
    return {**env, "PATH": f"{fake.bin_dir}{os.pathsep}{env['PATH']}"}


def holds_memory(fake: FakeNvidiaSmi) -> list[str]:
    """A step that takes 3000 MiB of GPU memory for 1.2 s, then gives it back."""
    code = textwrap.dedent(
        f"""
        import pathlib, time
        used = pathlib.Path({str(fake.used_file)!r})
        used.write_text("3000"); time.sleep(1.2); used.write_text("500")
        print("trained")
        """
    )
    return [PY, "-c", code]


# --- steps that require a GPU -------------------------------------------------------------


def test_a_gpu_step_runs_where_there_is_a_gpu_and_its_memory_is_sampled(
    tmp_path: Path, gate_env: dict[str, str], fake_gpu: FakeNvidiaSmi
) -> None:
    step = GateStep(name="train", run=holds_memory(fake_gpu), requires="gpu")
    run = run_gate([step], tmp_path, label="before", env=with_gpu(gate_env, fake_gpu))
    result = only_step(run)
    assert result.status is StepStatus.PASSED, result.output
    assert run.green and not run.needs_gpu
    (device,) = run.gpus
    assert (device.name, device.driver_version, device.cuda_version, device.memory_total_mb) == (
        "NVIDIA H100 80GB HBM3",
        "550.54.15",
        "12.4",
        81559,
    )
    assert result.gpu is not None
    assert result.gpu.devices == [0]
    assert result.gpu.peak_memory_mb == 3000
    assert result.gpu.samples >= 2
    assert result.duration_s >= 1.2
    sampled = len(fake_gpu.memory_samples())
    assert sampled == result.gpu.samples  # stopped with the step


@pytest.mark.parametrize("how", ["no nvidia-smi", "CUDA_VISIBLE_DEVICES=''", "-1", "driver"])
def test_without_a_gpu_the_step_is_not_run_and_not_green(
    tmp_path: Path, cpu_env: dict[str, str], how: str
) -> None:
    marker = tmp_path / "ran"
    step = GateStep(name="train", run=[PY, "-c", f"open({str(marker)!r}, 'w')"], requires="gpu")
    lint = GateStep(name="check", run=[PY, "-c", "pass"])
    env = dict(cpu_env)
    if how != "no nvidia-smi":
        fail = nvidia_smi.DRIVER_FAILURE if how == "driver" else None
        env = with_gpu(env, nvidia_smi.install(tmp_path / "bin", fail=fail))
    if how == "CUDA_VISIBLE_DEVICES=''":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif how == "-1":
        step = step.model_copy(update={"env": {"CUDA_VISIBLE_DEVICES": "-1"}})
    run = run_gate([lint, step], tmp_path, label="before", env=env)
    result = run.steps[1]
    assert result.status is StepStatus.NEEDS_GPU
    assert not marker.exists()
    assert not run.green and run.needs_gpu
    assert run.steps[0].status is StepStatus.PASSED
    (failure,) = result.failures
    assert (failure.category, failure.rule) == (Category.INFRA, "needs-gpu")
    assert result.note.startswith("needs a GPU runner (")
    expected = {
        "no nvidia-smi": "nvidia-smi is not on PATH",
        "CUDA_VISIBLE_DEVICES=''": "CUDA_VISIBLE_DEVICES='' hides every GPU",
        "-1": "CUDA_VISIBLE_DEVICES='-1' hides every GPU",
        "driver": "couldn't communicate with the NVIDIA driver",
    }[how]
    assert expected in result.note
    # The same step, twice: the same failure (the loop sees it as unchanged, never fixed).
    again = run_gate([step], tmp_path, label="again", env=env)
    assert only_step(again).failures[0].signature == failure.signature


def test_cuda_visible_devices_picks_the_gpus_sampled(
    tmp_path: Path, gate_env: dict[str, str]
) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", [H100, A100])
    step = GateStep(name="train", run=[PY, "-c", "import time; time.sleep(0.3)"], requires="gpu")
    env = {**with_gpu(gate_env, fake), "CUDA_VISIBLE_DEVICES": "1"}
    run = run_gate([step], tmp_path, label="before", env=env)
    result = only_step(run)
    assert result.status is StepStatus.PASSED
    assert [d.index for d in run.gpus] == [0, 1]  # what the runner has
    assert result.gpu is not None and result.gpu.devices == [1]  # what the step could use
    assert result.gpu.peak_memory_mb == 1


def test_steps_that_need_no_gpu_never_ask_nvidia_smi(
    tmp_path: Path, gate_env: dict[str, str], fake_gpu: FakeNvidiaSmi
) -> None:
    step = GateStep(name="check", run=[PY, "-c", "pass"])
    run = run_gate([step], tmp_path, label="before", env=with_gpu(gate_env, fake_gpu))
    assert run.green and run.gpus == [] and fake_gpu.calls() == []


# --- pytest's gpu marker ------------------------------------------------------------------

GPU_TESTS = {
    "pyproject.toml": """\
        [tool.pytest.ini_options]
        addopts = ["--strict-markers", "-p", "no:cacheprovider"]
        markers = ["gpu: needs a GPU", "slow: takes long"]
        """,
    "tests/test_model.py": """\
        import pytest

        def test_cpu():
            pass

        @pytest.mark.gpu
        def test_on_gpu():
            import os
            assert os.environ.get("HAS_GPU") == "1", "no GPU here"

        @pytest.mark.gpu
        class TestKernels:
            def test_kernel(self):
                import os
                assert os.environ.get("HAS_GPU") == "1", "no GPU here"

        @pytest.mark.slow
        def test_slow():
            raise AssertionError("slow tests are deselected by the user")
        """,
}


def test_on_a_cpu_runner_gpu_tests_are_deselected_and_counted(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    repo = make_repo(GPU_TESTS, origin=False)
    step = GateStep(name="tests", run=["pytest", "-m", "not slow"], kind="pytest")
    result = only_step(run_gate([step], repo, label="before", env=cpu_env))
    assert result.status is StepStatus.PASSED, result.output
    assert result.tests_run == 1  # test_cpu: not the gpu ones, not the slow one
    assert result.gpu_tests_deselected == 2
    assert result.note == (
        "2 tests marked gpu deselected: no GPU on this runner (nvidia-smi is not on PATH)"
    )
    assert result.argv == ["pytest", "-m", "not slow"]  # the user's command, as given


def test_the_users_addopts_marker_expression_is_kept(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    files = dict(GPU_TESTS)
    files["pyproject.toml"] = files["pyproject.toml"].replace(
        '"no:cacheprovider"]', '"no:cacheprovider", "-m", "not slow"]'
    )
    repo = make_repo(files, origin=False)
    step = GateStep(name="tests", run=["pytest"], kind="pytest")
    result = only_step(run_gate([step], repo, label="before", env=cpu_env))
    assert result.status is StepStatus.PASSED, result.output
    assert (result.tests_run, result.gpu_tests_deselected) == (1, 2)


def test_on_a_gpu_runner_gpu_tests_run(
    make_repo: MakeRepo, gate_env: dict[str, str], fake_gpu: FakeNvidiaSmi
) -> None:
    repo = make_repo(GPU_TESTS, origin=False)
    step = GateStep(name="tests", run=["pytest", "-m", "not slow"], kind="pytest")
    env = {**with_gpu(gate_env, fake_gpu), "HAS_GPU": "1"}
    result = only_step(run_gate([step], repo, label="before", env=env))
    assert result.status is StepStatus.PASSED, result.output
    assert (result.tests_run, result.gpu_tests_deselected, result.note) == (3, None, "")
    # Without the GPU they would fail: they did run.
    env["HAS_GPU"] = "0"
    failed = only_step(run_gate([step], repo, label="before", env=env))
    assert failed.status is StepStatus.FAILED
    assert len(failed.failures) == 2


def test_only_gpu_tests_on_a_cpu_runner_are_unverified(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    # Nothing left to run is no evidence: it used to pass.
    repo = make_repo(GPU_TESTS, origin=False)
    step = GateStep(name="tests", run=["pytest", "-m", "gpu"], kind="pytest")
    run = run_gate([step], repo, label="before", env=cpu_env)
    result = only_step(run)
    assert result.status is StepStatus.UNVERIFIED and not run.green
    assert result.note.startswith(
        "no tests were collected (pytest exit code 5); 2 tests marked gpu"
    )


def test_without_the_plugin_gpu_tests_are_still_left_out(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    repo = make_repo(GPU_TESTS, origin=False)
    # -E: PYTHONPATH is ignored, so selfheal's plugin cannot load; it runs again with -m.
    argv = [PY, "-E", "-m", "pytest", "-m", "not slow"]
    step = GateStep(name="tests", run=argv, kind="pytest")
    result = only_step(run_gate([step], repo, label="before", env=cpu_env))
    assert result.status is StepStatus.PASSED, result.output
    assert result.note == "selfheal's pytest plugin could not load; ran again with --junitxml"
    assert (result.tests_run, result.gpu_tests_deselected) == (1, None)  # count unknown


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pytest"], ["pytest", "-m", "not gpu"]),
        (["pytest", "-m", "not slow", "-q"], ["pytest", "-q", "-m", "(not slow) and not gpu"]),
        (["pytest", "-mfast", "-m", "smoke"], ["pytest", "-m", "(smoke) and not gpu"]),
        (
            ["python", "-m", "pytest", "-k", "x", "--", "-m"],
            ["python", "-m", "pytest", "-k", "x", "-m", "not gpu", "--", "-m"],
        ),
        (["pytest", "-m="], ["pytest", "-m", "not gpu"]),
    ],
)
def test_exclude_marker_without_the_plugin(argv: list[str], expected: list[str]) -> None:
    assert exclude_marker(argv, "gpu") == expected


# --- experiment steps ---------------------------------------------------------------------

TRAIN = """\
    import json, sys
    accuracy = float(sys.argv[1])
    print("run_id: 4b2e9c0d1f7a4e3b8c6d5a4f3e2d1c0b")
    json.dump({"accuracy": accuracy, "loss": 0.3}, open("out/metrics.json", "w"))
    """


def experiment(accuracy: str, **kw: object) -> GateStep:
    values: dict[str, object] = {
        "name": "train",
        "run": [PY, "train.py", accuracy],
        "metrics": "out/metrics.json",
        "thresholds": ["accuracy >= 0.9", "loss <= 0.35"],
        **kw,
    }
    return GateStep.model_validate(values)


def test_an_experiment_step_meeting_its_thresholds_passes(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"train.py": TRAIN, "out/.keep": ""}, origin=False)
    result = only_step(run_gate([experiment("0.93")], repo, label="before", env=gate_env))
    assert result.status is StepStatus.PASSED, result.output
    assert result.metrics == {"accuracy": 0.93, "loss": 0.3}
    assert [c.ok for c in result.metric_checks] == [True, True]
    assert result.run_ids == ["4b2e9c0d1f7a4e3b8c6d5a4f3e2d1c0b"]


def test_a_metric_below_its_threshold_fails_with_the_values(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"train.py": TRAIN, "out/.keep": ""}, origin=False)
    result = only_step(run_gate([experiment("0.82")], repo, label="before", env=gate_env))
    assert (result.status, result.exit_code) == (StepStatus.FAILED, 0)
    (failure,) = result.failures
    assert failure.category is Category.METRIC
    assert failure.message == "accuracy 0.82 < 0.9 (required: accuracy >= 0.9)"
    assert result.note == "a metric missed its threshold"
    assert result.metrics["accuracy"] == 0.82


def test_a_metrics_file_not_written_this_run_is_a_failure(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"train.py": TRAIN, "out/.keep": ""}, origin=False)
    run_gate([experiment("0.95")], repo, label="before", env=gate_env)  # leaves a good file
    quiet = experiment("0.95", run=[PY, "-c", "pass"])
    result = only_step(run_gate([quiet], repo, label="again", env=gate_env))
    assert result.status is StepStatus.FAILED
    (failure,) = result.failures
    assert (failure.category, failure.rule) == (Category.METRIC, "metrics-file")
    assert "was not rewritten by this run" in failure.message
    (repo / "out" / "metrics.json").unlink()
    result = only_step(run_gate([quiet], repo, label="again", env=gate_env))
    assert result.failures[0].message == "the step did not write its metrics file out/metrics.json"


def test_a_failing_experiment_step_keeps_its_own_failure(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"out/.keep": ""}, origin=False)
    step = experiment("0", run=[PY, "-c", "raise SystemExit('diverged: loss is nan')"])
    result = only_step(run_gate([step], repo, label="before", env=gate_env))
    assert result.status is StepStatus.FAILED
    assert [f.category for f in result.failures] == [Category.ERROR]
    assert result.metrics == {}
