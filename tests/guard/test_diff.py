"""parse_diff on real `git diff` output: renames, modes, binary, symlinks, odd names."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.forge.git import open_workspace
from bot.guard.diff import ChangedFile, parse_diff, unquote_path
from tests.conftest import MakeRepo, git

ODD_NAMES = ["with space.py", "ünï cødé.py", 'quo"te.txt', "tab\there.txt", "new\nline.txt"]


def staged_diff(repo: Path) -> str:
    """The diff of everything in the working tree against HEAD, with the options selfheal uses."""
    git(repo, "add", "-A")
    # Bytes, not text mode: universal newlines would hide a "\r" the parser must keep.
    argv = [
        "git",
        "-c",
        "core.quotePath=true",
        "diff",
        "--cached",
        "--binary",
        "-M",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "HEAD",
    ]
    return subprocess.run(argv, cwd=repo, check=True, capture_output=True).stdout.decode()


def by_path(files: list[ChangedFile]) -> dict[str, ChangedFile]:
    return {f.path: f for f in files}


def test_modified_deleted_added_and_empty_files(make_repo: MakeRepo) -> None:
    repo = make_repo({"a.py": "x = 1\ny = 2\n", "gone.txt": "bye\nnow\n"}, origin=False)
    (repo / "a.py").write_text("x = 1\ny = 3\nz = 4\n")
    (repo / "gone.txt").unlink()
    (repo / "new.py").write_text("print('hi')\n")
    (repo / "empty.txt").write_text("")
    files = by_path(parse_diff(staged_diff(repo)))
    assert set(files) == {"a.py", "gone.txt", "new.py", "empty.txt"}
    assert files["a.py"] == ChangedFile(
        path="a.py",
        old_path=None,
        status="modified",
        old_mode="100644",
        new_mode="100644",
        binary=False,
        added=("y = 3", "z = 4"),
        removed=("y = 2",),
    )
    assert files["gone.txt"].status == "deleted"
    assert files["gone.txt"].removed == ("bye", "now")
    assert (files["gone.txt"].old_mode, files["gone.txt"].new_mode) == ("100644", None)
    assert files["new.py"].status == "added"
    assert files["new.py"].added == ("print('hi')",)
    assert (files["new.py"].old_mode, files["new.py"].new_mode) == (None, "100644")
    assert files["empty.txt"].status == "added"
    assert files["empty.txt"].added == ()


def test_renames_with_and_without_edits(make_repo: MakeRepo) -> None:
    body = "".join(f"line {i}\n" for i in range(20))
    repo = make_repo({"old/one.py": body, "two.py": body + "two\n"}, origin=False)
    git(repo, "mv", "old/one.py", "new_one.py")
    (repo / "moved").mkdir()
    git(repo, "mv", "two.py", "moved/two.py")
    (repo / "moved" / "two.py").write_text(body + "TWO\n")
    files = by_path(parse_diff(staged_diff(repo)))
    assert files["new_one.py"].status == "renamed"
    assert files["new_one.py"].old_path == "old/one.py"
    assert files["new_one.py"].added == files["new_one.py"].removed == ()
    assert files["moved/two.py"].status == "renamed"
    assert files["moved/two.py"].old_path == "two.py"
    assert files["moved/two.py"].added == ("TWO",)
    assert files["moved/two.py"].removed == ("two",)


def test_mode_changes_symlinks_and_binary(make_repo: MakeRepo) -> None:
    repo = make_repo({"run.sh": "echo hi\n", "image.bin": "placeholder\n"}, origin=False)
    (repo / "run.sh").chmod(0o755)
    (repo / "image.bin").write_bytes(b"\x89PNG\0\1\2\3" * 10)
    (repo / "fresh.bin").write_bytes(bytes(range(256)))
    os.symlink("../../etc/passwd", repo / "sneaky")
    files = by_path(parse_diff(staged_diff(repo)))
    assert files["run.sh"].status == "modified"
    assert (files["run.sh"].old_mode, files["run.sh"].new_mode) == ("100644", "100755")
    assert files["run.sh"].added == files["run.sh"].removed == ()
    assert files["image.bin"].binary
    assert files["image.bin"].status == "modified"
    assert files["image.bin"].added == files["image.bin"].removed == ()
    assert files["fresh.bin"].binary
    assert files["fresh.bin"].status == "added"
    assert files["sneaky"].new_mode == "120000"
    assert files["sneaky"].added == ("../../etc/passwd",)
    assert not files["sneaky"].binary
    assert len(files) == 4  # nothing in the base85 data was read as a file


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names_come_back_exactly(make_repo: MakeRepo, name: str) -> None:
    repo = make_repo({name: "before\n", f"dir {name}/keep.txt": "k\n"}, origin=False)
    (repo / name).write_text("after\n")
    (repo / f"dir {name}" / "keep.txt").chmod(0o755)  # no ---/+++ lines: names from the header
    (repo / f"{name}.new").write_text("")
    files = by_path(parse_diff(staged_diff(repo)))
    assert set(files) == {name, f"dir {name}/keep.txt", f"{name}.new"}
    assert files[name].added == ("after",)
    assert files[f"dir {name}/keep.txt"].new_mode == "100755"


def test_rename_between_odd_names(make_repo: MakeRepo) -> None:
    repo = make_repo({"plain.txt": "same\n" * 5}, origin=False)
    git(repo, "mv", "plain.txt", "nömé with space.txt")
    (repo / "a b").mkdir()
    git(repo, "mv", "nömé with space.txt", "a b/c.txt")
    [change] = parse_diff(staged_diff(repo))
    assert (change.status, change.old_path, change.path) == ("renamed", "plain.txt", "a b/c.txt")


def test_content_that_looks_like_headers_is_content(make_repo: MakeRepo) -> None:
    original = "-- a/x\n++ b/y\nkeep\n@@ -1 +1 @@\ndiff --git a/x b/x\n"
    repo = make_repo({"tricky.sql": original, "crlf.txt": "one\r\ntwo\r\n"}, origin=False)
    (repo / "tricky.sql").write_text("-- b/x\n++ c/y\nkeep\n@@ -2 +2 @@\ndiff --git a/y b/y")
    (repo / "crlf.txt").write_bytes(b"one\r\nTWO\r\n")
    files = by_path(parse_diff(staged_diff(repo)))
    assert set(files) == {"tricky.sql", "crlf.txt"}
    tricky = files["tricky.sql"]
    assert tricky.removed == ("-- a/x", "++ b/y", "@@ -1 +1 @@", "diff --git a/x b/x")
    assert tricky.added == ("-- b/x", "++ c/y", "@@ -2 +2 @@", "diff --git a/y b/y")
    assert files["crlf.txt"].added == ("TWO\r",)


def test_workspace_diffs_parse(make_repo: MakeRepo) -> None:
    repo = make_repo({"pkg/mod.py": "def f():\n    return 1\n"})
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "mod.py").write_text("def f():\n    return 2\n")
        (ws.path / "pkg" / "ünï.py").write_text("X = 1\n")
        files = by_path(parse_diff(ws.total_diff()))
    assert files["pkg/mod.py"].added == ("    return 2",)
    assert files["pkg/ünï.py"].status == "added"


def test_empty_and_garbage_input() -> None:
    assert parse_diff("") == []
    assert parse_diff("not a diff\n+++ nothing\n") == []


def test_unquote_path() -> None:
    assert unquote_path('"a/t\\303\\251st"') == "a/tést"
    assert unquote_path('"we\\"ird\\\\name\\ttab"') == 'we"ird\\name\ttab'
    assert unquote_path("plain name") == "plain name"
