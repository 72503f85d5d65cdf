"""Kept work trees (bot.forge.kept_trees): a closed workspace's tree is taken by the next one
of the same repository, and whatever was done to it meanwhile is undone or the tree refused."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.forge import kept_trees
from bot.forge.git import open_workspace
from tests.conftest import MakeRepo, git
from tests.forge.states import FILES, tree_state, user_state


def kept_tree(repo: Path) -> Path:
    """Where the workspace's tree of `repo` is kept between runs."""
    return kept_trees.slot_path(repo / ".git")


def test_the_next_workspace_takes_the_tree_the_last_one_left(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with open_workspace(repo) as ws:
        assert not ws.kept_tree
        (ws.path / "pkg" / "calc.py").write_text("the agent's change\n")
        (ws.path / "new.py").write_text("x = 1\n")
        ws.checkpoint()
        (ws.path / "big.log").write_bytes(b"\0" * 4096)  # ignored output of a gate run
        (ws.path / ".git" / "hooks").mkdir(parents=True)  # an agent's repository
        (ws.path / ".git" / "config").write_text("[core]\n\thooksPath = hooks\n")
    assert kept_tree(repo).is_dir()
    # Kept without what git does not track: the next run would remove it, and it takes room.
    assert not (kept_tree(repo) / "big.log").exists()
    assert not (kept_tree(repo) / ".git").exists()
    assert (kept_tree(repo) / "new.py").exists()  # staged by the checkpoint: tracked
    assert (kept_tree(repo) / "pkg" / "calc.py").read_text() == "the agent's change\n"
    with open_workspace(repo) as ws:
        assert ws.kept_tree
        assert not kept_tree(repo).exists()  # taken: no other run can use it meanwhile
        assert tree_state(ws.path) == tree_state(repo)
        assert ws.total_diff() == "" and ws.attempt_diff() == ""
    assert tree_state(kept_tree(repo)) == tree_state(repo)
    assert user_state(repo) == before


def test_a_kept_tree_is_brought_to_the_new_base(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    open_workspace(repo).close()
    (repo / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "doomed.txt").unlink()
    (repo / "added" / "deep").mkdir(parents=True)
    (repo / "added" / "deep" / "file.txt").write_text("new\n")
    (repo / "notes.txt").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "next")
    with open_workspace(repo) as ws:
        assert ws.kept_tree
        assert tree_state(ws.path) == tree_state(repo)


def _same_size_mtime_set_back(tree: Path, outside: Path) -> None:
    calc = tree / "pkg" / "calc.py"
    info = calc.stat()
    calc.write_text(calc.read_text().replace("a - b", "a * b"))
    os.utime(calc, ns=(info.st_atime_ns, info.st_mtime_ns))


def _litter(tree: Path, outside: Path) -> None:
    (tree / "untracked.py").write_text("import os\n")
    (tree / "ignored.log").write_text("ignored\n")  # FILES' .gitignore ignores *.log
    (tree / "pkg" / "__pycache__").mkdir()
    (tree / "pkg" / "__pycache__" / "calc.cpython-311.pyc").write_bytes(b"planted")
    (tree / "sub" / ".git").mkdir(parents=True)  # a nested repository
    (tree / "sub" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tree / ".git").write_text("gitdir: /somewhere/else\n")
    (tree / "empty").mkdir()


def _modes_and_types(tree: Path, outside: Path) -> None:
    (tree / "notes.txt").chmod(0o755)
    (tree / "doomed.txt").unlink()
    (tree / "doomed.txt").mkdir()
    (tree / "tests" / "test_calc.py").unlink()
    os.mkfifo(tree / "tests" / "test_calc.py")
    (tree / ".gitignore").unlink()
    (tree / ".gitignore").symlink_to(outside / "passwd")


@pytest.mark.parametrize(
    "tamper",
    [_same_size_mtime_set_back, _litter, _modes_and_types],
    ids=["content-same-size-and-mtime", "untracked-ignored-nested", "modes-and-types"],
)
def test_what_was_done_to_a_kept_tree_is_undone(
    make_repo: MakeRepo, tmp_path: Path, tamper: Callable[[Path, Path], None]
) -> None:
    repo = make_repo(FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    open_workspace(repo).close()
    tamper(kept_tree(repo), outside)
    with open_workspace(repo) as ws:
        assert ws.kept_tree
        assert tree_state(ws.path) == tree_state(repo)
        assert ws.total_diff() == ""
        assert not (ws.path / ".git").exists()
    assert (outside / "passwd").read_text() == "root:x:0:0\n"


def _hard_link_out(tree: Path, outside: Path) -> Path:
    """A tracked file that is also a file outside (same bytes): a write here would change it."""
    target = outside / "notes.txt"
    shutil.copyfile(tree / "notes.txt", target)
    (tree / "notes.txt").unlink()
    os.link(target, tree / "notes.txt")
    return target


def _linked_package(tree: Path, outside: Path) -> Path:
    """The package dir a link to a copy outside with the same files."""
    shutil.copytree(tree / "pkg", outside / "pkg")
    shutil.rmtree(tree / "pkg")
    (tree / "pkg").symlink_to(outside / "pkg")
    return outside / "pkg" / "calc.py"


@pytest.mark.parametrize(
    ("tamper", "used"),
    [(_hard_link_out, False), (_linked_package, True)],
    ids=["hard-link-refused", "dir-link-replaced"],
)
def test_a_kept_tree_never_reaches_outside(
    make_repo: MakeRepo, tmp_path: Path, tamper: Callable[[Path, Path], Path], used: bool
) -> None:
    # The same bytes as the base: git replaces a link on the way to a tracked file, and the
    # walk refuses a tree with a hard link (git sees nothing to change there).
    repo = make_repo(FILES)
    outside = tmp_path / "outside"
    outside.mkdir()
    open_workspace(repo).close()
    target = tamper(kept_tree(repo), outside)
    content = target.read_bytes()
    with open_workspace(repo) as ws:
        assert ws.kept_tree is used  # if not, the base was written afresh
        assert tree_state(ws.path) == tree_state(repo)
        written = ws.path / target.relative_to(outside)
        assert not written.is_symlink() and not written.parent.is_symlink()
        assert written.stat().st_nlink == 1
        written.write_text("the agent writes here\n")
    assert target.read_bytes() == content


def test_a_slot_that_is_a_link_is_not_followed(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo, elsewhere, ignore=shutil.ignore_patterns(".git"))
    kept_tree(repo).parent.mkdir(mode=0o700)
    kept_tree(repo).symlink_to(elsewhere)
    with open_workspace(repo) as ws:
        assert not ws.kept_tree
        (ws.path / "notes.txt").write_text("changed\n")
    assert (elsewhere / "notes.txt").read_text() == FILES["notes.txt"]
    assert kept_tree(repo).is_dir() and not kept_tree(repo).is_symlink()


def test_a_kept_trees_dir_others_can_enter_is_not_used(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    root = kept_tree(repo).parent
    root.mkdir(mode=0o700)
    root.chmod(0o755)
    shutil.copytree(repo, kept_tree(repo), ignore=shutil.ignore_patterns(".git"))
    with open_workspace(repo) as ws:
        assert not ws.kept_tree
    # Neither taken from it nor kept in it.
    assert kept_tree(repo).is_dir() and [p.name for p in root.iterdir()] == [kept_tree(repo).name]
    assert not (kept_tree(repo) / "doomed.txt").is_symlink()


def test_at_most_max_kept_trees_are_kept_the_least_recent_go(make_repo: MakeRepo) -> None:
    repos = [make_repo(FILES) for _ in range(kept_trees.MAX_KEPT + 1)]
    for repo in repos:
        open_workspace(repo).close()
    assert not kept_tree(repos[0]).exists()
    assert all(kept_tree(repo).is_dir() for repo in repos[1:])


def test_two_workspaces_at_once_share_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    open_workspace(repo).close()
    with open_workspace(repo) as first, open_workspace(repo) as second:
        assert first.kept_tree and not second.kept_tree
        (first.path / "notes.txt").write_text("first\n")
        assert (second.path / "notes.txt").read_text() == FILES["notes.txt"]
    # The one closed last is kept (the first: `with` closes the second before it).
    assert (kept_tree(repo) / "notes.txt").read_text() == "first\n"
