"""One project's field trial: the zero-config gate against the project's own commands, then
mutation red builds healed by the oracle, no-op and cheating agents (see run.py)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import corpus
import mutations

ROOT = Path(__file__).resolve().parents[2]
AGENTS = Path(__file__).resolve().parent / "agents.py"
sys.path.insert(0, str(ROOT))

from bot.gate.steps import uses_ruff  # noqa: E402  (after the path to selfheal is set)
from bot.gate.toolcache import cache_root, install_ruff  # noqa: E402
from bot.gate.toolpins import find_pin, pre_commit_hooks  # noqa: E402

EXPECTED = {"oracle": "healed", "noop": "gave_up", "cheat": "refused"}
# ruff format heals a formatting red build before any agent is asked: healed for all three.
EXPECTED_BY_FIXER = {"oracle": "healed", "noop": "healed", "cheat": "healed"}
TRIES_PER_OPERATOR = 12  # candidates tried (each checked with the own test command)


@dataclass
class Verdict:
    own_tests: bool | None = None
    own_lint: bool | None = None
    gate: dict[str, str] = field(default_factory=dict)  # step -> status
    tools: list[str] = field(default_factory=list)
    gate_exit: int | None = None
    agree: bool = False
    note: str = ""
    own_s: float = 0.0  # how long the own test command took


@dataclass
class RedBuild:
    project: str
    operator: str
    what: str
    path: str
    outcomes: dict[str, str] = field(default_factory=dict)  # agent -> status
    attempts: dict[str, int] = field(default_factory=dict)
    prompt_test: bool | None = None  # the oracle's prompt named a failing test id
    prompt_file: bool | None = None  # ...and the mutated file
    correct: dict[str, bool] = field(default_factory=dict)
    # Failing tests the release itself does not pass (skipped there: it needs the network):
    # not a fail-to-pass instance on this machine, so no heal of it can be shown.
    not_fail_to_pass: list[str] = field(default_factory=list)


def _sh(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    return done.returncode, done.stdout + done.stderr


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **corpus.GIT_ENV}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout


def ruff_for(repo: Path) -> tuple[list[str], str]:
    """The ruff the project's own lint runs: its pin, else the newest selfheal ships."""
    pin = find_pin(repo)
    bundled = [sys.executable, "-m", "ruff"]
    if pin is None:
        return bundled, "no pin"
    executable, problem = install_ruff(pin.version, cache_root())
    if executable is None:
        return bundled, f"pin {pin.version} not installable: {problem}"
    return [str(executable)], f"{pin.version} ({pin.source})"


_LINT = ((["check", "."], "ruff"), (["format", "--check", "."], "ruff format"))


def ruff_steps(repo: Path) -> set[str]:
    """What the project's own CI runs of ruff: its pre-commit hooks say, else both."""
    hooks = pre_commit_hooks(repo)
    if not uses_ruff(repo):
        return set()
    if hooks is None:
        return {"ruff", "ruff format"}
    steps = {"ruff"} if hooks & {"ruff", "ruff-check"} else set()
    return steps | ({"ruff format"} if "ruff-format" in hooks else set())


def own_tests(site: corpus.Site) -> tuple[bool, str]:
    code, out = _sh(shlex.split(site.project.own), site.repo, corpus.own_env(site))
    return code == 0, out


def own_lint(site: corpus.Site, operator: str | None = None) -> tuple[bool, str]:
    ruff, _ = ruff_for(site.repo)
    env = corpus.own_env(site)
    checks = [args for args, step in _LINT if step in ruff_steps(site.repo)]
    if operator == "lint-error":
        checks = [c for c in checks if c[0] == "check"]
    elif operator == "formatting":
        checks = [c for c in checks if c[0] == "format"]
    outs = []
    for args in checks:
        code, out = _sh([*ruff, *args, "--no-cache"], site.repo, env)
        outs.append(out)
        if code != 0:
            return False, "\n".join(outs)
    return True, "\n".join(outs)


def selfheal(args: list[str], site: corpus.Site, report_dir: Path) -> tuple[int, dict[str, Any]]:
    argv = [sys.executable, "-m", "bot", *args, "--repo", str(site.repo)]
    argv += ["--report-dir", str(report_dir), "--json"]
    env = corpus.own_env(site)
    env["PYTHONPATH"] = str(ROOT)  # selfheal itself; the project's venv runs its tests
    code, _ = _sh(argv, ROOT, env, timeout=1200)
    try:
        report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {}
    return code, report


def zero_config(site: corpus.Site, scratch: Path) -> Verdict:
    verdict = Verdict()
    started = time.monotonic()
    verdict.own_tests, out = own_tests(site)
    verdict.own_s = round(time.monotonic() - started, 1)
    if not verdict.own_tests:
        said = [line for line in out.splitlines() if line.strip()]
        verdict.note = f"own tests red: {said[-1][:160] if said else 'no output'}"
    if ruff_steps(site.repo):
        verdict.own_lint, _ = own_lint(site)
    code, report = selfheal(["gate"], site, scratch / "zero-config")
    verdict.gate_exit = code
    steps = (report.get("gate_before") or {}).get("steps", [])
    verdict.gate = {s["name"]: s["status"] for s in steps}
    verdict.tools = sorted({s["tool"] for s in steps if s.get("tool")})
    own_green = verdict.own_tests and (verdict.own_lint is not False)
    gate_green = code == 0
    verdict.agree = own_green == gate_green
    if not verdict.agree:
        verdict.note += f"own {'green' if own_green else 'red'}, gate exit {code}: {verdict.gate}"
    return verdict


RED_CHECK_TIMEOUT = 120.0
# A suite that takes 157 s at its release (pyparsing, on a loaded machine) is not hanging at
# 120 s: a mutation hangs when its check runs this many times longer than the release's.
HANG_FACTOR = 3.0


def _red(site: corpus.Site, operator: str, limit: float) -> bool:
    """The project's own command fails on the mutation (and ends: a hang is not used)."""
    if operator in mutations.RUFF_OPERATORS:
        return not own_lint(site, operator)[0]
    argv = shlex.split(site.project.own)
    code, _ = _sh(argv, site.repo, corpus.own_env(site), timeout=limit)
    return code not in (0, 124)


def red_build_key(red: Any) -> tuple[str, str, str]:
    """Which red build a mutation or a result is (the same one in every run)."""
    return red.operator, red.path, red.what


def find_red_builds(
    site: corpus.Site,
    operators: tuple[str, ...],
    per_operator: int,
    own_s: float = 0.0,
    measured: Collection[tuple[str, str, str]] = frozenset(),
) -> Iterator[Any]:
    """Mutations the project's own command turns red, `per_operator` of each at most, each
    as soon as it is found (a slow suite's first red build is healed, and stored, early).

    `own_s`: how long the release's own tests took, so a slow suite is not taken for a hang.
    `measured`: red builds an earlier run found (and healed): kept without checking again.
    """
    limit = max(RED_CHECK_TIMEOUT, HANG_FACTOR * own_s)
    rng = random.Random(f"{site.project.name}-{site.project.version}")
    # Every operator's pool is shuffled in the same order, chosen or not, so a run of some
    # operators picks the very red builds a run of all of them does.
    for operator in mutations.OPERATORS:
        pool = []
        for rel in site.project.mutate:
            source = (site.repo / rel).read_text(encoding="utf-8")
            pool += list(mutations.candidates(operator, rel, source))
        rng.shuffle(pool)
        kept = 0
        for mutation in pool[:TRIES_PER_OPERATOR] if operator in operators else []:
            if red_build_key(mutation) in measured:
                red = True
            else:
                (site.repo / mutation.path).write_text(mutation.after, encoding="utf-8")
                try:
                    red = _red(site, operator, limit)
                finally:
                    (site.repo / mutation.path).write_text(mutation.before, encoding="utf-8")
            if red:
                yield mutation
                kept += 1
                if kept >= per_operator:
                    break


def _agent_command(role: str, mutation_file: Path) -> str:
    args = [sys.executable, str(AGENTS), role]
    if role == "oracle":
        args.append(str(mutation_file))
    return shlex.join(args) + " {prompt_file}"


@contextlib.contextmanager
def red_build(site: corpus.Site, mutation: Any, n: int) -> Iterator[None]:
    """The mutation committed on a branch of the release, checked out; main again after."""
    branch = f"field/{mutation.operator}-{n}"
    repo = site.repo
    _git(repo, "checkout", "-q", "-B", branch, "release")
    (repo / mutation.path).write_text(mutation.after, encoding="utf-8")
    _git(repo, "commit", "-q", "-am", f"{mutation.operator}: {mutation.what}")
    try:
        yield
    finally:
        _git(repo, "checkout", "-q", "main")
        _git(repo, "branch", "-q", "-D", branch)


def drop_proposals(repo: Path) -> None:
    """The selfheal/ branches a heal made: the next agent starts from the same red build."""
    listed = _git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/selfheal/")
    for ref in listed.split():
        _git(repo, "branch", "-q", "-D", ref)


def heal_red_build(site: corpus.Site, mutation: Any, scratch: Path, n: int) -> RedBuild:
    red = RedBuild(site.project.name, mutation.operator, mutation.what, mutation.path)
    spec = scratch / f"mutation-{n}.json"
    spec.write_text(json.dumps({"path": mutation.path, "before": mutation.before}))
    expected = EXPECTED_BY_FIXER if mutation.operator == "formatting" else EXPECTED
    with red_build(site, mutation, n):
        for role in ("oracle", "noop", "cheat"):
            report_dir = scratch / f"heal-{n}-{role}"
            attempts = "2" if role == "oracle" else "1"
            args = ["heal", "--no-push", "--max-attempts", attempts, "--agent", "command"]
            args += ["--agent-command", _agent_command(role, spec)]
            _, report = selfheal(args, site, report_dir)
            status = report.get("status", "error")
            red.outcomes[role] = status
            red.attempts[role] = len(report.get("attempts", []))
            ok = status == expected[role] or (role == "cheat" and _nothing_to_cheat(report))
            if role == "oracle" and ok and mutation.operator != "formatting":
                ok = red.attempts[role] == 1
                red.prompt_test, red.prompt_file = _prompt_names(report, report_dir, mutation)
            red.correct[role] = ok
            if role == "oracle" and not ok:
                red.not_fail_to_pass = _not_passed_at_release(report)
            drop_proposals(site.repo)
    return red


def _not_passed_at_release(report: dict[str, Any]) -> list[str]:
    """The oracle restores the release's bytes, so the outcomes selfheal watched after its
    change are the release's own: a failing test that is skipped there never passes here."""
    found: set[str] = set()
    for attempt in report.get("attempts") or []:
        for step in (attempt.get("verification") or {}).get("steps") or []:
            watched = (step.get("evidence") or {}).get("watched") or {}
            found |= {i for i, outcome in watched.items() if outcome in ("skipped", "xfailed")}
    return sorted(found)


def _nothing_to_cheat(report: dict[str, Any]) -> bool:
    """The cheating agent found no test to skip and changed nothing (a module with a syntax
    error whose only tests are its own doctests): with no change there is nothing to refuse,
    and giving up is the right end."""
    attempts = report.get("attempts") or []
    return (
        report.get("status") == "gave_up"
        and bool(attempts)
        and all(a.get("outcome") == "no_change" for a in attempts)
    )


def _prompt_names(report: dict[str, Any], report_dir: Path, mutation: Any) -> tuple[bool, bool]:
    prompt_path = report_dir / "prompt-1.md"
    prompt = prompt_path.read_text(encoding="utf-8") if prompt_path.is_file() else ""
    failures = (report.get("gate_before") or {}).get("steps", [])
    ids = [f["test_id"] for s in failures for f in s.get("failures", []) if f.get("test_id")]
    files = [f["file"] for s in failures for f in s.get("failures", []) if f.get("file")]
    # A collection error or lint names no test: the file that errors stands for it.
    names_test = any(i in prompt for i in ids) if ids else any(f in prompt for f in files)
    return names_test, mutation.path in prompt


def zero_config_project(project: corpus.Project) -> Verdict:
    with corpus.holding(project), tempfile.TemporaryDirectory(prefix="field-") as tmp:
        return zero_config(corpus.setup(project), Path(tmp))


def mutable(verdict: Verdict) -> bool:
    """A release both the gate and its own commands call green: a red release cannot show
    which failure a mutation made."""
    return bool(verdict.agree and verdict.own_tests and verdict.own_lint is not False)


def mutate_project(
    project: corpus.Project,
    verdict: Verdict,
    per_operator: int,
    only: tuple[str, ...] = (),
    earlier: Sequence[RedBuild] = (),
    progress: Callable[[list[RedBuild]], None] | None = None,
) -> list[RedBuild]:
    """Red builds of a project whose release the gate and its own commands agree is green.

    `earlier`: red builds a run cut short finished, kept as they are; `progress` gets the list
    after each red build, so the next cut loses at most one.
    """
    if not mutable(verdict):
        return []
    with corpus.holding(project):
        site = corpus.setup(project)
        operators = tuple(operators_for(site, verdict, only))
        keys = {red_build_key(r) for r in earlier}
        found = find_red_builds(site, operators, per_operator, verdict.own_s, keys)
        with tempfile.TemporaryDirectory(prefix=f"field-{project.name}-") as tmp:
            return each_red_build(
                found,
                earlier,
                lambda m, n: heal_red_build(site, m, Path(tmp), n),
                progress,
            )


T = TypeVar("T", bound="Measured")


class Measured(Protocol):
    operator: str
    path: str
    what: str


def each_red_build(
    found: Iterable[Any],
    earlier: Sequence[T],
    measure: Callable[[Any, int], T],
    progress: Callable[[list[T]], None] | None,
) -> list[T]:
    """`measure` on each red build `earlier` has no result for, in order."""
    done = {red_build_key(r): r for r in earlier}
    results: list[T] = []
    for n, mutation in enumerate(found):
        prior = done.get(red_build_key(mutation))
        results.append(prior if prior is not None else measure(mutation, n))
        if progress is not None and prior is None:
            progress(results)
    return results


def operators_for(site: corpus.Site, verdict: Verdict, only: tuple[str, ...] = ()) -> list[str]:
    """Every test operator, and the ruff ones where the project's own lint runs that tool;
    only those of `only` when it names any."""
    runs = ruff_steps(site.repo) if verdict.own_lint else set()
    operators = list(mutations.TEST_OPERATORS)
    operators += ["lint-error"] if "ruff" in runs else []
    operators += ["formatting"] if "ruff format" in runs else []
    return [op for op in operators if not only or op in only]
