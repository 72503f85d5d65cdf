"""The git choke point, on real repos with a bare local origin."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from bot.config import GitIdentity
from bot.errors import BadInput, GitError, ProposalError
from bot.forge import git as forge_git
from bot.forge.git import has_remote, open_workspace, push, short_sha
from bot.report import FileChange
from tests.conftest import MakeRepo, git

BOT = GitIdentity(name="Heal Bot", email="heal@example.com")
FILES = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a, b):\n    return a - b\n",
    "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "notes.txt": "one\ntwo\nthree\n",
    "doomed.txt": "bye\n",
    ".gitignore": "*.log\n",
}


def tree_state(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every file under root but .git: symlinks by target, files by mode and bytes."""
    state: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path).encode())
        elif path.is_file():
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            state[rel] = ("exec" if executable else "file", path.read_bytes())
    return state


def user_state(repo: Path) -> dict[str, object]:
    """Everything about the user's repo selfheal promises not to touch."""
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "ref": git(repo, "symbolic-ref", "HEAD"),
        "refs": git(repo, "for-each-ref"),
        "head_reflog": git(repo, "reflog", "show", "--format=%H %gs", "HEAD"),
        "index": (repo / ".git" / "index").read_bytes(),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "stash": git(repo, "stash", "list"),
        "files": tree_state(repo),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
    }


def worktree_paths(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in listing.splitlines() if line.startswith("worktree ")]


def test_workspace_is_a_detached_worktree_outside_the_repo(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with open_workspace(repo / "pkg") as ws:  # a subdirectory finds the top level
        assert ws.repo == repo.resolve()
        assert ws.base_sha == git(repo, "rev-parse", "HEAD").strip()
        assert ws.base_ref == "main"
        assert not ws.path.resolve().is_relative_to(repo.resolve())
        assert (ws.path / "pkg" / "calc.py").read_text() == FILES["pkg/calc.py"]
        assert git(ws.path, "rev-parse", "HEAD").strip() == ws.base_sha
        assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"  # detached
        assert str(ws.path) in worktree_paths(repo)
        assert ws.attempt_diff() == ""
        assert ws.total_diff() == ""
    assert not ws.path.exists()
    assert worktree_paths(repo) == [str(repo)]
    assert user_state(repo) == before


def test_detached_head_has_no_base_ref(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    git(repo, "checkout", "-q", "--detach")
    with open_workspace(repo) as ws:
        assert ws.base_ref is None


def test_dirty_repo_is_refused_naming_the_files(make_repo: MakeRepo) -> None:
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
    assert worktree_paths(repo) == [str(repo)]


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


def test_not_a_repo_and_no_commits_are_bad_input(tmp_path: Path) -> None:
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

        # The diff is a real patch: applying it brings the attempt back, binary and all.
        patch = tmp_path / "attempt.patch"
        patch.write_text(diff)
        git(ws.path, "apply", "--binary", str(patch))
        changed.pop("pkg/__pycache__/calc.cpython-311.pyc")
        assert tree_state(ws.path) == changed


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


def test_rollback_survives_an_agent_that_stages_and_commits(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        before = tree_state(ws.path)
        (ws.path / "notes.txt").write_text("agent was here\n")
        (ws.path / "agent.py").write_text("x = 1\n")
        git(ws.path, "add", "-A")
        git(ws.path, "commit", "-q", "-m", "agents should not commit")
        assert "agent.py" in ws.attempt_diff()
        ws.rollback()
        assert tree_state(ws.path) == before
        assert ws.total_diff() == ""


def test_total_diff_and_changed_files_count_lines(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("one\n2\n3\nfour\n")
        ws.checkpoint()
        (ws.path / "doomed.txt").unlink()
        (ws.path / "blob.bin").write_bytes(b"\0\1\2")
        git(ws.path, "mv", "pkg/calc.py", "pkg/arith.py")
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


def test_propose_makes_one_commit_and_touches_nothing_else(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    (repo / "scratch.txt").write_text("the user's untracked file\n")
    git(repo, "stash", "list")
    before = user_state(repo)
    with open_workspace(repo) as ws:
        (ws.path / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
        ws.checkpoint()  # checkpoints are squashed into the one commit
        (ws.path / "pkg" / "extra.py").write_text("EXTRA = 2\n")
        sha = ws.propose("selfheal/heal-1", BOT, "Fix add\n\nIt subtracted.")
        assert git(repo, "rev-parse", "refs/heads/selfheal/heal-1").strip() == sha
        assert git(repo, "rev-list", f"{ws.base_sha}..{sha}").split() == [sha]
        assert git(repo, "rev-parse", f"{sha}^").strip() == ws.base_sha
        show = git(repo, "show", "-s", "--format=%an <%ae>|%cn <%ce>|%B", sha)
        assert show.startswith("Heal Bot <heal@example.com>|Heal Bot <heal@example.com>|Fix add\n")
        assert git(repo, "diff", "--name-only", ws.base_sha, sha).split() == [
            "pkg/calc.py",
            "pkg/extra.py",
        ]
        assert git(repo, "show", f"{sha}:pkg/calc.py").endswith("return a + b\n")

        (ws.path / "pkg" / "extra.py").write_text("EXTRA = 3\n")
        second = ws.propose("selfheal/heal-1", BOT, "Fix add again")
        assert second != sha
        assert git(repo, "rev-parse", "refs/heads/selfheal/heal-1").strip() == second
        assert git(repo, "rev-parse", f"{second}^").strip() == ws.base_sha
    after = user_state(repo)
    refs_after, refs_before = str(after.pop("refs")), str(before.pop("refs"))
    assert after == before  # HEAD, its reflog, index, status, stash, files, worktrees
    # The one new ref is the branch; no checkpoint left a ref behind.
    new_refs = set(refs_after.splitlines()) - set(refs_before.splitlines())
    assert new_refs == {f"{second} commit\trefs/heads/selfheal/heal-1"}
    assert set(refs_before.splitlines()) <= set(refs_after.splitlines())


def test_propose_refuses_bad_branches_and_empty_fixes(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    git(repo, "branch", "other")
    git(repo, "worktree", "add", "-q", str(repo.parent / "elsewhere"), "other")
    with open_workspace(repo) as ws:
        with pytest.raises(ProposalError, match="nothing to propose"):
            ws.propose("selfheal/empty", BOT, "empty")
        (ws.path / "notes.txt").write_text("changed\n")
        with pytest.raises(BadInput, match="branch you are on"):
            ws.propose("main", BOT, "no")
        with pytest.raises(BadInput, match="worktree has it checked out"):
            ws.propose("other", BOT, "no")
        for bad in ("bad..name", "-f", "@{-1}", "", "trailing/", "spa ce", "x.lock", "HEAD"):
            with pytest.raises(BadInput, match="not a valid branch name"):
                ws.propose(bad, BOT, "no")
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/heads").split() == [
        "refs/heads/main",
        "refs/heads/other",
    ]


def test_push_force_updates_the_branch_in_origin(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    origin = repo.parent / f"{repo.name}-origin.git"
    assert has_remote(repo)
    assert not has_remote(repo, "upstream")
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("first\n")
        first = ws.propose("selfheal/fix", BOT, "first")
        push(repo, "selfheal/fix")
        assert git(origin, "rev-parse", "refs/heads/selfheal/fix").strip() == first
        (ws.path / "notes.txt").write_text("second\n")
        second = ws.propose("selfheal/fix", BOT, "second")
        push(repo, "selfheal/fix")  # not a fast-forward: needs the force
        assert git(origin, "rev-parse", "refs/heads/selfheal/fix").strip() == second
    assert git(origin, "rev-parse", "refs/heads/main") == git(repo, "rev-parse", "main")


def test_push_failure_is_a_proposal_error_with_gits_words(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES, origin=False)
    with pytest.raises(ProposalError, match="does not appear to be a git repository"):
        push(repo, "main", "nowhere")
    with pytest.raises(ProposalError, match="src refspec"):
        push(repo, "no-such-branch", str(repo))


def test_push_error_never_shows_credentials(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES, origin=False)
    canary = "canary-token-7f3a9b2c"
    monkeypatch.setenv("GITHUB_TOKEN", canary)
    # Port 1 on localhost refuses at once; git names the URL in its error.
    url = f"https://x-access-token:{canary}@127.0.0.1:1/owner/repo.git"
    with pytest.raises(ProposalError) as caught:
        push(repo, "main", url, token="another-secret-token")
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert canary not in message
    assert "another-secret-token" not in message


def test_close_after_an_exception_leaves_nothing_behind(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    with pytest.raises(RuntimeError, match="boom"), open_workspace(repo) as ws:
        (ws.path / "half-done.py").write_text("x = 1\n")
        ws.checkpoint()
        raise RuntimeError("boom")
    assert not ws.path.exists()
    assert not ws.path.parent.exists()  # the temp dir
    assert worktree_paths(repo) == [str(repo)]
    assert not (repo / ".git" / "worktrees").exists() or not any(
        (repo / ".git" / "worktrees").iterdir()
    )
    ws.close()  # idempotent
    assert user_state(repo) == before


def test_close_copes_with_a_worktree_deleted_under_it(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    ws = open_workspace(repo)
    shutil.rmtree(ws.path.parent)
    ws.close()
    assert worktree_paths(repo) == [str(repo)]


def test_a_crash_while_opening_leaves_nothing_behind(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES)
    before = user_state(repo)
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(prefix: str) -> str:
        made.append(Path(real_mkdtemp(prefix=prefix)))
        return str(made[-1])

    def crash(self: forge_git.Workspace) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(forge_git.Workspace, "checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        open_workspace(repo)
    assert made
    assert not made[0].exists()
    assert worktree_paths(repo) == [str(repo)]
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
    assert worktree_paths(repo) == [str(repo)]


HOOKS = (
    "post-checkout",
    "pre-commit",
    "post-commit",
    "reference-transaction",
    "post-index-change",
    "pre-push",
    "pre-auto-gc",
)


def test_repository_hooks_never_run(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    marker = tmp_path / "hook-ran"
    hook_dirs = [repo / ".git" / "hooks", repo / ".githooks"]
    for hook_dir in hook_dirs:
        hook_dir.mkdir(exist_ok=True)
        for name in HOOKS:
            hook = hook_dir / name
            hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\nexit 0\n")
            hook.chmod(0o755)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("fixed\n")
        ws.checkpoint()
        ws.attempt_diff()
        ws.rollback()
        (ws.path / "notes.txt").write_text("fixed\n")
        ws.propose("selfheal/hooks", BOT, "fix")
        push(repo, "selfheal/hooks")
    assert not marker.exists()
    # A repo that sets core.hooksPath (husky and friends) is no different.
    git(repo, "config", "core.hooksPath", ".githooks")
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("again\n")
        ws.propose("selfheal/hooks", BOT, "fix again")
        push(repo, "selfheal/hooks")
    assert not marker.exists()
    # The hooks themselves work: plain git runs them.
    git(repo, "commit", "-q", "--allow-empty", "-m", "plain git")
    assert "pre-commit" in marker.read_text()


def test_secrets_in_the_environment_do_not_reach_git_or_its_children(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo({**FILES, ".gitattributes": "*.txt filter=spy\n"})
    seen = tmp_path / "filter-env"
    # A clean filter is a program git starts with its own environment: a window onto it.
    git(repo, "config", "filter.spy.clean", f"sh -c 'env >> \"{seen}\"; cat'")
    monkeypatch.setenv("GITHUB_TOKEN", "canary-github-token-1234")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "canary-api-key-5678")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "from env")
    with open_workspace(repo) as ws:
        (ws.path / "secret-check.txt").write_text("filtered\n")
        ws.checkpoint()
    env_dump = seen.read_text()
    assert "HOME=" in env_dump  # the filter ran and saw an environment
    assert "canary" not in env_dump
    env = forge_git._git_env()
    assert env["GITHUB_TOKEN"] == ""
    assert env["MY_SERVICE_API_KEY"] == ""
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_git_errors_carry_gits_words_not_a_traceback(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    with open_workspace(repo) as ws, pytest.raises(GitError) as caught:
        forge_git._run(ws.path, "rev-parse", "--verify", "no-such-rev")
    assert str(caught.value) == "git rev-parse failed: fatal: Needed a single revision"


def test_short_sha() -> None:
    assert short_sha("0123456789abcdef0123456789abcdef01234567") == "0123456"
