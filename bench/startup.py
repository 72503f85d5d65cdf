"""How long `selfheal gate` takes to start its first step, against a bare interpreter.

    python bench/startup.py [--repeat 15] [--variant NAME=SRC ...]

The gate's one step is `date +%s%N` writing the moment it started; the figure is that moment
minus the moment the command was started, median (and minimum) of --repeat runs, the
variants and a bare `python -c pass` taking turns. Beside it, the CPU time selfheal had used
when the step started (its parent's /proc/PID/schedstat), against a bare interpreter's whole
CPU time: on a busy machine the wall figure is mostly waiting for a core, the CPU one is not.
Also prints the ten slowest imports of `selfheal gate` (python -X importtime).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CONFIG = """\
gate:
  - name: stamp
    run: ["sh", "-c", "date +%s%N > {stamp}; cat /proc/$PPID/schedstat >> {stamp}"]
"""


def first_step_after(
    src: Path, repo: Path, stamp: Path, python: str = sys.executable, *, first: bool = False
) -> tuple[float, float]:
    """Seconds from starting `selfheal gate` to its first step's start, and selfheal's CPU
    seconds by then (the step's parent is selfheal itself). `first`: as its first run here,
    with a cache of its own (no record of the last run's steps to start ahead:
    bot.gate.head_start)."""
    stamp.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    if first:
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="selfheal-startup-cache-")
    start = time.time_ns()
    subprocess.run(
        [python, "-m", "bot", "gate", "--repo", str(repo)],
        cwd=src,
        env=env,
        capture_output=True,
        check=True,
    )
    started, schedstat = stamp.read_text().splitlines()
    return (int(started) - start) / 1e9, int(schedstat.split()[0]) / 1e9


def bare_python(python: str = sys.executable) -> tuple[float, float]:
    """A bare interpreter's wall and CPU seconds, start to exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([python, "-c", "pass"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def make_repo(root: Path) -> tuple[Path, Path]:
    """A committed repo under `root` whose gate's one step stamps its start; (repo, stamp)."""
    repo, stamp = root / "repo", root / "stamp"
    (repo / ".github").mkdir(parents=True)
    (repo / ".github" / "selfheal.yml").write_text(CONFIG.format(stamp=stamp))
    who = ["-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), *who, "commit", "-qm", "x"], check=True)
    return repo, stamp


def slowest_imports(src: Path, repo: Path, count: int = 10) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "gate", "--repo", str(repo)],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m[3]) <= 3:  # top-level and one below: where the time goes
            rows.append((int(m[2]), m[3] + m[4]))
    return sorted(rows, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC")
    args = parser.parse_args()
    variants = {"now": HERE} | {
        name: Path(src).resolve() for name, _, src in (v.partition("=") for v in args.variant)
    }
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # selfheal's own modules cached, as usual
    print(f"load average at the start: {os.getloadavg()}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="selfheal-startup-") as tmp:
        repo, stamp = make_repo(Path(tmp))
        firsts = {f"{name}, first run here": src for name, src in variants.items()}
        times: dict[str, list[tuple[float, float]]] = {
            name: [] for name in [*variants, *firsts, "python -c pass"]
        }
        for src in variants.values():
            first_step_after(src, repo, stamp)  # warm the pyc of selfheal itself
        for _ in range(args.repeat):
            for name, src in variants.items():
                times[name].append(first_step_after(src, repo, stamp))
            for name, src in firsts.items():
                times[name].append(first_step_after(src, repo, stamp, first=True))
            times["python -c pass"].append(bare_python())
        print(f"median (min) of {args.repeat} runs, in turn:")
        for name, values in times.items():
            what = "whole run" if name == "python -c pass" else "first step started after"
            wall, cpu = [v[0] for v in values], [v[1] for v in values]
            print(
                f"  [{name}] {what}: {statistics.median(wall):.3f}s ({min(wall):.3f}s) wall, "
                f"{statistics.median(cpu):.3f}s ({min(cpu):.3f}s) CPU   goal <= 0.100 s wall"
            )
        for name, src in variants.items():
            print(f"  [{name}] slowest imports (cumulative microseconds):")
            for micros, module in slowest_imports(src, repo):
                print(f"    {micros:>8}  {module}")
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
