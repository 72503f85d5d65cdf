"""Benchmark: what a heal's workspace costs against the number of files in the repository.

    python bench/workspace_cost.py [--sizes 500,1000,10000,50000] [--repeat 3]

For each size a generated repository (cached under the temp dir) is opened as the fix loop
opens it, snapshotted once (as each attempt does), reset to its base (as the final
verification does) and closed, in each mode:

- copy: a developer's machine; the base is checked out into a new work tree.
- adopt: GitHub Actions (GITHUB_ACTIONS=true and the repository is $GITHUB_WORKSPACE); the
  disposable checkout is the work tree and its .git is moved out of reach for the run.

Prints the median seconds per phase and in all, and the ratio of the largest size to the
smallest, for both modes side by side in one run. With --heal it also times a whole
`selfheal heal` of a trivial bug in each repository and mode (a scripted agent fixes it; the
gate is one command checking the fix, so the gate itself costs next to nothing and the figure
is selfheal's own cost): the figure issue 13 asks for.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.forge.workspace import open_workspace

PER_DIR = 100


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def build_repo(root: Path, files: int) -> Path:
    """A committed package of `files` small modules, PER_DIR to a directory (made once)."""
    repo = root / f"repo-{files}"
    if (repo / ".git" / "selfheal-bench-done").exists():
        return repo
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    repo.mkdir(parents=True)
    (repo / ".gitignore").write_text("__pycache__/\n.venv/\n*.so\n_version.py\n")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("from pkg._version import VERSION\n")
    (repo / "pkg" / "_version.py").write_text("VERSION = '1.0'\n")  # generated, ignored
    for index in range(files - 2):
        folder = repo / "pkg" / f"m{index // PER_DIR:04d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{index % PER_DIR:03d}.py").write_text(f"VALUE = {index}\n" * 5)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "files")
    (repo / ".git" / "selfheal-bench-done").write_text("")
    return repo


BUG = {
    "calc/__init__.py": "",
    "calc/ops.py": "def clamp(value, low, high):\n    return max(low, min(value, low))\n",
    "tests/test_ops.py": (
        "from calc.ops import clamp\n\n\ndef test_inside():\n    assert clamp(5, 0, 10) == 5\n"
    ),
    "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
    # A gate that costs next to nothing (pytest alone takes seconds on a busy machine, and
    # its noise would hide the workspace's cost): the check the one test makes, as a command.
    ".github/selfheal.yml": (
        "gate:\n  - name: clamp\n    kind: command\n"
        "    run: grep -q 'min(value, high)' calc/ops.py\n"
    ),
}
FIX = {"path": "calc/ops.py", "old": "min(value, low)", "new": "min(value, high)"}


def add_bug(repo: Path) -> None:
    """One more commit: a small package with one failing test, and a gate of one command."""
    if (repo / ".git" / "selfheal-bench-bug-2").exists():
        return
    for name, text in BUG.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(
        repo, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "a bug", "--allow-empty"
    )
    (repo / ".git" / "selfheal-bench-bug-2").write_text("")


def one_cli_heal(repo: Path, adopt: bool, scratch: Path) -> float:
    """Seconds of `selfheal heal` of the bug, from the command to its exit (healed)."""
    script = scratch / "agent.json"
    script.write_text(json.dumps({"attempts": [{"summary": "high", "edits": [FIX]}]}))
    agent = shlex.join([sys.executable, "-m", "bot.agent.scripted", str(script)])
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_WORKSPACE")}
    if adopt:
        env |= {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repo)}
    argv = [sys.executable, "-m", "bot", "heal", "--repo", str(repo), "--agent", "command"]
    argv += ["--agent-command", agent + " {prompt_file}", "--report-dir", str(scratch / "r")]
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    report = json.loads((scratch / "r" / "report.json").read_text())
    if done.returncode != 0 or report["status"] != "healed":
        raise SystemExit(f"heal of {repo} did not heal: {done.stdout}{done.stderr}")
    return took


@contextmanager
def actions_env(repo: Path, on: bool) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in ("GITHUB_ACTIONS", "GITHUB_WORKSPACE")}
    if on:
        os.environ |= {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repo)}
    else:
        for name in saved:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def one_heal(repo: Path, adopt: bool) -> dict[str, float]:
    """Seconds per workspace phase of one heal (open, one attempt's snapshot, reset, close)."""
    times: dict[str, float] = {}
    with actions_env(repo, adopt):
        t0 = time.perf_counter()
        ws = open_workspace(repo)
        t1 = time.perf_counter()
        try:
            mode = getattr(ws, "mode", "copy")
            if mode != ("adopt" if adopt else "copy"):
                raise SystemExit(f"asked for {'adopt' if adopt else 'copy'}, got {mode}")
            ws.attempt_diff()
            t2 = time.perf_counter()
            ws.reset_to(ws.base_sha)
            t3 = time.perf_counter()
        finally:
            ws.close()
        t4 = time.perf_counter()
    times |= {"open": t1 - t0, "attempt": t2 - t1, "reset": t3 - t2, "close": t4 - t3}
    times["total"] = t4 - t0
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,10000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="copy,adopt")
    parser.add_argument("--heal", action="store_true", help="also time whole heals")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    root = Path(tempfile.gettempdir()) / "selfheal-bench-workspace"
    repos = {n: build_repo(root, n) for n in sizes}
    if args.heal:
        for repo in repos.values():
            add_bug(repo)
    medians: dict[tuple[str, int], dict[str, float]] = {}
    for n in sizes:
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for _ in range(args.repeat):
            for mode in modes:  # taking turns: a machine that slows down slows both
                times = one_heal(repos[n], mode == "adopt")
                if args.heal:
                    with tempfile.TemporaryDirectory() as scratch:
                        times["heal"] = one_cli_heal(repos[n], mode == "adopt", Path(scratch))
                runs[mode].append(times)
        for mode in modes:
            medians[mode, n] = {
                phase: statistics.median(r[phase] for r in runs[mode]) for phase in runs[mode][0]
            }
    phases = ["open", "attempt", "reset", "close", "total"] + (["heal"] if args.heal else [])
    print(f"workspace cost per heal, median of {args.repeat}, seconds (cpus: {os.cpu_count()})")
    print(f"{'files':>7} " + " ".join(f"{m + ' ' + p:>14}" for m in modes for p in phases))
    for n in sizes:
        cells = [f"{medians[m, n][p]:14.3f}" for m in modes for p in phases]
        print(f"{n:>7} " + " ".join(cells))
    small, big = min(sizes), max(sizes)
    for mode in modes:
        for figure in ("total", "heal") if args.heal else ("total",):
            big_s, small_s = medians[mode, big][figure], medians[mode, small][figure]
            print(
                f"{mode}: {'workspace' if figure == 'total' else 'selfheal heal'} "
                f"{big} files / {small} files = {big_s / small_s:.2f}x ({big_s - small_s:+.2f} s)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
