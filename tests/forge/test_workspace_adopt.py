"""On GitHub Actions the disposable checkout is the work tree, its .git parked out of reach
for the run and put back on close, or by the next run's cleanup after a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.forge.git import locate, open_workspace, tree_command
from bot.forge.owned_dirs import PARKED_GIT, remove_stale
from bot.forge.workspace import Workspace
from tests.conftest import MakeRepo, git
from tests.forge.states import BOT, FILES, git_fails, tree_state

GENERATED = {".gitignore": "*.log\n_version.py\n.venv/\nbuild/\n", "pkg/_version.py": ""}


def on_actions(monkeypatch: pytest.MonkeyPatch, repo: Path) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(repo))


def checkout(make_repo: MakeRepo) -> Path:
    """A checkout as a CI job leaves it: committed, a generated file, a venv, a build dir."""
    repo = make_repo({**FILES, ".gitignore": GENERATED[".gitignore"]})
    (repo / "pkg/_version.py").write_text("VERSION = '1'\n")
    (repo / ".venv/lib").mkdir(parents=True)
    (repo / ".venv/pyvenv.cfg").write_text("home = /usr\n")
    (repo / "build").mkdir()
    (repo / "build/out.txt").write_text("built\n")
    return repo


def checkout_state(repo: Path) -> dict[str, object]:
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "ref": (repo / ".git/HEAD").read_bytes(),
        "refs": git(repo, "for-each-ref"),
        "config": (repo / ".git/config").read_bytes(),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "tracked": {k: v for k, v in tree_state(repo).items() if k in FILES},
    }


def test_the_checkout_is_the_work_tree_and_its_git_is_out_of_reach(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = checkout(make_repo)
    on_actions(monkeypatch, repo)
    before = checkout_state(repo)
    with open_workspace(repo) as ws:
        assert (ws.mode, ws.adopt_refusal) == ("adopt", "")
        assert ws.path == repo.resolve()
        assert ws.carried == ("pkg/_version.py",)
        assert not (repo / ".git").exists()
        parked = list((tmp_path / "temp").glob(f"selfheal-git-*/{PARKED_GIT}"))
        assert len(parked) == 1
        assert ws.total_diff() == ""
        # Neither the agent's nor the gate's git finds a repository, whatever it is told.
        env = ws.child_env({**os.environ, "GIT_DIR": str(parked[0])})
        assert "not a git repository" in git_fails(repo / "pkg", "status", env=env)
        assert "not a git repository" in git_fails(repo, "log", env=dict(os.environ))
        gate = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.listdir('.')))"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "'.git'" not in gate.stdout
        # The agent's tools read the tree through the private git dir.
        assert tree_command(repo, ["ls-files"])[1].split() == sorted(FILES)
        # An attempt, a candidate commit, and the final verification's reset.
        (repo / "pkg/calc.py").write_text("def add(a, b):\n    return a + b\n")
        (repo / "pkg/_version.py").write_text("VERSION = 'agent'\n")
        (repo / "hidden.log").write_text("an ignored fix\n")
        git(repo, "init", "-q")  # the agent's own repository, where the user's was
        assert [c.path for c in ws.changed_files()] == ["pkg/calc.py"]
        sha = ws.commit(BOT, "fix")
        ws.reset_to(sha)
        assert (repo / "pkg/_version.py").read_text() == "VERSION = '1'\n"
        assert not (repo / "hidden.log").exists()
        assert not (repo / ".git").exists()
        assert not (repo / "build").exists()  # an output: wiped like any ignored file
        assert (repo / ".venv/pyvenv.cfg").exists()  # the project's environment is kept
        ws.publish_branch(sha, "selfheal/heal-1")
        (repo / "pkg/calc.py").write_text("def add(a, b):\n    return 0\n")
    # Closed: the .git is back, and the checkout is at its base again.
    after = checkout_state(repo)
    new_refs = set(str(after.pop("refs")).splitlines()) - set(str(before.pop("refs")).splitlines())
    assert new_refs == {f"{sha} commit\trefs/heads/selfheal/heal-1"}
    assert after == before
    assert (repo / "pkg/_version.py").read_text() == "VERSION = '1'\n"
    assert sorted(p.name for p in (tmp_path / "temp").iterdir()) == []


@pytest.mark.parametrize(
    ("why", "arrange"),
    [
        ("not on GitHub Actions", lambda repo, mp: mp.delenv("GITHUB_ACTIONS")),
        ("is not $GITHUB_WORKSPACE", lambda repo, mp: mp.setenv("GITHUB_WORKSPACE", "/")),
        ("act", lambda repo, mp: mp.setenv("ACT", "true")),
        ("untracked files", lambda repo, mp: (repo / "new.txt").write_text("x\n")),
        ("encloses the checkout", lambda repo, mp: (repo.parent / ".git").mkdir()),
        ("submodules", lambda repo, mp: (repo / ".gitmodules").write_text("")),
        ("sparse", lambda repo, mp: (repo / ".git/info/sparse-checkout").write_text("/*\n")),
        (
            "assume-unchanged",
            lambda repo, mp: git(repo, "update-index", "--assume-unchanged", "notes.txt"),
        ),
        (
            "skip-worktree",
            lambda repo, mp: git(repo, "update-index", "--skip-worktree", "notes.txt"),
        ),
    ],
)
def test_anything_else_gets_a_copy_and_the_checkout_is_never_touched(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, why: str, arrange: object
) -> None:
    repo = checkout(make_repo)
    on_actions(monkeypatch, repo)
    arrange(repo, monkeypatch)  # type: ignore[operator]
    files = tree_state(repo, skip_git=False)
    with open_workspace(repo) as ws:
        assert ws.mode == "copy"
        assert why in ws.adopt_refusal
        assert ws.path != repo
        (ws.path / "pkg/calc.py").write_text("changed\n")
        ws.reset_to(ws.commit(BOT, "fix"))
    assert tree_state(repo, skip_git=False) == files


def test_a_base_other_than_the_checked_out_commit_gets_a_copy(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = checkout(make_repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "notes.txt").write_text("four\n")
    git(repo, "commit", "-qam", "later")
    on_actions(monkeypatch, repo)
    with open_workspace(repo, base) as ws:
        assert (ws.mode, ws.adopt_refusal) == ("copy", "the base is not the commit checked out")
    with open_workspace(repo, git(repo, "rev-parse", "HEAD").strip()) as ws:
        assert ws.mode == "adopt"


KILLED_MID_RUN = """\
import os, signal, sys
from pathlib import Path
from bot.forge.git import open_workspace
ws = open_workspace(Path(sys.argv[1]))
assert ws.mode == "adopt", ws.adopt_refusal
(ws.path / "pkg" / "calc.py").write_text("half done\\n")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_runs_git_dir_is_put_back_by_the_next_runs_cleanup(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = checkout(make_repo)
    before = checkout_state(repo)
    temp = tmp_path / "temp"
    env = {**os.environ, "TMPDIR": str(temp), "GITHUB_ACTIONS": "true"}
    env["GITHUB_WORKSPACE"] = str(repo)
    done = subprocess.run(
        [sys.executable, "-c", KILLED_MID_RUN, str(repo)], env=env, check=False, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    assert not (repo / ".git").exists()  # killed with the .git parked
    assert list(temp.glob(f"selfheal-git-*/{PARKED_GIT}"))
    removed = remove_stale(temp)
    assert len(removed) == 1
    assert (repo / ".git").is_dir()
    after = checkout_state(repo)
    # The half-done edit is the killed run's; the repository itself is as it was.
    assert after.pop("status") == " M pkg/calc.py\n"
    before.pop("status")
    after.pop("tracked"), before.pop("tracked")
    assert after == before
    assert list(temp.iterdir()) == []


def test_a_parked_git_dir_never_goes_where_a_git_dir_is_again(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = checkout(make_repo)
    env = {**os.environ, "TMPDIR": str(tmp_path / "temp"), "GITHUB_ACTIONS": "true"}
    env["GITHUB_WORKSPACE"] = str(repo)
    subprocess.run([sys.executable, "-c", KILLED_MID_RUN, str(repo)], env=env, check=False)
    git(repo, "init", "-q")  # someone made a new repository there meanwhile
    assert remove_stale(tmp_path / "temp") == []  # the parked one is left, not removed
    assert len(list((tmp_path / "temp").glob(f"selfheal-git-*/{PARKED_GIT}/objects"))) == 1


def test_the_next_run_finds_a_killed_runs_checkout_again(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = checkout(make_repo)
    env = {**os.environ, "TMPDIR": str(tmp_path / "temp"), "GITHUB_ACTIONS": "true"}
    env["GITHUB_WORKSPACE"] = str(repo)
    subprocess.run([sys.executable, "-c", KILLED_MID_RUN, str(repo)], env=env, check=False)
    assert not (repo / ".git").exists()
    # The next run's first look at the repository (before any workspace) puts it back.
    assert locate(repo / "pkg").git_dir == (repo / ".git").resolve()
    git(repo, "checkout", "--", ".")  # as actions/checkout cleans a reused checkout
    on_actions(monkeypatch, repo)
    with open_workspace(repo) as ws:
        assert ws.mode == "adopt"
    assert git(repo, "status", "--porcelain") == ""


def test_a_crash_while_adopting_puts_the_git_dir_back(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    repo = checkout(make_repo)
    on_actions(monkeypatch, repo)
    before = checkout_state(repo)

    def crash(self: Workspace, tree: str) -> None:
        assert not (repo / ".git").exists()  # it was parked when the crash came
        raise KeyboardInterrupt

    monkeypatch.setattr(Workspace, "checkpoint_at", crash)
    with pytest.raises(KeyboardInterrupt):
        open_workspace(repo)
    assert checkout_state(repo) == before
    assert list((tmp_path / "temp").iterdir()) == []
