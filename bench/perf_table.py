"""Every figure of the performance table, side by side in one run, against the direct commands.

    python bench/perf_table.py [--tests 50000] [--small 470] [--runs 5]
        [--files 1000,10000,50000] [--variant NAME=SRC ...]
        [--only startup,gate,heal,files,suite]

The whole table, as issue 13 asks for it (about an hour on 2 idle cores; run nothing else):

    python bench/perf_table.py --tests 50000 --runs 5 --only startup,gate,heal,files,suite

A quick check that every figure still comes out (a few minutes):

    python bench/perf_table.py --tests 2000 --small 200 --runs 1 --files 1000

Each figure is a ratio of medians over `--runs` runs that take turns (a machine that slows
down mid-run slows every contender alike); the end is one table of every figure, side by side
with its goal, to paste into a note:

  start-up                `selfheal gate`'s first step started after (s), and a bare
                          `python -c pass` (bench/startup.py)

  gate big / gate small   `selfheal gate` / the same three steps (ruff, ruff format, pytest)
                          run directly and concurrently, as a CI script would; in wall time,
                          and in CPU time (user + system of every process, selfheal's own
                          included): the steadier figure on a VM whose speed drifts
  heal / full gate        `selfheal heal` of 1 failing test in the big project (a command
                          agent writes the fix) / one full direct gate run: with nothing that
                          names the test (a later commit changed something else; the failing
                          test first in pytest's order, halfway through it, or last), the red
                          commit itself on top (its module's tests are the suspects), given
                          the failing test (`--tests ID`, as when the CI log names it), and
                          after the developer's own red pytest run (its lastfailed record)
  parallel / slowest      `selfheal gate`'s wall time / its slowest step's own duration
  heal vs files           a heal of a trivial bug in repositories of 500 and --files files;
                          the workspace's checkout (open_workspace) timed on its own beside;
                          the repository's first heal (a temp dir with no work tree
                          kept by an earlier heal: bot.forge.kept_trees); and the heal on
                          GitHub Actions, where the checkout is the work tree (bot.forge.adopt)
  own suite               selfheal's tests on 2 cores (taskset to CPUs 0 and 1, -n 2, spread
                          as .ci/run does), wall minutes; only with `suite` in --only

`--variant NAME=SRC` runs selfheal from another source tree (e.g. a `git archive` of an older
commit) beside this one, so before and after come from the same run on the same machine.
The project gets its own venv with only pytest and ruff, as in the Action; pass
--project-python to use an existing interpreter instead. selfheal runs from a venv of its own
dependencies (not selfheal itself: each variant's source comes first on PYTHONPATH), as an
install has it; a development venv's editable install adds an import hook to every start
(about 12 ms here) that no installed selfheal pays. Pass --selfheal-python to use another. Run nothing else meanwhile, and
read the load average printed at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
SELFHEAL_PYTHON = sys.executable  # the interpreter selfheal runs on (main() sets it)
TESTS_PER_FILE = 1000
BROKEN_LINE = "    return x + {i}\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def build_project(root: Path, name: str, tests: int, extra_files: int = 0) -> Path:
    """A package with `tests` passing tests (TESTS_PER_FILE a file) and `extra_files` more
    committed files that no step reads (the size of a real repository), committed."""
    repo = root / name
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "pkg"\nversion = "0"\n\n[tool.ruff]\nline-length = 88\n'
        'extend-exclude = ["data"]\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
    )
    (repo / "pkg" / "__init__.py").write_text("")
    files = max(1, -(-tests // TESTS_PER_FILE))
    for i in range(files):
        count = min(TESTS_PER_FILE, tests - i * TESTS_PER_FILE)
        (repo / "pkg" / f"mod{i}.py").write_text(
            f"def f{i}(x: int) -> int:\n" + BROKEN_LINE.format(i=i)
        )
        body = [f"from pkg.mod{i} import f{i}\n"]
        body += [
            f"\n\ndef test_{i}_{j}() -> None:\n    assert f{i}({j}) == {j + i}\n"
            for j in range(count)
        ]
        (repo / "tests" / f"test_mod{i}.py").write_text("".join(body))
    for k in range(extra_files):
        where = repo / "data" / f"d{k // 1000}"
        where.mkdir(parents=True, exist_ok=True)
        (where / f"f{k}.txt").write_text(f"record {k}\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bench")
    return repo


def break_one_test(repo: Path, where: float = 0.0) -> tuple[str, Path]:
    """Make test_I_3 fail (fI(3) returns 0) and commit it; (its node id, a fix script).
    `where` places its file in pytest's order: 0.0 first, 0.5 halfway through the run."""
    files = sorted(p.name for p in (repo / "tests").glob("test_mod*.py"))  # pytest's order
    i = int(files[min(int(where * len(files)), len(files) - 1)][len("test_mod") : -len(".py")])
    mod = repo / "pkg" / f"mod{i}.py"
    good = mod.read_text()
    mod.write_text(good.replace(f"return x + {i}", f"return x + {i} if x != 3 else 0"))
    git(repo, "commit", "-qam", f"break f{i}(3)")
    fix = repo.parent / f"{repo.name}-fix.py"
    fix.write_text(f"import pathlib\npathlib.Path('pkg/mod{i}.py').write_text({good!r})\n")
    return f"tests/test_mod{i}.py::test_{i}_3", fix


LAST_FAILED = Path(".pytest_cache/v/cache/lastfailed")


def last_failed_record(repo: Path, python: str, test_id: str) -> bytes:
    """What pytest itself writes in the checkout when the developer's run goes red (the
    failing test's file run with pytest's cache on), taken out of the checkout again."""
    test_file = test_id.split("::", maxsplit=1)[0]
    subprocess.run(
        [python, "-m", "pytest", "-q", test_file], cwd=repo, capture_output=True, check=False
    )
    record = (repo / LAST_FAILED).read_bytes()
    assert test_id in record.decode(), record
    (repo / LAST_FAILED).unlink()
    return record


def venv_with(where: Path, packages: list[str]) -> str:
    """A new venv at `where` with `packages` installed; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = str(where / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    return python


def project_python(root: Path) -> str:
    """A venv for the project with the same pytest and ruff versions selfheal has."""
    from importlib.metadata import version

    pins = [f"pytest=={version('pytest')}", f"ruff=={version('ruff')}"]
    return venv_with(root / "project-venv", pins)


def selfheal_python(root: Path) -> str:
    """A venv with selfheal's runtime dependencies and nothing of selfheal's own."""
    sys.path.insert(0, str(HERE))
    from bot import toml

    project = toml.loads((HERE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return venv_with(root / "selfheal-venv", project["dependencies"])


def gate_steps(python: str) -> list[dict[str, object]]:
    return [
        {"name": "ruff", "kind": "ruff", "run": [python, "-m", "ruff", "check", "."]},
        {
            "name": "ruff format",
            "kind": "ruff-format",
            "run": [python, "-m", "ruff", "format", "--check", "."],
        },
        {
            "name": "pytest",
            "kind": "pytest",
            "run": [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        },
    ]


def write_config(root: Path, python: str) -> Path:
    config = root / "selfheal.yml"
    config.write_text(json.dumps({"gate": gate_steps(python), "flaky_check": False}))
    return config


def direct_gate(repo: Path, python: str) -> None:
    """The gate's three commands run directly and concurrently, as a CI script would."""

    def one(step: dict[str, object]) -> None:
        subprocess.run(step["run"], cwd=repo, capture_output=True, check=False)  # type: ignore[call-overload]

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(one, gate_steps(python)))


def selfheal(
    src: Path,
    *args: str,
    expect: int = 0,
    tmpdir: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """`python -m bot ARGS --json` from the source tree `src` (with TMPDIR `tmpdir`, if
    given, and `extra_env`); its report."""
    env = {**os.environ, "PYTHONPATH": str(src), **(extra_env or {})}
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    done = subprocess.run(
        [SELFHEAL_PYTHON, "-m", "bot", *args, "--json"],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != expect:
        raise SystemExit(
            f"selfheal {args[0]} exited {done.returncode}:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    report: dict[str, object] = json.loads(done.stdout)
    return report


def knows_tests_option(src: Path) -> bool:
    """Whether this selfheal's heal takes --tests (older ones reproduce with the whole gate)."""
    done = subprocess.run(
        [SELFHEAL_PYTHON, "-m", "bot", "heal", "--help"],
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=False,
    )
    return "--tests" in done.stdout


def in_turn(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """Wall times of each function, `repeat` rounds, the functions taking turns. Before each,
    the disk's dirty pages are written out (untimed): a heal that wrote 50,000 files would
    otherwise slow down whichever heal comes next."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            os.sync()
            start = time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - start)
    return wall


def with_cpu(fn: Callable[[], object], seconds: list[float]) -> Callable[[], None]:
    """`fn`, appending to `seconds` the CPU time (user + system) of every process it ran and
    waited for, descendants included: steadier than wall time on a VM whose speed drifts."""

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        seconds.append(used)

    return run


def med(values: list[float]) -> float:
    return statistics.median(values)


# How .ci/run spreads the tests over the workers.
CI_DIST = ["--dist", "load", "--maxschedchunk", "2"]
# Every figure shown, for the table at the end: (figure, value, goal).
TABLE: list[tuple[str, str, str]] = []


def show(label: str, value: float, goal: str) -> None:
    print(f"  {label:<58} {value:7.3f}   goal {goal}", flush=True)
    TABLE.append((label, f"{value:.3f}", goal))


def startup_figures(variants: dict[str, Path], repeat: int) -> None:
    """Seconds to `selfheal gate`'s first step (bench/startup.py's measure), median of
    `repeat` runs in turn with a bare interpreter."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import startup

    firsts = [f"{v}, first run here" for v in variants]
    wall: dict[str, list[float]] = {n: [] for n in ["python -c pass", *variants, *firsts]}
    with tempfile.TemporaryDirectory(prefix="selfheal-startup-") as tmp:
        repo, stamp = startup.make_repo(Path(tmp))
        for src in variants.values():
            startup.first_step_after(src, repo, stamp, SELFHEAL_PYTHON)  # bytecode warm
        for _ in range(max(repeat, 5)):  # ~0.3 s each: never fewer than 5
            wall["python -c pass"].append(startup.bare_python(SELFHEAL_PYTHON)[0])
            for v, src in variants.items():
                wall[v].append(startup.first_step_after(src, repo, stamp, SELFHEAL_PYTHON)[0])
                first = startup.first_step_after(src, repo, stamp, SELFHEAL_PYTHON, first=True)[0]
                wall[f"{v}, first run here"].append(first)
    print(f"start-up: python -c pass {med(wall['python -c pass']):.3f}s")
    for v in variants:
        show(f"[{v}] selfheal gate: first step started after (s)", med(wall[v]), "<= 0.100")
        show(
            f"[{v}] the same, its first run here (nothing to start ahead) (s)",
            med(wall[f"{v}, first run here"]),
            "<= 0.100",
        )


def suite_figure() -> None:
    """selfheal's own tests on two cores, as the issue's goal has it (minutes)."""
    cores = ["taskset", "-c", "0,1"] if len(os.sched_getaffinity(0)) > 2 else []
    start = time.perf_counter()
    done = subprocess.run(
        [*cores, sys.executable, "-m", "pytest", "-q", "-n", "2", *CI_DIST],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    )
    minutes = (time.perf_counter() - start) / 60
    print(f"own suite on 2 cores: {done.stdout.strip().splitlines()[-1:]} exit {done.returncode}")
    show("selfheal's own test suite on 2 cores (minutes)", minutes, "<= 5")


def gate_figures(
    root: Path,
    name: str,
    tests: int,
    python: str,
    config: Path,
    variants: dict[str, Path],
    repeat: int,
) -> None:
    repo = build_project(root, name, tests)
    direct_gate(repo, python)  # warm the direct run's caches (pyc, ruff) before any timing
    for src in variants.values():  # and selfheal's own
        selfheal(src, "gate", "--repo", str(repo), "--config", str(config))
    slowest: dict[str, list[float]] = {v: [] for v in variants}
    walls: dict[str, list[float]] = {v: [] for v in variants}

    def gate_of(variant: str, src: Path) -> Callable[[], None]:
        def run() -> None:
            report = selfheal(src, "gate", "--repo", str(repo), "--config", str(config))
            run_ = report["gate_before"]
            assert isinstance(run_, dict)
            walls[variant].append(float(run_["duration_s"]))
            slowest[variant].append(max(float(s["duration_s"]) for s in run_["steps"]))

        return run

    cpu: dict[str, list[float]] = {"direct": [], **{v: [] for v in variants}}
    fns: dict[str, Callable[[], object]] = {
        "direct": with_cpu(lambda: direct_gate(repo, python), cpu["direct"])
    }
    fns |= {v: with_cpu(gate_of(v, src), cpu[v]) for v, src in variants.items()}
    wall = in_turn(fns, repeat)
    print(f"green gate, {tests} tests: direct {med(wall['direct']):.3f}s (median of {repeat})")
    for v in variants:
        goal = "<= 1.03" if tests >= 10_000 else "<= 1.10"
        show(
            f"[{v}] {tests} tests: selfheal gate / direct ({med(wall[v]):.3f}s)",
            med(wall[v]) / med(wall["direct"]),
            goal,
        )
        print(f"  {'':<58} {med(wall[v]) - med(wall['direct']):+7.3f}s fixed overhead")
        show(
            f"[{v}] {tests} tests: the same in CPU time ({med(cpu[v]):.2f}s"
            f" / {med(cpu['direct']):.2f}s)",
            med(cpu[v]) / med(cpu["direct"]),
            goal,
        )
        ratios = [w / s for w, s in zip(walls[v], slowest[v], strict=True)]
        show(f"[{v}] {tests} tests: parallel gate wall / slowest step", med(ratios), "<= 1.1")


def heal_figures(
    root: Path, tests: int, python: str, config: Path, variants: dict[str, Path], repeat: int
) -> None:
    repo = build_project(root, "heal-big", tests)
    test_id, fix = break_one_test(repo)
    # The same break, with a later commit on top that changed something else: nothing points
    # at the failing test (bot/fix/suspects.py finds no test file of the last change).
    # Then pytest stops at the first failing test, wherever it is in the run: first (as in
    # the projects above), halfway through, or last.
    later = build_project(root, "heal-big-later", tests)
    halfway = build_project(root, "heal-big-halfway", tests)
    last = build_project(root, "heal-big-last", tests)
    fixes = {
        repo: fix,
        later: break_one_test(later)[1],
        halfway: break_one_test(halfway, 0.5)[1],
        last: break_one_test(last, 1.0)[1],
    }
    for project in (later, halfway, last):
        (project / "NOTES.md").write_text("a later change\n")
        git(project, "add", "NOTES.md")
        git(project, "commit", "-qm", "notes")
    reports = root / "heal-reports"

    def heal(src: Path, *more: str, where: Path = repo) -> Callable[[], None]:
        def run() -> None:
            selfheal(
                src,
                "heal",
                "--repo",
                str(where),
                "--config",
                str(config),
                "--agent",
                "command",
                "--agent-command",
                f"{sys.executable} {fixes[where]}",
                "--no-push",
                "--report-dir",
                str(reports),
                *more,
            )

        return run

    direct_gate(repo, python)  # warm
    record = last_failed_record(repo, python, test_id)

    def after_a_red_run(src: Path) -> Callable[[], None]:
        """The heal a developer starts after their own pytest run went red: pytest's record
        of it is in the checkout (only for this heal; the others run without it)."""
        run = heal(src)

        def with_record() -> None:
            target = repo / LAST_FAILED
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(record)
            try:
                run()
            finally:
                target.unlink()

        return with_record

    direct_gate(later, python)  # warm
    direct_gate(halfway, python)
    direct_gate(last, python)
    fns: dict[str, Callable[[], object]] = {"direct": lambda: direct_gate(repo, python)}
    for v, src in variants.items():
        fns[f"{v} heal, no test named, a later commit changed something else"] = heal(
            src, where=later
        )
        fns[f"{v} heal, no test named, the failing test halfway through the run"] = heal(
            src, where=halfway
        )
        fns[f"{v} heal, no test named, the failing test last in the run"] = heal(src, where=last)
        fns[f"{v} heal, no test named, the red commit changed the module"] = heal(src)
        if knows_tests_option(src):
            fns[f"{v} heal --tests ID, as a CI log names it"] = heal(src, "--tests", test_id)
            fns[f"{v} heal after the developer's red pytest run"] = after_a_red_run(src)
    wall = in_turn(fns, repeat)
    print(f"heal of 1 failing test in {tests}: one full direct gate {med(wall['direct']):.3f}s")
    for name in fns:
        if name != "direct":
            goal = "<= 1.9" if "no test named" in name else "<= 1.3"
            show(
                f"[{name}] 1 failing of {tests} ({med(wall[name]):.3f}s) / full direct gate",
                med(wall[name]) / med(wall["direct"]),
                goal,
            )


def file_figures(
    root: Path, counts: list[int], python: str, config: Path, variants: dict[str, Path], repeat: int
) -> None:
    repos = {n: build_project(root, f"files-{n}", 20, extra_files=n) for n in [500, *counts]}
    fixes = {n: break_one_test(repo)[1] for n, repo in repos.items()}
    reports = root / "files-reports"

    def heal(src: Path, n: int, first: bool = False, adopt: bool = False) -> Callable[[], None]:
        # On GitHub Actions the checkout itself is the work tree (bot.forge.adopt).
        actions = {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repos[n])} if adopt else {}

        def run() -> None:
            # The first heal of a repository: a temp dir of its own, so no work tree kept
            # by an earlier heal (bot.forge.kept_trees) is there to take.
            tmpdir = tempfile.mkdtemp(dir=root / "first-heals") if first else None
            selfheal(
                src,
                "heal",
                "--repo",
                str(repos[n]),
                "--config",
                str(config),
                "--agent",
                "command",
                "--agent-command",
                f"{sys.executable} {fixes[n]}",
                "--no-push",
                "--report-dir",
                str(reports),
                tmpdir=tmpdir,
                extra_env=actions,
            )

        return run

    def open_ws(src: Path, n: int) -> Callable[[], None]:
        code = (
            "import sys; from pathlib import Path; from bot.forge.workspace import open_workspace\n"
            "with open_workspace(Path(sys.argv[1])): pass\n"
        )

        def run() -> None:
            subprocess.run(
                [SELFHEAL_PYTHON, "-c", code, str(repos[n])],
                cwd=src,
                env={**os.environ, "PYTHONPATH": str(src)},
                check=True,
            )

        return run

    fns: dict[str, Callable[[], object]] = {}
    for n in repos:  # the variants of one size side by side
        for v, src in variants.items():
            fns[f"{v} heal {n}"] = heal(src, n)
            fns[f"{v} first heal {n}"] = heal(src, n, first=True)
            fns[f"{v} adopted heal {n}"] = heal(src, n, adopt=True)
            fns[f"{v} workspace {n}"] = open_ws(src, n)
    (root / "first-heals").mkdir()
    wall = in_turn(fns, repeat)
    print("heal of a trivial bug against repository size (files):")
    for v in variants:
        small, first_small = med(wall[f"{v} heal 500"]), med(wall[f"{v} first heal 500"])
        for n in repos:
            heal_s, ws_s = med(wall[f"{v} heal {n}"]), med(wall[f"{v} workspace {n}"])
            show(
                f"[{v}] {n:>6} files: heal {heal_s:.2f}s (open+close ws {ws_s:.2f}s), / 500",
                heal_s / small,
                "<= 1.2",
            )
            first = med(wall[f"{v} first heal {n}"])
            show(
                f"[{v}] {n:>6} files, the repository's first heal: {first:.2f}s, / 500",
                first / first_small,
                "<= 1.2",
            )
            adopted = med(wall[f"{v} adopted heal {n}"])
            show(
                f"[{v}] {n:>6} files, on GitHub Actions (checkout adopted): {adopted:.2f}s, / 500",
                adopted / med(wall[f"{v} adopted heal 500"]),
                "<= 1.2",
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", "--big", dest="big", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=470)
    parser.add_argument("--runs", "--repeat", dest="repeat", type=int, default=5)
    parser.add_argument("--files", default="1000,10000,50000")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC")
    parser.add_argument("--only", default="startup,gate,heal,files")
    parser.add_argument("--project-python")
    parser.add_argument("--selfheal-python")
    args = parser.parse_args()
    variants = {"now": HERE}
    for spec in args.variant:
        name, _, src = spec.partition("=")
        variants[name] = Path(src).resolve()
    only = set(args.only.split(","))
    # As on a developer's machine or a CI runner: Python caches bytecode (some containers
    # turn that off, which would make every direct run, and selfheal's own start, compile).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    global SELFHEAL_PYTHON  # noqa: PLW0603 - set once, before any figure runs
    with tempfile.TemporaryDirectory(prefix="selfheal-perf-") as tmp:
        root = Path(tmp)
        SELFHEAL_PYTHON = args.selfheal_python or selfheal_python(root)
        python = args.project_python or project_python(root)
        if os.sep in python:  # a path, not a name on PATH: the commands run elsewhere
            python = str(Path(python).absolute())
        print(f"load average at the start: {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)
        if "startup" in only:
            startup_figures(variants, args.repeat)
        config = write_config(root, python)
        if "gate" in only:
            gate_figures(root, "gate-small", args.small, python, config, variants, args.repeat)
            gate_figures(root, "gate-big", args.big, python, config, variants, args.repeat)
        if "heal" in only:
            heal_figures(root, args.big, python, config, variants, args.repeat)
        if "files" in only:
            counts = [int(n) for n in args.files.split(",") if n]
            file_figures(root, counts, python, config, variants, args.repeat)
    if "suite" in only:
        suite_figure()
    else:
        TABLE.append(("selfheal's own test suite on 2 cores (minutes)", "not run", "<= 5"))
    print(f"load average at the end: {os.getloadavg()}")
    print(f"\nEvery figure, median of {args.repeat} runs in turn ({args.big} tests):\n")
    print("| figure | value | goal |\n|---|---|---|")
    for label, value, goal in TABLE:
        print(f"| {label} | {value} | {goal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
