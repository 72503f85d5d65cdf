"""Benchmark: selfheal's overhead on a green gate, and the cost of one verification.

    python bench/gate_overhead.py [--tests 2000] [--repeat 3]

The project under test gets its own venv with only pytest and ruff (as in the Action,
where selfheal's own dependencies never enter the project's environment); pass
--project-python to use an existing interpreter instead.

1. A green repo of N tests: `selfheal gate` against the same steps run directly, both
   sequentially (as a CI script runs them) and concurrently (as selfheal runs them).
2. The same repo with 1 test broken: one verification (re-running only the failing test
   and the step it failed in) against a full gate run.
Prints wall-time medians (and minimums), the ratios, selfheal's fixed overhead in seconds,
and the CPU time of all the processes each way (the steadiest figure on a busy machine),
all measured side by side in this one run; the three ways of running the green gate take
turns, so a machine that slows down mid-run slows all three alike.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from perf_table import project_python  # bench/, the script's own dir

from bot.config import GateStep
from bot.gate.runner import rerun_plan, run_gate
from bot.proc import scrubbed_env

FILES = 20


def build_repo(root: Path, tests: int) -> Path:
    """A package with `tests` passing tests spread over FILES files, committed to git."""
    repo = root / "bench-repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\nversion = "0"\n\n[tool.ruff]\nline-length = 88\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    (repo / "pkg" / "__init__.py").write_text("")
    per_file = tests // FILES
    for i in range(FILES):
        (repo / "pkg" / f"mod{i}.py").write_text(f"def f{i}(x: int) -> int:\n    return x + {i}\n")
        body = [f"from pkg.mod{i} import f{i}\n"]
        body += [
            f"\n\ndef test_{i}_{j}() -> None:\n    assert f{i}({j}) == {j + i}\n"
            for j in range(per_file)
        ]
        (repo / "tests" / f"test_mod{i}.py").write_text("".join(body))
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


PROJECT_PYTHON = sys.executable


def steps() -> list[GateStep]:
    python = PROJECT_PYTHON
    return [
        GateStep(name="ruff", kind="ruff", run=[python, "-m", "ruff", "check", "."]),
        GateStep(
            name="ruff format",
            kind="ruff-format",
            run=[python, "-m", "ruff", "format", "--check", "."],
        ),
        GateStep(
            name="pytest",
            kind="pytest",
            run=[python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        ),
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_in_turn(
    fns: dict[str, Callable[[], object]], repeat: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall times and CPU times (of the processes each started, and theirs) of each
    function, `repeat` times, the functions taking turns."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start, used = time.perf_counter(), _children_cpu()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - used)
    return wall, cpu


def run_direct(repo: Path, concurrently: bool) -> None:
    def one(step: GateStep) -> None:
        subprocess.run(step.run, cwd=repo, capture_output=True, check=False)

    if concurrently:
        with ThreadPoolExecutor(len(steps())) as pool:
            list(pool.map(one, steps()))
    else:
        for step in steps():
            one(step)


def run_selfheal_gate(repo: Path, config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "gate", "--repo", str(repo), "--config", str(config)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"selfheal gate failed on the green repo:\n{done.stdout.decode()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--project-python",
        help="interpreter with pytest and ruff for the project (default: a new venv)",
    )
    args = parser.parse_args()
    global PROJECT_PYTHON  # noqa: PLW0603 - set once, before any step is built
    with tempfile.TemporaryDirectory(prefix="selfheal-bench-") as tmp:
        PROJECT_PYTHON = args.project_python or project_python(Path(tmp))
        repo = build_repo(Path(tmp), args.tests)
        config = Path(tmp) / "selfheal.yml"
        config.write_text(
            "gate:\n"
            + "".join(
                f"  - {{name: {s.name!r}, kind: {s.kind}, run: {s.run!r}}}\n" for s in steps()
            )
        )
        run_direct(repo, concurrently=False)  # warm caches (pyc, ruff cache) before any timing
        green, green_cpu = timed_in_turn(
            {
                "sequential": lambda: run_direct(repo, concurrently=False),
                "concurrent": lambda: run_direct(repo, concurrently=True),
                "selfheal": lambda: run_selfheal_gate(repo, config),
            },
            args.repeat,
        )
        sequential, concurrent, selfheal = (statistics.median(v) for v in green.values())
        fastest = {name: min(v) for name, v in green.items()}
        cpu = {name: statistics.median(v) for name, v in green_cpu.items()}

        broken = repo / "pkg" / "mod7.py"
        broken.write_text("def f7(x: int) -> int:\n    return x + 7 if x != 3 else 0\n")
        env = scrubbed_env()
        full_runs: list[float] = []
        verify_runs: list[float] = []
        failures = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            gate = run_gate(steps(), repo, label="full", env=env)
            full_runs.append(time.perf_counter() - start)
            failures = gate.failures
            only, selection = rerun_plan(failures, steps())
            start = time.perf_counter()
            verify = run_gate(
                steps(), repo, label="verify", env=env, only=only, selection=selection
            )
            verify_runs.append(time.perf_counter() - start)
        assert len(failures) == 1, f"expected exactly one failing test, got {len(failures)}"
        assert verify.steps[0].tests_run == 1, "verification should re-run exactly the failing test"
        full, one = statistics.median(full_runs), statistics.median(verify_runs)

    print(
        f"project interpreter: {PROJECT_PYTHON if args.project_python else 'a fresh venv with pytest and ruff'}"
    )
    print(f"green gate, {args.tests} tests (median of {args.repeat}; min in brackets):")
    print(f"  direct, sequential   {sequential:7.3f}s  ({fastest['sequential']:.3f}s)")
    print(f"  direct, concurrent   {concurrent:7.3f}s  ({fastest['concurrent']:.3f}s)")
    print(f"  selfheal gate        {selfheal:7.3f}s  ({fastest['selfheal']:.3f}s)")
    print(
        f"  overhead vs concurrent direct: {selfheal / concurrent - 1:+.1%}  (ratio {selfheal / concurrent:.3f}; target < +5%)"
    )
    print(
        f"  fixed overhead: {selfheal - concurrent:+.3f}s median, "
        f"{fastest['selfheal'] - fastest['concurrent']:+.3f}s min"
    )
    # CPU time hardly depends on what else the machine is doing: the overhead's steadiest figure.
    print(
        f"  CPU time (all processes): direct {cpu['concurrent']:.3f}s, selfheal "
        f"{cpu['selfheal']:.3f}s ({cpu['selfheal'] - cpu['concurrent']:+.3f}s)"
    )
    print(f"  ratio vs sequential direct:    {selfheal / sequential:.3f}")
    print(f"1 of {args.tests} tests failing (median of {args.repeat}):")
    print(f"  full gate            {full:7.3f}s")
    print(f"  one verification     {one:7.3f}s   (failing test: {failures[0].test_id})")
    print(f"  verification / full gate: {one / full:.1%}  (target < 15%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
