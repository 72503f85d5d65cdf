"""A fake `nvidia-smi` for runners without a GPU: answers the queries selfheal makes, in the
real tool's CSV format and banner, from a JSON state file beside it.

    fake = install(bin_dir, gpus=[...])   # writes bin_dir/nvidia-smi and its state
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

`memory.used` of GPU 0 is read from `fake.used_file` (a step writes MiB there, the way a
training run would allocate); every call is appended to `fake.calls_file` with its time.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

H100 = {
    "index": 0,
    "uuid": "GPU-3b3c1f4e-7a2d-4d6e-9d57-1c0a5e2f9b11",
    "name": "NVIDIA H100 80GB HBM3",
    "driver_version": "550.54.15",
    "memory.total": 81559,
    "memory.used": 1,
}
CUDA_VERSION = "12.4"
DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)

# The script itself: standard library only, run by the interpreter running the tests.
_SCRIPT = """\
import json, sys, time
from pathlib import Path

here = Path(__file__).resolve().parent
state = json.loads((here / "nvidia-smi.json").read_text())
args = sys.argv[1:]
with open(here / "nvidia-smi.calls", "a") as log:
    log.write(json.dumps({"t": time.time(), "args": args}) + "\\n")
if state.get("fail"):
    print(state["fail"])
    sys.exit(9)
gpus = state["gpus"]
used = here / "nvidia-smi.used"
if used.exists() and gpus and used.read_text().strip():
    gpus[0]["memory.used"] = int(used.read_text().strip())
query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
if query is not None:
    fields = query.split(",")
    for field in fields:
        if field not in ("index", "uuid", "name", "driver_version", "memory.total", "memory.used"):
            print(f'Field "{field}" is not a valid field to query.')
            sys.exit(2)
    if not gpus:
        print("No devices were found")
        sys.exit(6)
    units = "nounits" not in "".join(args)
    for gpu in gpus:
        cells = []
        for field in fields:
            value = str(gpu[field])
            cells.append(value + " MiB" if units and field.startswith("memory.") else value)
        print(", ".join(cells))
elif not args:
    print(time.strftime("%a %b %d %H:%M:%S %Y"))
    print("+" + "-" * 89 + "+")
    print(
        f"| NVIDIA-SMI {state['driver']}              Driver Version: {state['driver']}"
        f"      CUDA Version: {state['cuda']}     |"
    )
    print("+" + "-" * 89 + "+")
    for gpu in gpus:
        print(f"|   {gpu['index']}  {gpu['name']:<30} On | {gpu['memory.used']}MiB / "
              f"{gpu['memory.total']}MiB |")
else:
    print(f"fake nvidia-smi does not know {args}")
    sys.exit(2)
"""


@dataclass(frozen=True)
class FakeNvidiaSmi:
    bin_dir: Path

    @property
    def used_file(self) -> Path:
        return self.bin_dir / "nvidia-smi.used"

    @property
    def calls_file(self) -> Path:
        return self.bin_dir / "nvidia-smi.calls"

    def calls(self) -> list[dict[str, Any]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def memory_samples(self) -> list[dict[str, Any]]:
        return [c for c in self.calls() if "--query-gpu=index,memory.used" in c["args"]]


def install(
    bin_dir: Path,
    gpus: list[dict[str, Any]] | None = None,
    *,
    cuda: str = CUDA_VERSION,
    fail: str | None = None,
) -> FakeNvidiaSmi:
    """Put a fake nvidia-smi in `bin_dir` (created), showing `gpus` (default: one H100)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shown = [dict(g) for g in (gpus if gpus is not None else [H100])]
    driver = shown[0]["driver_version"] if shown else "550.54.15"
    state = {"gpus": shown, "cuda": cuda, "driver": driver, "fail": fail}
    (bin_dir / "nvidia-smi.json").write_text(json.dumps(state), encoding="utf-8")
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!{sys.executable}\n{_SCRIPT}", encoding="utf-8")
    script.chmod(0o755)
    return FakeNvidiaSmi(bin_dir)


def without_gpu(env: dict[str, str]) -> dict[str, str]:
    """`env` with no nvidia-smi on its PATH (a runner with no GPU, even on one that has one)."""
    kept = [
        d
        for d in env.get("PATH", "").split(os.pathsep)
        if d and not (Path(d) / "nvidia-smi").exists()
    ]
    return {**env, "PATH": os.pathsep.join(kept)}
