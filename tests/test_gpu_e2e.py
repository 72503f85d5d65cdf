"""GPU and experiment gates end to end: the real `selfheal heal`, real git and pytest, a fake
nvidia-smi on PATH where a GPU should be, and agents that record whether they were called."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import heal, load, origin_branches, scripted, selfheal
from tests.conftest import MakeRepo
from tests.fakes import nvidia_smi
from tests.fakes.nvidia_smi import FakeNvidiaSmi

pytestmark = pytest.mark.slow

SMALLER_BATCH = {"path": "pkg/train.py", "old": "BATCH_SIZE = 4096", "new": "BATCH_SIZE = 1024"}
LONGER_TRAINING = {"path": "pkg/train.py", "old": "EPOCHS = 2", "new": "EPOCHS = 4"}


def cpu_env() -> dict[str, str]:
    """A runner with no GPU: our tools on PATH, and no nvidia-smi there."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return nvidia_smi.without_gpu({"PATH": path})


def gpu_env(fake: FakeNvidiaSmi) -> dict[str, str]:
    """A runner with one (fake) H100; the fixture's fake CUDA reports its memory to it."""
    env = cpu_env()
    return {
        "PATH": f"{fake.bin_dir}{os.pathsep}{env['PATH']}",
        "FAKE_GPU_MEMORY_FILE": str(fake.used_file),
    }


def recording_agent(marker: Path) -> str:
    """A command agent that only notes it was called."""
    code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('called')"
    return shlex.join([sys.executable, "-c", code])


def steps_of(gate: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in (gate or {}).get("steps", [])}


def report_md(repo: Path) -> str:
    return (repo / ".selfheal" / "report.md").read_text()


# --- 1. GPU present: the step runs, the report has the device and its memory --------------


def test_with_a_gpu_the_oom_is_healed_and_the_report_has_the_gpu(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(fixture="categories/gpu-oom")
    fake = nvidia_smi.install(tmp_path / "gpu-bin")
    agent = scripted(
        tmp_path, {"summary": "halve the memory: batch 1024", "edits": [SMALLER_BATCH]}
    )
    done = heal(repo, agent, env=gpu_env(fake))
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert (report["status"], report["needs_gpu"]) == ("healed", False)
    # 2. CUDA out of memory is its own category, and it went to the agent.
    assert [f["category"] for f in report["failures"]] == ["gpu-oom"]
    assert report["failures"][0]["rule"].endswith("OutOfMemoryError")
    assert report["attempts"][0]["agent"] == "command"
    assert report["proposal"]["branch"] in origin_branches(repo)
    (device,) = report["gate_before"]["gpus"]
    assert device == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": nvidia_smi.H100["uuid"],
        "driver_version": "550.54.15",
        "cuda_version": "12.4",
        "memory_total_mb": 81559,
    }
    after = steps_of(report["gate_after"])["gpu tests"]
    assert after["status"] == "passed"
    assert after["gpu"]["peak_memory_mb"] == 512  # 1024 samples at 0.5 MiB, while it trained
    assert after["gpu"]["samples"] >= 2
    assert after["duration_s"] >= 1.2
    md = report_md(repo)
    assert "### GPU" in md
    assert "| 0 | NVIDIA H100 80GB HBM3 | 550.54.15 | 12.4 | 81,559 MiB |" in md
    assert "512 MiB" in md
    assert "| gpu-oom | 1 |" in md
    assert "| gate run | `gpu tests` |" in md.split("### Timings", 1)[1]  # time per step per run


@pytest.mark.parametrize("runner", ["no nvidia-smi", "CUDA_VISIBLE_DEVICES=''"])
def test_without_a_gpu_the_step_needs_a_gpu_runner(
    make_repo: MakeRepo, tmp_path: Path, runner: str
) -> None:
    repo = make_repo(fixture="categories/gpu-oom")
    env = cpu_env()
    if runner != "no nvidia-smi":
        env = {**gpu_env(nvidia_smi.install(tmp_path / "gpu-bin")), "CUDA_VISIBLE_DEVICES": ""}
    marker = tmp_path / "agent-was-called"
    done = heal(repo, recording_agent(marker), env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["needs_gpu"] is True
    assert (report["status"], report["stop_reason"]) == ("gave_up", "nothing_to_fix")
    step = steps_of(report["gate_before"])["gpu tests"]
    assert step["status"] == "needs_gpu"
    assert step["tests_run"] is None and step["exit_code"] is None  # it never ran
    assert [f["category"] for f in report["failures"]] == ["infra"]
    assert not marker.exists()  # a GPU is not something an agent can write
    assert report["proposal"] is None
    assert origin_branches(repo) == ["main"]
    md = report_md(repo)
    assert "> **Needs a GPU runner.** Not run: `gpu tests`: needs a GPU runner (" in md
    assert "| `gpu tests` | **needs a GPU runner** |" in md


# --- 2. a driver that does not fit is infra: nobody's code to fix -------------------------


def test_a_driver_mismatch_is_infra_and_the_agent_is_not_called(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(fixture="categories/infra-driver")
    marker = tmp_path / "agent-was-called"
    done = heal(repo, recording_agent(marker), env=gpu_env(nvidia_smi.install(tmp_path / "bin")))
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert (report["status"], report["stop_reason"]) == ("gave_up", "nothing_to_fix")
    assert report["needs_gpu"] is False  # the GPU is there; its driver is the problem
    (failure,) = report["failures"]
    assert failure["category"] == "infra"
    assert "CUDA driver version is insufficient for CUDA runtime version" in failure["message"]
    assert report["attempts"] == []
    assert not marker.exists()


# --- 3. experiment metrics: below the threshold, then fixed ------------------------------


def test_a_metric_below_its_threshold_is_healed_and_shown_before_and_after(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(fixture="categories/metric")
    agent = scripted(tmp_path, {"summary": "train for 4 epochs", "edits": [LONGER_TRAINING]})
    done = heal(repo, agent, env=cpu_env())
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed"
    messages = sorted(f["message"] for f in report["failures"])
    assert messages == [
        "accuracy 0.82 < 0.9 (required: accuracy >= 0.9)",
        "loss 0.6 > 0.35 (required: loss <= 0.35)",
    ]
    assert {f["category"] for f in report["failures"]} == {"metric"}
    before = steps_of(report["gate_before"])["train"]
    after = steps_of(report["gate_after"])["train"]
    assert before["metrics"] == {"accuracy": 0.82, "loss": 0.6, "epochs": 2.0}
    assert after["metrics"] == {"accuracy": 0.99, "loss": 0.2, "epochs": 4.0}
    assert [c["ok"] for c in after["metric_checks"]] == [True, True]
    (run_before,) = before["run_ids"]
    (run_after,) = after["run_ids"]
    assert run_before != run_after
    md = report_md(repo)
    assert "### Metrics" in md
    assert "| `train` | accuracy | accuracy &gt;= 0.9 | 0.82 (missed) | 0.99 |" in md
    assert "| `train` | loss | loss &lt;= 0.35 | 0.6 (missed) | 0.2 |" in md
    assert "| `train` | epochs | - | 2 | 4 |" in md
    assert run_before in md and run_after in md
    # metrics.json is the step's output, ignored by the repo: not part of the fix.
    assert "metrics.json" not in (repo / ".selfheal" / "fix.patch").read_text()


def test_a_metric_that_stays_low_gives_up_with_category_metric(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(fixture="categories/metric")
    done = heal(repo, None, "--agent", "none", "--max-attempts", "1", env=cpu_env())
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    # Without an agent nothing can raise a metric: it stops at once and says an agent is needed.
    assert (report["status"], report["stop_reason"]) == ("gave_up", "needs_agent")
    assert {f["category"] for f in report["failures"]} == {"metric"}
    assert "| metric | 2 |" in report_md(repo)


def test_implementing_on_a_cpu_runner_stops_once_only_the_gpu_step_is_left(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """The agent does its one job; a step nobody can run here does not earn it more turns."""
    repo = make_repo(fixture="categories/gpu-oom")
    calls = tmp_path / "calls"
    code = (
        f"import pathlib; p = pathlib.Path({str(calls)!r}); "
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); "
        "pathlib.Path('NOTES.md').write_text('The training module trains.\\n')"
    )
    issue = tmp_path / "issue.md"
    issue.write_text("# Add a docstring\n\nDocument the training module.\n")
    done = selfheal(
        "implement",
        "--repo",
        str(repo),
        "--issue-file",
        str(issue),
        "--max-attempts",
        "3",
        "--agent",
        "command",
        "--agent-command",
        shlex.join([sys.executable, "-c", code]),
        env=cpu_env(),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert calls.read_text() == "x"  # called once, not three times
    assert (report["status"], report["stop_reason"]) == ("gave_up", "nothing_to_fix")
    assert "only infra failures are left" in report["detail"]
    assert report["needs_gpu"] is True
