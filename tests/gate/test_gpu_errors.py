"""Triage of GPU failures: CUDA out of memory is gpu-oom, a driver that does not fit is infra."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate import gpu_errors
from bot.gate.kinds import step_failures
from bot.gate.runner import run_gate
from bot.gate.triage import classify_exception
from bot.proc import ProcessResult
from bot.report import Category
from tests.conftest import MakeRepo

NAMES = frozenset({"pkg", "tests"})
OOM = (
    "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 79.15 GiB "
    "of which 1.75 MiB is free. Including non-PyTorch memory, this process has 79.14 GiB memory "
    "in use."
)
OLD_OOM = (
    "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total capacity; "
    "12.34 GiB already allocated; 1.23 GiB free; 13.00 GiB reserved in total by PyTorch)"
)


@pytest.mark.parametrize(
    ("exc_type", "message", "expected"),
    [
        ("torch.cuda.OutOfMemoryError", OOM, Category.GPU_OOM),
        ("torch.OutOfMemoryError", OOM, Category.GPU_OOM),
        ("pkg.fakecuda.OutOfMemoryError", "", Category.GPU_OOM),
        ("RuntimeError", OLD_OOM, Category.GPU_OOM),
        ("RuntimeError", "CUDA error: out of memory", Category.GPU_OOM),
        (
            "XlaRuntimeError",
            "RESOURCE_EXHAUSTED: Out of memory while trying to allocate",
            Category.GPU_OOM,
        ),
        (
            "RuntimeError",
            "CUDA error: CUDA driver version is insufficient for CUDA runtime version",
            Category.INFRA,
        ),
        (
            "RuntimeError",
            "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU",
            Category.INFRA,
        ),
        (
            "RuntimeError",
            "The NVIDIA driver on your system is too old (found version 10020).",
            Category.INFRA,
        ),
        ("AssertionError", "Torch not compiled with CUDA enabled", Category.INFRA),
        (
            "RuntimeError",
            "Failed to initialize NVML: Driver/library version mismatch",
            Category.INFRA,
        ),
        ("MemoryError", "", Category.INFRA),  # the host's memory, not the GPU's
        ("RuntimeError", "out of memory in my own allocator", Category.ERROR),
    ],
)
def test_classify_gpu_failures(exc_type: str, message: str, expected: Category) -> None:
    assert classify_exception(exc_type, message, NAMES) is expected


def test_driver_problem_names_the_line() -> None:
    text = "loading model\nTHCudaCheck FAIL error=35 : CUDA driver version is insufficient for CUDA runtime version\nbye"
    assert gpu_errors.driver_problem(text) == (
        "THCudaCheck FAIL error=35 : CUDA driver version is insufficient for CUDA runtime version"
    )
    assert gpu_errors.driver_problem("all good") is None


def _result(output: str, code: int = 1) -> ProcessResult:
    return ProcessResult(argv=("x",), returncode=code, stdout=output, stderr="", duration_s=1.0)


def test_a_command_that_only_prints_a_driver_error_is_infra(tmp_path: Path) -> None:
    step = GateStep(name="bench", run=["./bench"])
    output = (
        "starting\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    (failure,), _ = step_failures(step, _result(output), None, tmp_path)
    assert (failure.category, failure.rule) == (Category.INFRA, "gpu-driver")
    assert failure.message.startswith("NVIDIA-SMI has failed")


def test_a_traceback_with_cuda_oom_is_gpu_oom(tmp_path: Path) -> None:
    step = GateStep(name="train", run=["python", "train.py"])
    output = (
        "Traceback (most recent call last):\n"
        '  File "train.py", line 3, in <module>\n'
        "    model(batch)\n"
        f"torch.OutOfMemoryError: {OOM}\n"
    )
    (failure,), _ = step_failures(step, _result(output), None, tmp_path)
    assert (failure.category, failure.rule) == (Category.GPU_OOM, "torch.OutOfMemoryError")


def test_a_driver_error_while_collecting_stays_infra(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(
        {
            "tests/test_cuda.py": """\
                raise AssertionError("Torch not compiled with CUDA enabled")

                def test_never():
                    pass
                """,
        },
        origin=False,
    )
    step = GateStep(name="tests", run=["pytest", "-p", "no:cacheprovider"], kind="pytest")
    (result,) = run_gate([step], repo, label="before", env=gate_env).steps
    (failure,) = result.failures
    assert (failure.category, failure.file) == (Category.INFRA, "tests/test_cuda.py")
