"""Kept work trees (bot.forge.kept_trees): a closed workspace's tree is taken by the next one
of the same repository, and whatever was done to it meanwhile is undone or the tree refused."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.errors import GitError
from bot.forge import git as forge_git
from bot.forge import kept_trees
from bot.forge.git import GitDir, open_workspace
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


# -- what differs from the base is written again, and nothing else -----------------------

LINKED = {**FILES, "docs/guide.txt": "read me\n"}


def linked_repo(make_repo: MakeRepo) -> Path:
    """A repository of LINKED and a tracked link, docs/latest -> guide.txt."""
    repo = make_repo(LINKED)
    (repo / "docs" / "latest").symlink_to("guide.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a link")
    return repo


@pytest.fixture
def git_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The git commands run through run_bytes (kept_trees' own, and git.py's, which the
    workspace's calls go through too), in order, as they run."""
    calls: list[tuple[str, ...]] = []
    real_run_bytes = kept_trees.run_bytes

    def recording(where: GitDir | Path, *args: str, **options: Any) -> bytes:
        calls.append(args)
        return real_run_bytes(where, *args, **options)

    monkeypatch.setattr(kept_trees, "run_bytes", recording)
    monkeypatch.setattr(forge_git, "run_bytes", recording)
    return calls


def everything(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under root but a top-level .git, dirs and odd files too, by type and
    content (a file's mode bits and bytes, a link's target)."""
    found: dict[str, tuple[str, bytes]] = {}
    pending = [root]
    while pending:
        for entry in os.scandir(pending.pop()):
            rel = Path(entry.path).relative_to(root).as_posix()
            info = entry.stat(follow_symlinks=False)
            if rel == ".git":
                continue
            if entry.is_symlink():
                found[rel] = ("link", os.fsencode(os.readlink(entry.path)))
            elif entry.is_dir(follow_symlinks=False):
                found[rel] = ("dir", b"")
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                with open(entry.path, "rb") as file:
                    found[rel] = (f"file {info.st_mode & 0o777:o} {info.st_nlink}", file.read())
            else:
                found[rel] = ("other", b"")
    return found


def _modified(tree: Path, outside: Path) -> set[str]:
    (tree / "pkg" / "calc.py").write_text("the last heal's fix, longer than the base's\n")
    (tree / "notes.txt").write_text("one\n")
    return {"pkg/calc.py", "notes.txt"}


def _deleted(tree: Path, outside: Path) -> set[str]:
    (tree / "notes.txt").unlink()
    shutil.rmtree(tree / "docs")  # the link and the dir it is in too
    return {"notes.txt", "docs/guide.txt", "docs/latest"}


def _file_made_a_link(tree: Path, outside: Path) -> set[str]:
    # To a file outside with the base's bytes: the link, never its target, is replaced.
    (outside / "calc.py").write_bytes((tree / "pkg" / "calc.py").read_bytes())
    (tree / "pkg" / "calc.py").unlink()
    (tree / "pkg" / "calc.py").symlink_to(outside / "calc.py")
    (tree / "notes.txt").unlink()
    (tree / "notes.txt").symlink_to("doomed.txt")
    return {"pkg/calc.py", "notes.txt"}


def _file_made_a_dir(tree: Path, outside: Path) -> set[str]:
    (tree / "notes.txt").unlink()
    (tree / "notes.txt" / "inside").mkdir(parents=True)
    (tree / "notes.txt" / "inside" / "file.py").write_text("x = 1\n")
    (tree / "doomed.txt").unlink()
    (tree / "doomed.txt").mkdir()  # empty
    return {"notes.txt", "doomed.txt"}


def _link_made_a_file(tree: Path, outside: Path) -> set[str]:
    # The link's target as a file's bytes: the same blob, only the mode tells them apart.
    (tree / "docs" / "latest").unlink()
    (tree / "docs" / "latest").write_text("guide.txt")
    return {"docs/latest"}


def _link_made_a_dir(tree: Path, outside: Path) -> set[str]:
    (tree / "docs" / "latest").unlink()
    (tree / "docs" / "latest").mkdir()
    (tree / "docs" / "latest" / "guide.txt").write_text("read me\n")
    return {"docs/latest"}


def _dir_made_a_file(tree: Path, outside: Path) -> set[str]:
    shutil.rmtree(tree / "pkg")
    (tree / "pkg").write_text("not a package\n")
    shutil.rmtree(tree / "docs")
    (tree / "docs").symlink_to(outside)  # removed, never written through
    return {"pkg/__init__.py", "pkg/calc.py", "docs/guide.txt", "docs/latest"}


@pytest.mark.parametrize(
    "tamper",
    [
        _modified,
        _deleted,
        _file_made_a_link,
        _file_made_a_dir,
        _link_made_a_file,
        _link_made_a_dir,
        _dir_made_a_file,
    ],
    ids=[
        "modified",
        "deleted",
        "file-made-a-link",
        "file-made-a-dir",
        "link-made-a-file",
        "link-made-a-dir",
        "dir-made-a-file-and-a-link",
    ],
)
def test_the_paths_that_differ_are_written_again_and_only_those(
    make_repo: MakeRepo,
    tmp_path: Path,
    git_calls: list[tuple[str, ...]],
    tamper: Callable[[Path, Path], set[str]],
) -> None:
    repo = linked_repo(make_repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    open_workspace(repo).close()
    tree = kept_tree(repo)
    untouched = (tree / "tests" / "test_calc.py").stat().st_ino
    differing = tamper(tree, outside)
    git_calls.clear()  # the first workspace's checkout is not the kept tree's
    outside_before = everything(outside)
    with open_workspace(repo) as ws:
        assert ws.kept_tree  # put right, not refused
        assert everything(ws.path) == everything(repo)
        assert ws.total_diff() == ""
        assert (ws.path / "tests" / "test_calc.py").stat().st_ino == untouched
    assert everything(outside) == outside_before
    # Only what differs is written: no file that was right, and no rewrite of the index.
    assert [c for c in git_calls if c[0] == "read-tree"] == [("read-tree", ws.base_sha)]
    writes = [c for c in git_calls if c[0] == "checkout-index"]
    assert len(writes) == 1 and writes[0][:4] == ("checkout-index", "-f", "-u", "--")
    assert sorted(writes[0][4:]) == sorted(differing)


ODD = {
    "with space.py": "x = 1\n",
    "new\nline.py": "x = 2\n",
    '"quoted" \\ back.py': "x = 3\n",
    "-dash.py": "x = 4\n",
    "ünï/cödé.py": "x = 5\n",
    os.fsdecode(b"bytes-\xff\xfe.py"): "x = 6\n",  # not UTF-8
    "x: needs update": "x = 7\n",
}


def test_paths_git_would_quote_are_written_as_they_are(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, **ODD})
    open_workspace(repo).close()
    names = list(ODD)
    for name in names[::2]:
        (kept_tree(repo) / name).write_text("changed\n")
    for name in names[1::2]:
        (kept_tree(repo) / name).unlink()
    with open_workspace(repo) as ws:
        assert ws.kept_tree
        assert everything(ws.path) == everything(repo)


def test_many_paths_are_written_a_command_line_at_a_time(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, git_calls: list[tuple[str, ...]]
) -> None:
    files = {f"pkg/m{i}/mod{j}.py": f"x = {i * j}\n" for i in range(5) for j in range(20)}
    repo = make_repo({**FILES, **files})
    open_workspace(repo).close()
    for name in list(files)[::3]:
        (kept_tree(repo) / name).write_text("changed\n")
    shutil.rmtree(kept_tree(repo) / "pkg" / "m4")
    monkeypatch.setattr(forge_git, "LINE_BYTES", 200)
    with open_workspace(repo) as ws:
        assert ws.kept_tree
        assert everything(ws.path) == everything(repo)
    lines = [c[4:] for c in git_calls if c[0] == "checkout-index"]
    assert len(lines) > 5 and all(sum(len(p) + 9 for p in line) <= 200 for line in lines)
    written = sorted(p for line in lines for p in line)
    assert written == sorted({*list(files)[::3], *(f for f in files if f.startswith("pkg/m4/"))})


def _dropped(where: GitDir | Path, *args: str) -> bytes:
    return b""


def _failed(where: GitDir | Path, *args: str) -> bytes:
    raise GitError("git checkout-index failed: unable to write")


@pytest.mark.parametrize("checkout", [_dropped, _failed], ids=["not-written", "write-failed"])
def test_a_tree_that_still_differs_after_the_writes_is_refused(
    make_repo: MakeRepo,
    monkeypatch: pytest.MonkeyPatch,
    checkout: Callable[..., bytes],
) -> None:
    # The same type and a plain file of ours: only git's own check after the writes can
    # tell the tree is not the base (the walk would pass it).
    repo = make_repo(FILES)
    open_workspace(repo).close()
    (kept_tree(repo) / "pkg" / "calc.py").write_text("the last heal's fix\n")
    real_run_bytes = kept_trees.run_bytes

    def without_writes(where: GitDir | Path, *args: str, **options: Any) -> bytes:
        if args[0] == "checkout-index":
            return checkout(where, *args)
        return real_run_bytes(where, *args, **options)

    monkeypatch.setattr(forge_git, "run_bytes", without_writes)
    with open_workspace(repo) as ws:
        assert not ws.kept_tree  # the base was written afresh
        assert everything(ws.path) == everything(repo)


def test_a_path_written_anew_is_checked_again(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The walk runs while git hashes, before the differing paths are written: what git then
    # writes is checked on its own. Here the written file gets a second link (to a file
    # outside) as it is written; git's own check sees the right bytes, the walk saw a tree
    # that was right, and only the check of the written paths can refuse it.
    repo = make_repo(FILES)
    open_workspace(repo).close()
    (kept_tree(repo) / "pkg" / "calc.py").write_text("the last heal's fix\n")
    outside = tmp_path / "calc.py"
    real_run_bytes = kept_trees.run_bytes

    def linking_write(where: GitDir | Path, *args: str, **options: Any) -> bytes:
        out = real_run_bytes(where, *args, **options)
        if args[0] == "checkout-index" and not outside.exists():
            assert isinstance(where, GitDir) and where.work_tree is not None
            os.link(where.work_tree / "pkg" / "calc.py", outside)
        return out

    monkeypatch.setattr(forge_git, "run_bytes", linking_write)
    with open_workspace(repo) as ws:
        assert outside.exists()  # the write happened, with its second link
        assert not ws.kept_tree  # refused: the base was written afresh
        assert (ws.path / "pkg" / "calc.py").stat().st_nlink == 1
        (ws.path / "pkg" / "calc.py").write_text("the agent writes here\n")
    assert outside.read_text() == (repo / "pkg" / "calc.py").read_text()
