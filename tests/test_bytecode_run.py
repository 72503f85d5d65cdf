"""A heal's own bytecode cache (bot.bytecode.RunCache): warm from the user's checkout and the
last run, sealed before the agent, and nothing the agent or its code writes is ever read."""

from __future__ import annotations

import importlib.util
import marshal
import os
import py_compile
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bot import bytecode
from bot.bytecode import RunCache, kept_bytecode, mirror
from bot.config import Config, GateStep
from bot.fix.loop import Job, Run
from bot.report import Report, Status
from bot.transcript import Transcript
from tests.calc import BROKEN, FIXED
from tests.conftest import MakeRepo, git
from tests.fakes.agent import FakeAgent
from tests.test_bytecode import cached, plant_fixed_bytecode

TAG = sys.implementation.cache_tag
Mode = py_compile.PycInvalidationMode


def _compile(source: Path, mode: Mode = Mode.TIMESTAMP) -> Path:
    pyc = source.parent / "__pycache__" / f"{source.stem}.{TAG}.pyc"
    py_compile.compile(str(source), cfile=str(pyc), invalidation_mode=mode, doraise=True)
    return pyc


def _trees(tmp_path: Path, text: str = "X = 1\n") -> tuple[Path, Path]:
    """A user's checkout and a work tree holding the same pkg/a.py (its mtime differs)."""
    checkout, work = tmp_path / "checkout", tmp_path / "work"
    for root in (checkout, work):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "a.py").write_text(text)
    os.utime(checkout / "pkg" / "a.py", (1_600_000_000, 1_600_000_000))
    return checkout, work


def _load(pyc: Path, source: Path) -> dict[str, object]:
    """Run `pyc` as Python's import would accept it for `source` (header checked)."""
    data = pyc.read_bytes()
    flags = int.from_bytes(data[4:8], "little")
    if flags == 0:
        st = source.stat()
        assert int.from_bytes(data[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
        assert int.from_bytes(data[12:16], "little") == st.st_size
    else:
        assert data[8:16] == importlib.util.source_hash(source.read_bytes())
    namespace: dict[str, object] = {}
    exec(marshal.loads(data[16:]), namespace)  # our own compiled test module
    return namespace


def test_seed_restamps_the_checkouts_bytecode_for_the_same_file(tmp_path: Path) -> None:
    checkout, work = _trees(tmp_path)
    _compile(checkout / "pkg" / "a.py")
    cache = RunCache(tmp_path / "run", work)
    cache.seed(tmp_path / "kept", checkout, ["pkg/a.py"])
    pyc = mirror(cache.prefix, work.resolve() / "pkg") / f"a.{TAG}.pyc"
    assert cache.seeded == 1
    assert _load(pyc, work / "pkg" / "a.py")["X"] == 1  # valid for the work tree's mtime


def test_seed_takes_a_checked_hash_pyc_only_for_the_same_source(tmp_path: Path) -> None:
    checkout, work = _trees(tmp_path)
    _compile(checkout / "pkg" / "a.py", Mode.CHECKED_HASH)
    (checkout / "pkg" / "b.py").write_text("Y = 1\n")
    (work / "pkg" / "b.py").write_text("Y = 2\n")  # not the same file: never served
    _compile(checkout / "pkg" / "b.py", Mode.CHECKED_HASH)
    cache = RunCache(tmp_path / "run", work)
    cache.seed(tmp_path / "kept", checkout, ["pkg/a.py", "pkg/b.py"])
    where = mirror(cache.prefix, work.resolve() / "pkg")
    assert cache.seeded == 1
    assert sorted(p.name for p in where.iterdir()) == [f"a.{TAG}.pyc"]


@pytest.mark.parametrize("case", ["stale", "unchecked-hash", "other-bytes", "not-tracked", "racy"])
def test_seed_leaves_out_what_would_not_be_the_work_trees_code(tmp_path: Path, case: str) -> None:
    checkout, work = _trees(tmp_path)
    source = checkout / "pkg" / "a.py"
    if case == "racy":  # compiled in the second of its source's last write (set ahead here):
        os.utime(source, (time.time() + 5,) * 2)  # a same-size edit then would not show
    _compile(source, Mode.UNCHECKED_HASH if case == "unchecked-hash" else Mode.TIMESTAMP)
    if case == "stale":  # the checkout's file changed after it was compiled
        source.write_text("X = 9\n")
    if case == "other-bytes":  # same size, same mtime in the header, other code
        (work / "pkg" / "a.py").write_text("X = 2\n")
    cache = RunCache(tmp_path / "run", work)
    cache.seed(tmp_path / "kept", checkout, [] if case == "not-tracked" else ["pkg/a.py"])
    assert cache.seeded == 0
    assert not list(cache.prefix.rglob("*.pyc"))


def _sealed_cache(tmp_path: Path) -> tuple[RunCache, Path, Path, Path]:
    """A sealed cache holding a work-tree pyc (for pkg/a.py) and an outside one."""
    checkout, work = _trees(tmp_path)
    _compile(checkout / "pkg" / "a.py")
    cache = RunCache(tmp_path / "run", work)
    cache.seed(tmp_path / "kept", checkout, ["pkg/a.py"])
    inside = mirror(cache.prefix, work.resolve() / "pkg") / f"a.{TAG}.pyc"
    site = tmp_path / "site-packages"  # outside the work tree: a package's module
    site.mkdir()
    (site / "lib.py").write_text("Z = 1\n")
    outside = mirror(cache.prefix, site.resolve()) / f"lib.{TAG}.pyc"
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"compiled before the agent")
    gone = mirror(cache.prefix, (tmp_path / "selfheal-gate-1").resolve()) / f"plugin.{TAG}.pyc"
    gone.parent.mkdir(parents=True)
    gone.write_bytes(b"a gate run's scratch dir, removed since")
    cache.seal()
    return cache, work, inside, outside


def test_prune_keeps_what_was_sealed_and_removes_everything_else(tmp_path: Path) -> None:
    cache, _, inside, outside = _sealed_cache(tmp_path)
    planted = inside.with_name(f"new.{TAG}.pyc")
    planted.write_bytes(b"the agent's")
    link = cache.prefix / "link"
    link.symlink_to(tmp_path)
    cache.prune()
    assert inside.is_file() and outside.is_file()
    assert not planted.exists() and not link.is_symlink()
    # Rewritten in place, even with its old mtime: its ctime moved, so it goes.
    before = outside.stat()
    outside.write_bytes(b"the agent's!!!!!!!!!!!!!!")
    os.utime(outside, ns=(before.st_atime_ns, before.st_mtime_ns))
    cache.prune()
    assert not outside.exists() and inside.is_file()


def test_prune_drops_the_bytecode_of_a_source_changed_with_its_mtime_set_back(
    tmp_path: Path,
) -> None:
    cache, work, inside, _ = _sealed_cache(tmp_path)
    source = work / "pkg" / "a.py"
    before = source.stat()
    source.write_text("X = 7\n")  # the same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    cache.prune()
    assert not inside.exists()  # else Python would run the base's X = 1 for it


def test_bytecode_of_the_work_tree_by_a_linked_path_is_the_work_trees(tmp_path: Path) -> None:
    # PYTHONPATH names the work tree as given; were that through a link, Python would keep
    # its modules' bytecode under the link's path: that is the work tree's too.
    _, work = _trees(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(work)
    cache = RunCache(tmp_path / "run", link)
    pyc = mirror(cache.prefix, link / "pkg") / f"a.{TAG}.pyc"
    pyc.parent.mkdir(parents=True)
    pyc.write_bytes(b"compiled by the baseline")
    cache.seal()
    source = work / "pkg" / "a.py"
    before = source.stat()
    source.write_text("X = 7\n")
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    cache.prune()
    assert not pyc.exists()
    kept = tmp_path / "kept"
    cache.keep(kept)
    assert not kept.exists()  # never kept as if it were a package's


def test_a_prefix_swapped_for_a_link_is_emptied(tmp_path: Path) -> None:
    cache, _, _, _ = _sealed_cache(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    cache.prefix.rename(elsewhere)
    cache.prefix.symlink_to(elsewhere)
    cache.prune()
    assert cache.prefix.is_dir() and not cache.prefix.is_symlink()
    assert not any(cache.prefix.iterdir())


def test_keep_leaves_only_sealed_bytecode_from_outside_the_work_tree(tmp_path: Path) -> None:
    cache, work, inside, outside = _sealed_cache(tmp_path)
    kept = tmp_path / "kept"
    (kept / "old").mkdir(parents=True)
    (outside.parent / f"late.{TAG}.pyc").write_bytes(b"written after the seal")
    (tmp_path / "site-packages" / "late.py").write_text("")
    cache.keep(kept)
    assert sorted(p.relative_to(kept) for p in kept.rglob("*") if p.is_file()) == [
        outside.relative_to(cache.prefix)
    ]
    # The next run starts from it.
    again = RunCache(tmp_path / "run2", work)
    again.seed(kept, tmp_path / "checkout", [])
    assert (again.prefix / outside.relative_to(cache.prefix)).read_bytes() == outside.read_bytes()
    assert inside.is_file()
    # Nothing new to keep: what is kept is left as it is, not copied again.
    stamp = (kept / outside.relative_to(cache.prefix)).stat().st_ino
    again.seal()
    again.keep(kept)
    assert (kept / outside.relative_to(cache.prefix)).stat().st_ino == stamp


# -- a heal, end to end, with an agent that goes after the cache -------------------------

PROJECT = {
    ".gitignore": "__pycache__/\n",
    "calc/__init__.py": "",
    "calc/ops.py": BROKEN,
    "calc/other.py": "def double(x):\n    return x * 2\n",
    "tests/test_ops.py": """\
        from calc.ops import clamp
        from calc.other import double


        def test_inside():
            assert clamp(5, 0, 10) == 5


        def test_double():
            assert double(4) == 8
        """,
}


def _heal(repo: Path, tmp_path: Path, agent: FakeAgent) -> tuple[Status, Path]:
    report_dir = tmp_path / "report"
    return heal_once(repo, report_dir, agent).status, report_dir


def heal_once(repo: Path, report_dir: Path, agent: FakeAgent) -> Report:
    """One heal of `repo` by `agent`: one attempt, its gate pytest alone, no flaky check."""
    report_dir.mkdir(exist_ok=True)
    job = Job(
        mode="heal",
        repo=repo,
        config=Config(
            gate=[
                GateStep(
                    name="tests",
                    run=[sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                    kind="pytest",
                )
            ],
            flaky_check=False,
            max_attempts=1,
        ),
        agent=agent,  # type: ignore[arg-type]
        report_dir=report_dir,
        push=False,
    )
    return Run(job, Transcript(report_dir / "transcript.jsonl")).execute()


def _run_prefix(root: Path) -> Path:
    """The running heal's cache, as an agent of the same user can find it."""
    for prefix in Path(tempfile.gettempdir()).glob("selfheal-git-*/bytecode/pycache"):
        if mirror(prefix, root.resolve()).is_dir():
            return prefix
    raise AssertionError("no bytecode cache holds the work tree")


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_a_heal_keeps_its_bytecode_outside_the_repository_and_warm(
    make_repo: MakeRepo, tmp_path: Path, own_cache: Path
) -> None:
    repo = make_repo(PROJECT)

    def fix(root: Path) -> None:
        (root / "calc" / "ops.py").write_text(FIXED)

    status, report_dir = _heal(repo, tmp_path, FakeAgent([fix]))
    assert status is Status.HEALED
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    branch = git(repo, "branch", "--list", "selfheal/*", "--format=%(refname:short)").split()
    assert len(branch) == 1
    assert git(repo, "diff", "--name-only", "HEAD", branch[0]).split() == ["calc/ops.py"]
    # What the interpreter and pytest compiled before the agent is there for the next run.
    assert any(kept_bytecode().rglob("*.pyc")), own_cache
    transcript = (report_dir / "transcript.jsonl").read_text()
    assert '"event": "bytecode"' in transcript


def test_bytecode_the_agent_plants_in_the_runs_own_cache_is_never_read(
    make_repo: MakeRepo, tmp_path: Path, own_cache: Path
) -> None:
    repo = make_repo(PROJECT)
    planted: list[Path] = []

    def cheat(root: Path) -> None:
        prefix = _run_prefix(root)
        plant_fixed_bytecode(root, prefix)
        target = cached(prefix, root / "calc" / "ops.py")
        if target.is_file():  # planted where the next gate run would look
            planted.append(target)
        (root / "NOTES.md").write_text("looked at clamp\n")  # a change, so the gate runs

    status, _ = _heal(repo, tmp_path, FakeAgent([cheat]))
    assert planted
    assert status is not Status.HEALED
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""


def test_a_change_with_its_mtime_set_back_is_compiled_not_served_from_the_base(
    make_repo: MakeRepo, tmp_path: Path, own_cache: Path
) -> None:
    repo = make_repo(PROJECT)

    def fix_and_break(root: Path) -> None:
        (root / "calc" / "ops.py").write_text(FIXED)
        other = root / "calc" / "other.py"
        before = other.stat()
        other.write_text("def double(x):\n    return x * 3\n")  # the same size
        os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))

    status, _ = _heal(repo, tmp_path, FakeAgent([fix_and_break]))
    # The base's bytecode for other.py would pass test_double: the gate must run the change.
    assert status is not Status.HEALED


def test_a_file_that_cannot_be_removed_leaves_no_cache_to_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agent that takes the write permission from a dir in the cache (as another user
    # than root) keeps prune from removing what it planted: then nothing there is read.
    cache, _, inside, _ = _sealed_cache(tmp_path)
    planted = inside.with_name(f"planted.{TAG}.pyc")
    planted.write_bytes(b"the agent's")
    monkeypatch.setattr(bytecode, "remove_tree", lambda path: None)  # as if refused
    cache.prune()
    assert cache.env({})["PYTHONPYCACHEPREFIX"] == str(cache.prefix)
    assert not planted.is_relative_to(cache.prefix) and planted.exists()
    assert cache.prefix.is_dir() and not any(cache.prefix.iterdir())
