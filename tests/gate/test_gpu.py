"""GPU detection and memory sampling: nvidia-smi's formats, CUDA_VISIBLE_DEVICES, a fake
nvidia-smi answering through real processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.gate import gpu
from bot.report import GpuDevice
from tests.fakes import nvidia_smi
from tests.fakes.nvidia_smi import H100

A100 = {**H100, "index": 1, "uuid": "GPU-8f1d2c3b-aaaa-bbbb-cccc-000000000001", "name": "A100"}


def with_path(bin_dir: Path) -> dict[str, str]:
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


# --- parsing nvidia-smi's output ----------------------------------------------------------


def test_parse_devices_reads_the_csv_nvidia_smi_prints() -> None:
    csv = (
        "0, GPU-3b3c1f4e-7a2d, NVIDIA H100 80GB HBM3, 550.54.15, 81559\n"
        "1, GPU-8f1d2c3b-aaaa, Tesla T4, [N/A], [Not Supported]\n"
        "garbage line\n"
    )
    first, second = gpu.parse_devices(csv, "12.4")
    assert first == GpuDevice(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        uuid="GPU-3b3c1f4e-7a2d",
        driver_version="550.54.15",
        cuda_version="12.4",
        memory_total_mb=81559,
    )
    assert (second.name, second.driver_version, second.memory_total_mb) == ("Tesla T4", None, None)


@pytest.mark.parametrize(
    ("banner", "expected"),
    [
        (
            "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |",
            "12.4",
        ),
        ("Driver Version                            : 566.36\nCUDA Version   : 12.7\n", "12.7"),
        ("| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: N/A |", None),
        ("", None),
    ],
)
def test_parse_cuda_version(banner: str, expected: str | None) -> None:
    assert gpu.parse_cuda_version(banner) == expected


def test_parse_memory_used() -> None:
    assert gpu.parse_memory_used("0, 1234\n1, 5\nbad\n2, [N/A]\n") == {0: 1234, 1: 5}


DEVICES = [
    GpuDevice(index=0, name="a", uuid="GPU-aaaa-1111"),
    GpuDevice(index=1, name="b", uuid="GPU-bbbb-2222"),
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, [0, 1]),  # unset: every GPU
        ("", []),
        ("-1", []),
        ("1", [1]),
        ("1,0", [1, 0]),
        ("0,7,1", [0]),  # CUDA stops at the first entry it cannot match
        ("GPU-bbbb", [1]),  # a UUID prefix
        ("NoDevFiles", []),
    ],
)
def test_visible_follows_cuda_visible_devices(value: str | None, expected: list[int]) -> None:
    assert [d.index for d in gpu.visible(DEVICES, value)] == expected


# --- asking a (fake) nvidia-smi -----------------------------------------------------------


def test_probe_reads_devices_and_the_cuda_version(tmp_path: Path) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", [H100, A100], cuda="12.4")
    found = gpu.probe(with_path(fake.bin_dir), tmp_path)
    assert found.reason == ""
    assert [(d.index, d.name, d.cuda_version) for d in found.devices] == [
        (0, "NVIDIA H100 80GB HBM3", "12.4"),
        (1, "A100", "12.4"),
    ]
    assert found.devices[0].memory_total_mb == 81559
    assert found.devices[0].driver_version == "550.54.15"
    assert [c["args"] for c in fake.calls()] == [list(gpu.DEVICE_QUERY[1:]), []]


def test_probe_without_nvidia_smi(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    found = gpu.probe({**os.environ, "PATH": str(empty)}, tmp_path)
    assert found.devices == []
    assert found.reason == "nvidia-smi is not on PATH"


def test_probe_when_nvidia_smi_cannot_reach_the_driver(tmp_path: Path) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", fail=nvidia_smi.DRIVER_FAILURE)
    found = gpu.probe(with_path(fake.bin_dir), tmp_path)
    assert found.devices == []
    assert found.reason.startswith("nvidia-smi failed (exit 9): NVIDIA-SMI has failed")


def test_probe_with_no_devices(tmp_path: Path) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", [])
    found = gpu.probe(with_path(fake.bin_dir), tmp_path)
    assert (found.devices, found.reason[:17]) == ([], "nvidia-smi failed")


def test_why_none() -> None:
    probe = gpu.GpuProbe(devices=DEVICES)
    assert gpu.why_none(probe, "") == "CUDA_VISIBLE_DEVICES='' hides every GPU"
    assert gpu.why_none(gpu.GpuProbe(reason="nvidia-smi is not on PATH"), None) == (
        "nvidia-smi is not on PATH"
    )


def test_sampler_keeps_the_peak_and_stops_with_the_step(tmp_path: Path) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", [H100, A100])
    fake.used_file.write_text("700")
    with gpu.MemorySampler([0], with_path(fake.bin_dir), tmp_path, interval=0.1) as sampler:
        time.sleep(0.5)
        fake.used_file.write_text("3000")
        time.sleep(0.5)
        fake.used_file.write_text("900")
        time.sleep(0.3)
    usage = sampler.usage()
    assert usage.devices == [0]
    assert usage.start_memory_mb == 700
    assert usage.peak_memory_mb == 3000
    assert usage.samples >= 5
    assert len(fake.memory_samples()) == usage.samples
    time.sleep(0.3)
    assert len(fake.memory_samples()) == usage.samples  # nothing samples after the step


def test_sampler_sums_the_devices_it_watches_and_gives_up_without_answers(
    tmp_path: Path,
) -> None:
    fake = nvidia_smi.install(tmp_path / "bin", [H100, {**A100, "memory.used": 50}])
    fake.used_file.write_text("100")
    with gpu.MemorySampler([0, 1], with_path(fake.bin_dir), tmp_path, interval=0.05) as both:
        time.sleep(0.2)
    assert both.usage().peak_memory_mb == 150
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    with gpu.MemorySampler([0], env, tmp_path, interval=0.01) as none:
        time.sleep(0.3)
    assert (none.usage().samples, none.usage().peak_memory_mb) == (0, None)
    assert not none._thread.is_alive()
