"""Bytecode and pytest's rewrite cache live outside the repository and warm for `selfheal
gate`; a heal reads no cache the agent could write, so a planted pyc proves nothing."""

from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import time
from pathlib import Path

import pytest

from bot.bytecode import PREFIX, bytecode_env, user_cache_dir
from bot.config import Config, GateStep
from bot.fix.loop import Job, Run
from bot.report import Status
from bot.transcript import Transcript
from tests.calc import BROKEN, FIXED
from tests.cli import selfheal
from tests.conftest import MakeRepo, git
from tests.fakes.agent import FakeAgent

BIN = str(Path(sys.executable).parent)
ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
TAG = sys.implementation.cache_tag
PROJECT = {
    ".github/selfheal.yml": """\
        gate:
          - {name: tests, run: pytest -q, kind: pytest}
          - {name: lint, run: ruff check ., kind: ruff}
        """,
    "calc/__init__.py": "",
    "calc/ops.py": FIXED,
    "tests/test_ops.py": """\
        from calc.ops import clamp


        def test_inside():
            assert clamp(5, 0, 10) == 5


        def test_below():
            assert clamp(-1, 0, 10) == 0
        """,
}


def cached(prefix: Path, source: Path) -> Path:
    """Where Python keeps `source`'s pyc under `prefix`: the absolute path, below it."""
    return prefix / source.resolve().parent.relative_to("/") / f"{source.stem}.{TAG}.pyc"


def test_bytecode_env_puts_caches_outside_and_refuses_one_inside(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = bytecode_env({"PYTHONDONTWRITEBYTECODE": "1", "A": "b"}, tmp_path / "c", repo)
    assert env[PREFIX] == str((tmp_path / "c" / "pycache").resolve())
    assert env["RUFF_CACHE_DIR"] == str((tmp_path / "c" / "ruff").resolve())
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["A"] == "b"
    inside = bytecode_env({PREFIX: "/x"}, repo / ".cache", repo)
    assert PREFIX not in inside and inside["PYTHONDONTWRITEBYTECODE"] == "1"
    assert not (repo / ".cache").exists()
    assert user_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/selfheal")
    assert user_cache_dir({"HOME": "/h"}) == Path("/h/.cache/selfheal")


def test_gate_keeps_bytecode_and_rewritten_tests_in_the_user_cache(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(PROJECT, origin=False)
    for path in (repo / "calc" / "ops.py", repo / "tests" / "test_ops.py"):
        os.utime(path, (time.time() - 10,) * 2)  # written before the run, as a user's are
    cache = tmp_path / "xdg-cache"
    env = {**ENV, "XDG_CACHE_HOME": str(cache)}
    done = selfheal("gate", "--repo", str(repo), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing compiled or cached in the checkout, not even ignored files.
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    prefix = cache / "selfheal" / "gate" / "pycache"
    assert cached(prefix, repo / "calc" / "ops.py").is_file()
    pytest_tag = f"{TAG}-pytest-{pytest.__version__}"
    rewritten = prefix / repo.resolve().relative_to("/") / "tests" / f"test_ops.{pytest_tag}.pyc"
    assert rewritten.is_file(), sorted(p.name for p in prefix.rglob("*.pyc"))[:20]
    # Warm: the second run takes the rewritten module from the cache instead of writing it.
    stamp = rewritten.stat().st_mtime_ns
    again = selfheal("gate", "--repo", str(repo), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert rewritten.stat().st_mtime_ns == stamp
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""


def test_a_same_size_edit_in_the_second_the_gate_compiled_runs_the_new_code(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # Python takes a pyc while its source's size and mtime in whole seconds match its
    # header: a pyc compiled in the second of its source's last write would serve a
    # same-size edit made later in that second, and the broken edit would pass. Here that
    # second is set ahead, so the gate surely compiles within it.
    repo = make_repo(PROJECT, origin=False)
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path / "xdg-cache")}
    source = repo / "calc" / "ops.py"
    second = int(time.time()) + 5
    os.utime(source, (second, second))
    done = selfheal("gate", "--repo", str(repo), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = FIXED.replace("max(", "min(", 1)  # clamp(5, 0, 10) == 0; the same size
    assert len(broken) == len(FIXED) and broken != FIXED
    source.write_text(broken)
    os.utime(source, (second, second))
    again = selfheal("gate", "--repo", str(repo), env=env)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "test_inside" in again.stdout


def plant_fixed_bytecode(root: Path, prefix: Path) -> None:
    """A pyc of the fixed function where Python looks for ops.py's, stamped with the broken
    source's mtime and size, so the unchanged source seems fixed to every run using it."""
    source = root / "calc" / "ops.py"
    stat = source.stat()
    code = compile(FIXED, str(source), "exec")
    data = bytearray(importlib.util.MAGIC_NUMBER)
    data += (0).to_bytes(4, "little")
    data += (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    data += (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    data += marshal.dumps(code)
    target = cached(prefix, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(data))


def test_a_pyc_the_agent_plants_in_a_cache_selfheal_was_given_proves_nothing(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # selfheal's own environment names a bytecode cache (a developer's shell may): the agent
    # can write there, so no gate run of a heal may read it.
    prefix = tmp_path / "shared-pycache"
    monkeypatch.setenv(PREFIX, str(prefix))
    repo = make_repo({**PROJECT, "calc/ops.py": BROKEN})

    planted: list[Path] = []

    def cheat(root: Path) -> None:
        plant_fixed_bytecode(root, prefix)
        planted.append(cached(prefix, root / "calc" / "ops.py"))
        (root / "NOTES.md").write_text("looked at clamp\n")  # a change, so the gate runs

    report_dir = tmp_path / "report"
    report_dir.mkdir()
    job = Job(
        mode="heal",
        repo=repo,
        config=Config(
            gate=[GateStep(name="tests", run=["pytest", "-q"], kind="pytest")],
            flaky_check=False,
            max_attempts=1,
        ),
        agent=FakeAgent([cheat]),  # type: ignore[arg-type]
        report_dir=report_dir,
        push=False,
    )
    report = Run(job, Transcript(report_dir / "transcript.jsonl")).execute()
    assert planted and planted[0].is_file()
    verification = report.attempts[0].verification
    assert verification is not None and not verification.green, report.detail
    assert {f.test_id for f in verification.failures} == {"tests/test_ops.py::test_inside"}
    assert report.status is not Status.HEALED and report.proposal is None, report.detail
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
