"""GPUs on this runner: what nvidia-smi shows, which a step may use, and its memory while it runs.

Every nvidia-smi call goes through `bot.proc.run_process`; the parsers are pure.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bot.proc import run_process
from bot.report import GpuDevice, GpuUsage

NVIDIA_SMI = "nvidia-smi"
QUERY_TIMEOUT_S = 10.0
SAMPLE_INTERVAL_S = 0.5
SAMPLE_TIMEOUT_S = 5.0
_GIVE_UP_AFTER = 3  # failed samples in a row: nvidia-smi stopped answering, stop asking

# index and uuid come first: CUDA_VISIBLE_DEVICES names GPUs by either.
DEVICE_QUERY = (
    NVIDIA_SMI,
    "--query-gpu=index,uuid,name,driver_version,memory.total",
    "--format=csv,noheader,nounits",
)
MEMORY_QUERY = (NVIDIA_SMI, "--query-gpu=index,memory.used", "--format=csv,noheader,nounits")
# --query-gpu has no CUDA version field; the banner of plain `nvidia-smi` shows it.
BANNER_QUERY = (NVIDIA_SMI,)
_CUDA_VERSION = re.compile(r"CUDA Version\s*:\s*(?P<version>\d+(?:\.\d+)*)")
_MISSING = frozenset({"", "[N/A]", "N/A", "[Not Supported]", "[Unknown Error]"})


@dataclass(frozen=True)
class GpuProbe:
    """What nvidia-smi said: the GPUs (none: `reason` says why)."""

    devices: list[GpuDevice] = field(default_factory=list)
    reason: str = ""


def _value(text: str) -> str | None:
    text = text.strip()
    return None if text in _MISSING else text


def _int(text: str) -> int | None:
    value = _value(text)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def parse_devices(csv: str, cuda_version: str | None = None) -> list[GpuDevice]:
    """Devices from DEVICE_QUERY's CSV lines ("0, GPU-1234, NVIDIA H100, 550.54.15, 81559")."""
    devices = []
    for line in csv.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5:
            continue
        # A name with a comma in it (none known, but the format allows it) keeps its pieces.
        index, uuid, name, driver, memory = cells[0], cells[1], ", ".join(cells[2:-2]), *cells[-2:]
        number = _int(index)
        if number is None:
            continue
        devices.append(
            GpuDevice(
                index=number,
                name=_value(name) or "unknown GPU",
                uuid=_value(uuid),
                driver_version=_value(driver),
                cuda_version=cuda_version,
                memory_total_mb=_int(memory),
            )
        )
    return devices


def parse_cuda_version(banner: str) -> str | None:
    """The CUDA version in nvidia-smi's banner ("| NVIDIA-SMI 550.54.15  Driver Version: ...
    CUDA Version: 12.4 |") or in `nvidia-smi -q` ("CUDA Version : 12.4")."""
    found = _CUDA_VERSION.search(banner)
    return found.group("version") if found else None


def parse_memory_used(csv: str) -> dict[int, int]:
    """index -> MiB used, from MEMORY_QUERY's CSV lines ("0, 1234")."""
    used: dict[int, int] = {}
    for line in csv.splitlines():
        cells = line.split(",")
        if len(cells) != 2:
            continue
        index, mib = _int(cells[0]), _int(cells[1])
        if index is not None and mib is not None:
            used[index] = mib
    return used


def probe(env: Mapping[str, str], cwd: Path) -> GpuProbe:
    """Ask nvidia-smi (on `env`'s PATH) which GPUs this machine has."""
    result = run_process(DEVICE_QUERY, cwd, env=env, timeout=QUERY_TIMEOUT_S)
    if result.start_error is not None:
        return GpuProbe(reason=f"{NVIDIA_SMI} is not on PATH")
    if result.timed_out:
        return GpuProbe(reason=f"{NVIDIA_SMI} did not answer in {QUERY_TIMEOUT_S:g} s")
    if result.returncode != 0:
        said = next((s.strip() for s in result.output.splitlines() if s.strip()), "")
        return GpuProbe(reason=f"{NVIDIA_SMI} failed (exit {result.returncode}): {said[:200]}")
    banner = run_process(BANNER_QUERY, cwd, env=env, timeout=QUERY_TIMEOUT_S)
    cuda = parse_cuda_version(banner.stdout) if banner.ok else None
    devices = parse_devices(result.stdout, cuda)
    return GpuProbe(devices, "" if devices else f"{NVIDIA_SMI} lists no GPU")


def visible(devices: Sequence[GpuDevice], cuda_visible_devices: str | None) -> list[GpuDevice]:
    """The devices a process sees under CUDA_VISIBLE_DEVICES (unset: all; "" or "-1": none).

    Like CUDA, it reads indices or UUID prefixes up to the first entry it cannot match.
    (CUDA numbers devices fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID; nvidia-smi's
    indices are in PCI order: on mixed machines a number may name another GPU.)
    """
    if cuda_visible_devices is None:
        return list(devices)
    chosen: list[GpuDevice] = []
    for entry in (e.strip() for e in cuda_visible_devices.split(",")):
        if entry.isdigit():
            match = next((d for d in devices if d.index == int(entry)), None)
        elif entry.startswith(("GPU-", "MIG-")):
            match = next((d for d in devices if d.uuid and d.uuid.startswith(entry)), None)
        else:
            match = None
        if match is None:
            break
        if match not in chosen:
            chosen.append(match)
    return chosen


def why_none(probe_result: GpuProbe, cuda_visible_devices: str | None) -> str:
    """Why a step sees no GPU, in a few words."""
    if probe_result.devices and cuda_visible_devices is not None:
        return f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} hides every GPU"
    return probe_result.reason or "no GPU found"


class MemorySampler:
    """Samples GPU memory used (MEMORY_QUERY) every SAMPLE_INTERVAL_S while a step runs.

    Use as a context manager around the step; `usage()` afterwards. Memory is device-wide:
    another process on the same GPU (or another step of the gate) counts too.
    """

    def __init__(
        self,
        devices: Sequence[int],
        env: Mapping[str, str],
        cwd: Path,
        interval: float = SAMPLE_INTERVAL_S,
    ) -> None:
        self.devices = list(devices)
        self.env = dict(env)
        self.cwd = cwd
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-memory", daemon=True)

    def _sample(self) -> bool:
        result = run_process(MEMORY_QUERY, self.cwd, env=self.env, timeout=SAMPLE_TIMEOUT_S)
        used = parse_memory_used(result.stdout) if result.ok else {}
        mine = [used[i] for i in self.devices if i in used]
        if not mine:
            return False
        self.samples.append(sum(mine))
        return True

    def _run(self) -> None:
        failed = 0
        while not self._stop.is_set():
            failed = 0 if self._sample() else failed + 1
            if failed >= _GIVE_UP_AFTER:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        # A sample under way finishes (at most SAMPLE_TIMEOUT_S); none starts after this.
        self._thread.join(SAMPLE_TIMEOUT_S + 1)

    def usage(self) -> GpuUsage:
        return GpuUsage(
            devices=self.devices,
            peak_memory_mb=max(self.samples) if self.samples else None,
            start_memory_mb=self.samples[0] if self.samples else None,
            samples=len(self.samples),
        )
