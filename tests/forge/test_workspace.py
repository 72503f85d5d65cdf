"""The workspace: a work tree with no .git, a private git dir elsewhere, on real repos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.errors import BadInput, ProposalError
from bot.forge import git as forge_git
from bot.forge import workspace as forge_workspace
from bot.forge.git import open_workspace, tree_command
from bot.forge.git_parse import never_staged
from bot.forge.owned_dirs import OWNER_FILE, make_owned_dir
from bot.report import FileChange
from tests.conftest import MakeRepo, git
from tests.forge.states import BOT, FILES, git_fails, refs, tree_state, user_state
from tests.forge.test_kept_trees import kept_tree


def leftovers(tmp_path: Path) -> list[str]:
    """The temp dir's entries but the kept work trees (tests/forge/test_kept_trees.py)."""
    temp = (tmp_path / "temp").iterdir()
    return sorted(p.name for p in temp if not p.name.startswith("selfheal-trees-"))


def test_workspace_has_no_git_and_its_git_dir_is_elsewhere(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with open_workspace(repo / "pkg") as ws:  # a subdirectory finds the top level
        assert ws.repo == repo.resolve()
        assert ws.base_sha == git(repo, "rev-parse", "HEAD").strip()
        assert ws.base_ref == "main"
        assert ws.remote_url == str(repo.parent / f"{repo.name}-origin.git")
        assert not ws.path.resolve().is_relative_to(repo.resolve())
        assert tree_state(ws.path, skip_git=False) == tree_state(repo)
        assert not (ws.path / ".git").exists()
        homes = leftovers(tmp_path)
        assert len(homes) == 2
        assert homes[0].startswith("selfheal-git-")
        assert homes[1].startswith("selfheal-ws-")
        assert ws.path.parent.name in homes  # the git dir is in the other one
        assert ws.attempt_diff() == ""
        assert ws.total_diff() == ""
        # The agent's git finds no repository: not the private one, not the user's.
        env = ws.child_env({**os.environ, "GIT_DIR": str(repo / ".git")})
        assert "GIT_DIR" not in env
        said = git_fails(ws.path / "pkg", "status", env=env)
        assert "not a git repository" in said
    assert leftovers(tmp_path) == []
    # The work tree stays for the next workspace of the repository, the rest is gone.
    assert tree_state(kept_tree(repo)) == tree_state(repo)
    assert user_state(repo) == before


def test_detached_head_has_no_base_ref_and_no_remote_is_none(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES, origin=False)
    git(repo, "checkout", "-q", "--detach")
    with open_workspace(repo) as ws:
        assert ws.base_ref is None
        assert ws.remote_url is None


def test_remote_url_is_read_raw(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    url = git(repo, "remote", "get-url", "origin").strip()
    git(repo, "config", "remote.origin.pushurl", "/attacker.git")
    git(repo, "config", "url./elsewhere/.insteadOf", url)
    with open_workspace(repo) as ws:
        assert ws.remote_url == url


def test_dirty_repo_is_refused_naming_the_files(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    (repo / "notes.txt").write_text("edited\n")
    (repo / "doomed.txt").unlink()
    (repo / "untracked.py").write_text("fine\n")
    with pytest.raises(BadInput) as caught:
        open_workspace(repo)
    message = str(caught.value)
    assert "notes.txt" in message
    assert "doomed.txt" in message
    assert "untracked.py" not in message
    assert "commit or stash them first: selfheal heals what is committed" in message
    assert leftovers(tmp_path) == []


def test_dirty_list_is_capped_at_five(make_repo: MakeRepo) -> None:
    repo = make_repo({f"f{i}.txt": "x\n" for i in range(8)})
    for i in range(8):
        (repo / f"f{i}.txt").write_text("y\n")
    with pytest.raises(BadInput, match="and 3 more"):
        open_workspace(repo)


def test_untracked_files_are_fine_and_stay_out_of_the_workspace(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    (repo / "scratch.py").write_text("mine\n")
    with open_workspace(repo) as ws:
        assert not (ws.path / "scratch.py").exists()
    assert (repo / "scratch.py").read_text() == "mine\n"


def test_not_a_repo_no_commits_and_unknown_base_are_bad_input(
    tmp_path: Path, make_repo: MakeRepo
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(BadInput, match="not inside a git work tree"):
        open_workspace(plain)
    with pytest.raises(BadInput, match="not a directory"):
        open_workspace(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(BadInput, match="no commits"):
        open_workspace(empty)
    repo = make_repo(FILES)
    with pytest.raises(BadInput, match="is not in"):
        open_workspace(repo, "0" * 40)
    with pytest.raises(BadInput, match="is not in"):
        open_workspace(repo, "HEAD")  # only a full sha names a base


def test_checkpoint_diff_rollback_round_trip(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        at_checkpoint = tree_state(ws.path)
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        (ws.path / "doomed.txt").unlink()
        (ws.path / "pkg" / "new.py").write_text("VALUE = 1\n")
        (ws.path / "blob.bin").write_bytes(bytes(range(256)) * 4)
        (ws.path / "link").symlink_to("notes.txt")
        (ws.path / "notes.txt").chmod(0o755)
        (ws.path / "debug.log").write_text("ignored\n")
        (ws.path / "pkg" / "__pycache__").mkdir()
        (ws.path / "pkg" / "__pycache__" / "calc.cpython-311.pyc").write_bytes(b"\0junk")

        diff = ws.attempt_diff()
        assert "-    return a - b\n+    return a + b\n" in diff
        assert "diff --git a/doomed.txt b/doomed.txt\ndeleted file mode 100644" in diff
        assert "diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644" in diff
        assert "diff --git a/blob.bin b/blob.bin\nnew file mode 100644" in diff
        assert "GIT binary patch" in diff
        assert "diff --git a/link b/link\nnew file mode 120000" in diff
        assert "old mode 100644\nnew mode 100755" in diff
        assert "debug.log" not in diff  # ignored
        assert "__pycache__" not in diff  # the gate's litter is never part of a fix
        assert "\x1b[" not in diff  # no color
        changed = tree_state(ws.path)

        ws.rollback()
        after = tree_state(ws.path)
        assert after.pop("debug.log") == ("file", b"ignored\n")  # ignored files are not ours
        assert after == at_checkpoint
        assert ws.attempt_diff() == ""

        # The diff is a real patch: applied to the base in an index of its own, it builds the
        # attempt's tree, binary, link and mode and all, and the work tree is not touched.
        rolled_back = tree_state(ws.path)
        tree = ws.tree_with(diff)
        assert ws.total_diff(tree) == diff
        assert tree_state(ws.path) == rolled_back
        limit = 1 << 20
        assert ws.file_in(tree, "blob.bin", limit) == ("100644", 1024, changed["blob.bin"][1])
        assert ws.file_in(tree, "link", limit) == ("120000", 9, b"notes.txt")
        assert ws.file_in(tree, "notes.txt", limit)[0] == "100755"  # type: ignore[index]
        assert ws.file_in(tree, "pkg", limit) == ("040000", 0, None)  # a dir: no bytes
        assert ws.file_in(tree, "blob.bin", 10) == ("100644", 1024, None)  # past the limit
        for absent in ("doomed.txt", "debug.log", "pkg/__pycache__/calc.cpython-311.pyc", "../x"):
            assert ws.file_in(tree, absent, limit) is None
        with pytest.raises(ProposalError, match="does not apply"):
            ws.tree_with(diff.replace("-    return a - b", "-    return a % b"))  # not the base


def test_rollback_goes_to_the_latest_checkpoint(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "first.txt").write_text("kept\n")
        ws.checkpoint()
        (ws.path / "second.txt").write_text("dropped\n")
        (ws.path / "first.txt").write_text("changed\n")
        assert "second.txt" in ws.attempt_diff()
        assert "first.txt" in ws.attempt_diff()
        ws.rollback()
        assert (ws.path / "first.txt").read_text() == "kept\n"
        assert not (ws.path / "second.txt").exists()
        assert "first.txt" in ws.total_diff()


def test_rollback_survives_an_agent_that_makes_its_own_repo(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        before = tree_state(ws.path, skip_git=False)
        (ws.path / "notes.txt").write_text("agent was here\n")
        (ws.path / "agent.py").write_text("x = 1\n")
        env = ws.child_env(os.environ)
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "agents do not commit"]):
            subprocess.run(["git", *args], cwd=ws.path, env=env, check=True)
        assert "agent.py" in ws.attempt_diff()
        assert ".git" not in ws.attempt_diff()
        ws.rollback()
        assert tree_state(ws.path, skip_git=False) == before
        assert ws.total_diff() == ""


def test_total_diff_and_changed_files_count_lines(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("one\n2\n3\nfour\n")
        ws.checkpoint()
        (ws.path / "doomed.txt").unlink()
        (ws.path / "blob.bin").write_bytes(b"\0\1\2")
        (ws.path / "pkg" / "calc.py").rename(ws.path / "pkg" / "arith.py")
        assert ws.attempt_diff().count("diff --git") == 3
        total = ws.total_diff()
        assert "+2\n+3\n+four\n" in total
        assert "rename from pkg/calc.py\nrename to pkg/arith.py" in total
        assert sorted(ws.changed_files(), key=lambda c: c.path) == [
            FileChange(path="blob.bin", added=0, removed=0),
            FileChange(path="doomed.txt", added=0, removed=1),
            FileChange(path="notes.txt", added=3, removed=2),
            FileChange(path="pkg/arith.py", added=0, removed=0),
        ]


def test_base_file_reads_the_base_commit_not_the_work_tree(make_repo: MakeRepo) -> None:
    repo = make_repo({**FILES, "data.bin": ""})
    (repo / "data.bin").write_bytes(b"\0\xff\x01")
    git(repo, "commit", "-qam", "binary")
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("changed\n")
        (ws.path / "fresh.txt").write_text("new\n")
        assert ws.base_file("notes.txt") == b"one\ntwo\nthree\n"
        assert ws.base_file("./pkg/calc.py") == FILES["pkg/calc.py"].encode()
        assert ws.base_file("data.bin") == b"\0\xff\x01"
        for absent in ("fresh.txt", "pkg", "", "/etc/passwd", "../notes.txt", "nope/x.py"):
            assert ws.base_file(absent) is None, absent


def test_commit_writes_one_commit_on_base_and_no_user_ref(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with open_workspace(repo) as ws:
        with pytest.raises(ProposalError, match="nothing to propose"):
            ws.commit(BOT, "empty")
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        ws.checkpoint()  # checkpoints are squashed into the one commit
        (ws.path / "pkg" / "extra.py").write_text("EXTRA = 2\n")
        (ws.path / "pkg" / "__pycache__").mkdir()
        (ws.path / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"\0")
        sha = ws.commit(BOT, "Fix add\n\nIt subtracted.")
        assert ws.tree_of(sha) != ws.tree_of(ws.base_sha)
        assert user_state(repo) == before  # the commit is in the private git dir only
        ws.reset_to(sha)
        assert ws.total_diff().count("diff --git") == 2
        ws.publish_branch(sha, "selfheal/heal-1")
    assert git(repo, "rev-list", f"{ws.base_sha}..{sha}").split() == [sha]
    assert git(repo, "rev-parse", f"{sha}^").strip() == ws.base_sha
    show = git(repo, "show", "-s", "--format=%an <%ae>|%cn <%ce>|%B", sha)
    assert show.startswith("Heal Bot <heal@example.com>|Heal Bot <heal@example.com>|Fix add\n")
    assert git(repo, "diff", "--name-only", ws.base_sha, sha).split() == [
        "pkg/calc.py",
        "pkg/extra.py",
    ]


def test_reset_to_leaves_exactly_the_commits_bytes(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        sha = ws.commit(BOT, "fix")
        proposed = tree_state(ws.path)
        # What an agent leaves outside the commit: none of it may reach the final gate.
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return 3\n")
        (ws.path / "notes.txt").chmod(0o755)
        (ws.path / "untracked.py").write_text("x = 1\n")
        (ws.path / "hidden.log").write_text("ignored\n")
        (ws.path / ".gitignore").write_text("*.log\nshadow/\n")
        (ws.path / "shadow").mkdir()
        (ws.path / "shadow" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        (ws.path / "pkg" / "__pycache__").mkdir()
        (ws.path / "pkg" / "__pycache__" / "calc.cpython-311.pyc").write_bytes(b"\0bytecode")
        (ws.path / "nested").mkdir()
        git(ws.path / "nested", "init", "-q")
        (ws.path / "nested" / "inner.txt").write_text("inner\n")
        (ws.path / ".git").write_text(f"gitdir: {repo / '.git'}\n")
        ws.reset_to(sha)
        assert tree_state(ws.path, skip_git=False) == proposed
        assert ws.tree_of(sha) == ws.tree_of(ws.commit(BOT, "again"))
        ws.reset_to(ws.base_sha)
        assert tree_state(ws.path, skip_git=False) == tree_state(repo)
        with pytest.raises(BadInput, match="full commit SHA"):
            ws.reset_to("HEAD")


def test_a_staged_commit_holds_what_total_diff_checked_and_its_reset_is_still_exact(
    make_repo: MakeRepo,
) -> None:
    """`staged=True` skips a second walk of every file: the commit is the tree total_diff
    staged (what the guards read), and a reset after it still rewrites what changed since."""
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        checked = ws.total_diff()
        proposed = tree_state(ws.path)
        (ws.path / "pkg" / "late.py").write_text("LATE = 1\n")  # after the check
        sha = ws.commit(BOT, "fix", staged=True)
        assert ws.tree_of(sha) != ws.tree_of(ws.base_sha)
        assert "late.py" not in checked
        # Changed after the staging, same size: the stat check still finds and rewrites it.
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a * b\n")
        (ws.path / "notes.txt").unlink()
        ws.reset_to(sha, staged=True)
        assert tree_state(ws.path) == proposed  # no late.py: not in the commit
        assert ws.total_diff() == checked


def test_a_staged_reset_writes_only_what_differs_and_falls_back_when_the_index_is_not_the_commit(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `commit` staged the work tree, the index is the commit: `reset_to` then writes
    only the files that differ from it, not the whole index again (`read-tree -u`); when the
    index is some other tree, it is rebuilt. Both end exactly at the commit."""
    calls: list[tuple[str, ...]] = []
    real_run_bytes = forge_git.run_bytes

    def recording(where: object, *args: str, **options: object) -> bytes:
        calls.append(args)
        return real_run_bytes(where, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(forge_git, "run_bytes", recording)
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        sha = ws.commit(BOT, "fix", staged=False)
        proposed = tree_state(ws.path)
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a * b\n")
        (ws.path / "notes.txt").unlink()
        (ws.path / "tests").rename(ws.path / "tests-moved")
        (ws.path / "late.py").write_text("LATE = 1\n")
        calls.clear()
        ws.reset_to(sha, staged=True)
        assert tree_state(ws.path) == proposed
        assert not [c for c in calls if c[:2] == ("read-tree", "-u")]
        written = [p for c in calls if c[0] == "checkout-index" for p in c[4:]]
        assert sorted(written) == ["notes.txt", "pkg/calc.py", "tests/test_calc.py"]
        # The index is the fix's tree, not the base's: the base is rebuilt whole.
        calls.clear()
        ws.reset_to(ws.base_sha, staged=True)
        assert [c for c in calls if c[:2] == ("read-tree", "-u")]
        assert tree_state(ws.path) == tree_state(repo)


def test_a_staged_reset_undoes_a_write_that_kept_size_and_mtime(make_repo: MakeRepo) -> None:
    """A process that rewrites a committed file with the same size and puts its mtime back
    cannot set the ctime back: the reset that writes only what differs still finds it."""
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("fixed\n")
        sha = ws.commit(BOT, "fix")
        proposed = tree_state(ws.path)
        target = ws.path / "pkg" / "calc.py"
        before = target.stat()
        target.write_text(target.read_text().replace("a - b", "a * b"))
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert target.stat().st_size == before.st_size
        ws.reset_to(sha, staged=True)
        assert tree_state(ws.path) == proposed


def test_publish_branch_writes_one_branch_and_says_when_it_moved(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    git(repo, "branch", "other")
    git(repo, "worktree", "add", "-q", str(repo.parent / "elsewhere"), "other")
    before_refs = refs(repo)
    before = user_state(repo)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("first\n")
        first = ws.commit(BOT, "first")
        assert ws.publish_branch(first, "selfheal/fix") is None
        assert ws.publish_branch(first, "selfheal/fix") is None  # same commit: not moved
        (ws.path / "notes.txt").write_text("second\n")
        second = ws.commit(BOT, "second")
        assert ws.publish_branch(second, "selfheal/fix") == first
        with pytest.raises(BadInput, match="branch you are on"):
            ws.publish_branch(second, "main")
        with pytest.raises(BadInput, match="worktree has it checked out"):
            ws.publish_branch(second, "other")
        for bad in ("bad..name", "-f", "@{-1}", "", "trailing/", "spa ce", "x.lock", "HEAD"):
            with pytest.raises(BadInput, match="not a valid branch name"):
                ws.publish_branch(second, bad)
        with pytest.raises(BadInput, match="not in the workspace"):
            ws.publish_branch("1" * 40, "selfheal/fix")
    assert git(repo, "rev-parse", "refs/heads/selfheal/fix").strip() == second
    assert refs(repo) - before_refs == {f"{second} refs/heads/selfheal/fix"}
    assert before_refs <= refs(repo)
    after = user_state(repo)
    for key in ("refs", "git_files"):
        after.pop(key), before.pop(key)
    assert after == before  # HEAD, its reflog, index, config, status, stash, files, worktrees
    assert not (repo / ".git" / "FETCH_HEAD").exists()


def test_close_after_an_exception_leaves_nothing_behind(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with pytest.raises(RuntimeError, match="boom"), open_workspace(repo) as ws:
        (ws.path / "half-done.py").write_text("x = 1\n")
        (ws.path / "locked").mkdir()
        (ws.path / "locked" / "file").write_text("x\n")
        (ws.path / "locked").chmod(0o500)  # an agent that took write permission away
        ws.checkpoint()
        raise RuntimeError("boom")
    assert leftovers(tmp_path) == []
    ws.close()  # idempotent
    assert user_state(repo) == before


def test_close_copes_with_a_work_tree_deleted_under_it(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    ws = open_workspace(repo)
    shutil.rmtree(ws.path.parent)
    ws.close()
    assert leftovers(tmp_path) == []


def test_a_crash_while_opening_leaves_nothing_behind(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)

    def crash(self: forge_workspace.Workspace, tree: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(forge_workspace.Workspace, "checkpoint_at", crash)
    with pytest.raises(KeyboardInterrupt):
        open_workspace(repo)
    assert leftovers(tmp_path) == []
    assert user_state(repo) == before


def test_a_temp_dir_inside_the_repo_is_refused(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES)
    (repo / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(repo / "tmp"))
    with pytest.raises(BadInput, match="point TMPDIR elsewhere"):
        open_workspace(repo)
    assert list((repo / "tmp").iterdir()) == []


def test_workspaces_of_dead_runs_are_removed_live_ones_kept(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = [make_owned_dir("selfheal-ws-"), make_owned_dir("selfheal-git-")]
    for path in stale:
        (path / OWNER_FILE).write_text(f"{dead.stdout.strip()} 1\n")
        (path / "left.txt").write_text("from a run killed by SIGKILL\n")
    reused = make_owned_dir("selfheal-ws-")  # our pid, but another process's start time
    (reused / OWNER_FILE).write_text(f"{os.getpid()} 1\n")
    live = make_owned_dir("selfheal-ws-")
    ownerless = tmp_path / "temp" / "selfheal-ws-being-made"
    ownerless.mkdir()
    other = tmp_path / "temp" / "selfheal-demo-x"
    other.mkdir()
    with open_workspace(repo) as ws:
        kept = {ws.path.parent.name, live.name, ownerless.name, other.name}
        assert len(leftovers(tmp_path)) == 5
        assert set(leftovers(tmp_path)) >= kept
    assert set(leftovers(tmp_path)) == {live.name, ownerless.name, other.name}


def test_a_run_killed_by_sigkill_leaves_workspaces_the_next_run_removes(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from bot.forge.git import open_workspace\n"
            "ws = open_workspace(sys.argv[1])\n"
            "(ws.path / 'half-done.py').write_text('x = 1\\n')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
            str(repo),
        ],
        env={**os.environ, "TMPDIR": str(tmp_path / "temp")},
        check=False,
    )
    assert killed.returncode == -9
    left = leftovers(tmp_path)
    assert len(left) == 2  # its work tree (read-only above the checkout) and its git dir
    with open_workspace(repo) as ws:
        assert not set(left) & set(leftovers(tmp_path))
        assert ws.path.parent.name in leftovers(tmp_path)
    assert leftovers(tmp_path) == []


def test_an_enclosing_repository_is_never_written(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enclosing = make_repo({"outer.txt": "outer\n"}, origin=False)
    (enclosing / "scratch").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(enclosing / "scratch"))
    repo = make_repo(FILES)
    before = user_state(enclosing)
    with open_workspace(repo) as ws:
        env = ws.child_env(os.environ)
        (ws.path / ".git").unlink(missing_ok=True)
        said = git_fails(ws.path, "add", "-A", env=env)
        assert "not a git repository" in said
        (ws.path / "notes.txt").write_text("fixed\n")
        sha = ws.commit(BOT, "fix")
        ws.reset_to(sha)
        ws.publish_branch(sha, "selfheal/enclosed")
    # The temp dirs came and went under scratch/ (untracked) but the tree kept for the next
    # workspace, and nothing else changed.
    assert kept_tree(repo).is_relative_to(enclosing / "scratch")
    shutil.rmtree(kept_tree(repo).parent)
    assert user_state(enclosing) == before


def test_the_agents_tools_read_the_workspace_through_its_private_git_dir(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "new.py").write_text("NEEDLE = 1\n")
        (ws.path / "debug.log").write_text("NEEDLE in an ignored file\n")
        code, out, _ = tree_command(
            ws.path, ["ls-files", "--cached", "--others", "--exclude-standard"]
        )
        assert code == 0
        assert "pkg/new.py" in out.split("\n")
        assert "pkg/calc.py" in out.split("\n")
        assert "debug.log" not in out
        code, out, _ = tree_command(ws.path, ["grep", "-n", "--untracked", "-e", "NEEDLE"])
        assert (code, out) == (0, "pkg/new.py:1:NEEDLE = 1\n")
        code, out, _ = tree_command(ws.path, ["ls-files"], output_cap=10)
        assert len(out) == 10
    # Closed: a plain directory again, and git finds no repository there or above it.
    plain = ws.path
    plain.mkdir(parents=True)
    code, _, err = tree_command(plain, ["ls-files"])
    assert code != 0 and "not a git repository" in err


def test_what_the_gate_writes_is_never_part_of_the_fix(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        ws.checkpoint()
        (ws.path / ".coverage").write_bytes(b"SQLite format 3\0")
        (ws.path / ".coverage.host.1234").write_bytes(b"\0")
        (ws.path / "notes.txt").write_text("fixed\n")
        assert [c.path for c in ws.changed_files()] == ["notes.txt"]


LITTER = [
    "__pycache__/a.cpython-311.pyc",
    "pkg/__pycache__/calc.cpython-311.pyc",
    "pkg/__pycache__/notes.txt",
    "pkg/calc.pyc",
    "x.pyo",
    "deep/er/.pytest_cache/v/cache/lastfailed",
    ".ruff_cache/0.4/123",
    "pkg/.mypy_cache/3.11/calc.json",
    ".coverage",
    "pkg/.coverage.host.1234",
    ".selfheal/state",
]


@pytest.mark.parametrize("path", LITTER)
def test_never_staged_names_the_gates_litter(path: str) -> None:
    assert never_staged(path)


@pytest.mark.parametrize(
    "path",
    ["pkg/calc.py", "__pycache__", "pkg/pycache/x.py", "coverage.py", "pkg/.selfheal/x", "a.pyx"],
)
def test_never_staged_leaves_the_code_alone(path: str) -> None:
    assert not never_staged(path)


def test_litter_stays_out_of_a_fix_whatever_gitignore_says_and_tracked_litter_stays_as_is(
    make_repo: MakeRepo,
) -> None:
    # The repo's own ignore rules let bytecode and caches in, and it tracks some of them.
    unignore = "*.log\n!*.pyc\n!*.pyo\n!__pycache__/\n!.coverage*\n!.*_cache/\n"
    tracked = {"old/__pycache__/m.cpython-311.pyc": "\0old", ".coverage": "old data"}
    repo = make_repo({**FILES, ".gitignore": unignore, **tracked})
    with open_workspace(repo) as ws:
        ws.checkpoint()
        for path in LITTER:
            (ws.path / path).parent.mkdir(parents=True, exist_ok=True)
            (ws.path / path).write_bytes(b"\0litter")
        (ws.path / os.fsdecode(b"odd \xff name.pyc")).write_bytes(b"\0")
        (ws.path / "old" / "__pycache__" / "m.cpython-311.pyc").unlink()
        (ws.path / "notes.txt").write_text("fixed\n")
        assert [c.path for c in ws.changed_files()] == ["notes.txt"]
        diff = ws.attempt_diff()
        assert diff.count("diff --git") == 1 and "a/notes.txt b/notes.txt" in diff
        # The commit, as the work tree now holds it: the base and the fix, no litter, and the
        # tracked bytecode the agent deleted is back.
        ws.reset_to(ws.commit(BOT, "fix", staged=True), staged=True)
        state = tree_state(ws.path)
        assert set(state) == {*FILES, *tracked}
        assert state["old/__pycache__/m.cpython-311.pyc"] == ("file", b"\0old")
        assert state["notes.txt"] == ("file", b"fixed\n")


def test_left_out_files_never_reach_a_diff_and_a_reset_removes_them(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES, origin=False)
    with open_workspace(repo) as ws:
        (ws.path / "diagram.html").write_text("<p>")
        (ws.path / "odd [name]*.txt").write_text("x")
        (ws.path / "line\nbreak").write_text("x")  # cannot be one exclude line: stays visible
        (ws.path / "fix.py").write_text("fixed = True\n")
        products = ws.untracked() - {"fix.py"}
        assert products == {"diagram.html", "odd [name]*.txt", "line\nbreak"}
        ws.leave_out(products)
        assert ws.untracked() == {"fix.py", "line\nbreak"}
        assert {c.path for c in ws.changed_files()} == {"fix.py", "line\nbreak"}
        sha = ws.commit(BOT, "candidate")
        ws.reset_to(sha)
        assert not (ws.path / "diagram.html").exists()
        assert (ws.path / "fix.py").exists()
