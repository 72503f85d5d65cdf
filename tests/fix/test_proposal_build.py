"""Rebuilding a verified patch as the proposal's commit: in an index of its own, judged on the
bytes it commits, never on whatever the work tree holds by then."""

from __future__ import annotations

import pytest

from bot.config import Config
from bot.errors import ProposalError
from bot.fix import proposal
from bot.forge.git import open_workspace
from tests.conftest import MakeRepo
from tests.forge.states import BOT, FILES, tree_state


def _config(**fields: object) -> Config:
    return Config.model_validate({"git": BOT.model_dump(), **fields})


def test_the_commit_is_the_patch_on_the_base_and_the_work_tree_is_not_touched(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        (ws.path / "doomed.txt").unlink()
        patch = ws.total_diff()
        verified = ws.tree_with(patch)
        # What the work tree holds afterwards (a process the agent left, a gate's output)
        # is neither read nor committed.
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return 0\n")
        (ws.path / "late.py").write_text("LATE = 1\n")
        before = tree_state(ws.path)
        built = proposal.build(
            ws, patch, mode="heal", config=_config(), message="fix", verified_tree=verified
        )
        assert built.commit is not None and built.refusal is None
        assert tree_state(ws.path) == before
        assert ws.tree_of(built.commit) == verified
        assert ws.file_in(verified, "pkg/calc.py", 1000) == (
            "100644",
            32,
            b"def add(a, b):\n    return a + b\n",
        )
        assert ws.file_in(verified, "late.py", 1000) is None


def test_the_guards_read_the_committed_bytes_not_the_work_tree(make_repo: MakeRepo) -> None:
    """The content guard sees the file the commit would hold (too big), though the work tree
    holds a small one at that path: judged on disk, the proposal would pass."""
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "data.txt").write_text("row\n" * 600)  # 2,400 bytes
        patch = ws.total_diff()
        (ws.path / "data.txt").write_text("row\n")
        built = proposal.build(
            ws, patch, mode="heal", config=_config(max_file_bytes=1000), message="fix"
        )
        assert built.commit is None
        assert built.refusal is not None and "data.txt is 2400 bytes" in built.refusal


def test_a_patch_that_does_not_rebuild_the_verified_tree_is_not_committed(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("one\n")
        verified = ws.tree_with(ws.total_diff())
        (ws.path / "notes.txt").write_text("two\n")
        other = ws.total_diff()
        with pytest.raises(ProposalError, match="does not rebuild the tree the gate verified"):
            proposal.build(
                ws, other, mode="heal", config=_config(), message="fix", verified_tree=verified
            )
        with pytest.raises(ProposalError, match="the patch is empty"):
            proposal.build(ws, " \n", mode="heal", config=_config(), message="fix")


def test_odd_names_modes_links_and_renames_rebuild_the_same_tree(make_repo: MakeRepo) -> None:
    """Names git quotes in a diff (a quote, a tab, a line break, non-ASCII), a mode change, a
    rename and a deletion: the patch rebuilds exactly the tree it came from. A new link is
    refused by a guard, as in the work tree."""
    repo = make_repo({**FILES, "pkg/old_name.py": "".join(f"LINE_{i} = {i}\n" for i in range(30))})
    with open_workspace(repo) as ws:
        for name in ('we"ird.txt', "tab\tname.txt", "line\nbreak.txt", "ünïcode.txt"):
            (ws.path / name).write_text(f"{name!r}\n")
        (ws.path / "notes.txt").chmod(0o755)
        (ws.path / "link").symlink_to("notes.txt")
        (ws.path / "pkg" / "old_name.py").rename(ws.path / "pkg" / "new_name.py")
        (ws.path / "doomed.txt").unlink()
        patch = ws.total_diff()
        assert "rename from pkg/old_name.py" in patch
        assert 'diff --git "a/tab\\tname.txt" "b/tab\\tname.txt"' in patch  # quoted by git
        verified = ws.tree_with(patch)
        built = proposal.build(
            ws, patch, mode="heal", config=_config(), message="fix", verified_tree=verified
        )
        assert (built.refusal or "").startswith("escape: link is a symbolic link")  # a guard
        (ws.path / "link").unlink()
        patch = ws.total_diff()
        verified = ws.tree_with(patch)
        built = proposal.build(
            ws, patch, mode="heal", config=_config(), message="fix", verified_tree=verified
        )
        assert built.commit is not None, built.refusal
        assert ws.total_diff(ws.tree_of(built.commit)) == patch
        assert ws.file_in(verified, "line\nbreak.txt", 100) == (
            "100644",
            18,
            b"'line\\nbreak.txt'\n",
        )
        assert ws.file_in(verified, "notes.txt", 100) == ("100755", 14, b"one\ntwo\nthree\n")
