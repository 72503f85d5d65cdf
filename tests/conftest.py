"""Shared fixtures: real git repos in temp dirs, and a HOME that is never the real one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# The end-to-end tests start `python -m bot` hundreds of times: with bytecode off (as some
# containers set it) each start compiles all of selfheal again. Cache it outside every tree
# instead; shared by xdist workers (Python writes each pyc atomically).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) and not os.environ.get("PYTHONPYCACHEPREFIX"):
    os.environ["PYTHONPYCACHEPREFIX"] = str(
        Path(tempfile.gettempdir()) / f"selfheal-tests-pycache-{os.getuid()}"
    )

# Gate steps run `pytest` and `python` from PATH: let them be the ones installed beside this
# interpreter with the test extras, as on CI (pip install -e '.[test]', then pytest), not
# whatever a global install has. One such (a pyenv shim to a pytest that loads hypothesis's
# plugin) cost ~1 CPU second per gate run; tests that need another PATH still set their own.
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test can read or write the real home directory or git config by accident."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    # One cache for the session (of this worker), as a user has one from run to run: a cold
    # one made every `selfheal gate` recompile pytest (~1 CPU second a run). Tests about
    # the cache itself name their own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    # The runner of the suite's own CI is not one under test: its step summary, outputs and
    # log stay out of the runs that tests start (tests that want them set their own).
    runner = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")
    for name in list(__import__("os").environ):
        if name.startswith("SELFHEAL_") or name in runner:
            monkeypatch.delenv(name)


def git(cwd: Path, *args: str) -> str:
    """Run real git for test set-up and checks; returns stdout."""
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content), encoding="utf-8")


MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """make_repo(files, name=..., origin=True, fixture=...) -> a committed repo (+ bare origin)."""
    counter = iter(range(1000))

    def _make(
        files: dict[str, str] | None = None,
        name: str | None = None,
        origin: bool = True,
        fixture: str | None = None,
    ) -> Path:
        root = tmp_path / (name or f"repo{next(counter)}")
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        if fixture is not None:
            import shutil

            shutil.copytree(FIXTURES / fixture, root, dirs_exist_ok=True)
        write_files(root, files or {})
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
        if origin:
            bare = root.parent / f"{root.name}-origin.git"
            git(root.parent, "init", "-q", "--bare", str(bare))
            git(root, "remote", "add", "origin", str(bare))
            git(root, "push", "-q", "origin", "main")
        return root

    return _make


# The longest tests first (each takes minutes on a busy runner), longest first, measured
# with --durations: under xdist each starts at once beside the rest, instead of last
# (alphabetically) while every other worker is idle. Serially the order changes nothing.
_LONGEST_FIRST = (
    "tests/test_third_party_e2e.py::",
    "tests/test_action_yml.py::test_the_install_step_installs_the_checkout_once",
    "tests/test_field_slice.py::",
    "tests/test_github_e2e.py::test_red_build_opens_one_pr_and_one_sticky_comment",
    "tests/test_github_e2e.py::test_a_red_branch_without_a_pr_reports_on_selfheals_own_pr",
    "tests/test_workflow_e2e.py::",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        found = [i for i, start in enumerate(_LONGEST_FIRST) if item.nodeid.startswith(start)]
        return found[0] if found else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: everything else keeps its order
    # xdist's load scheduling (.ci/run: --maxschedchunk 2) hands each worker the next two
    # tests in this order: one ordinary test after each long one keeps two long ones from
    # landing on one worker, one after the other, while another worker has only short ones.
    long = [item for item in items if rank(item) < len(_LONGEST_FIRST)]
    rest = items[len(long) :]
    paired = [test for pair in zip(long, rest, strict=False) for test in pair]
    items[:] = paired + long[len(rest) :] + rest[len(long) :]
