"""The git runner and pushes, on real repos with bare local remotes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import BadInput, GitError, ProposalError
from bot.forge import git as forge_git
from bot.forge.git import GitDir, has_remote, open_workspace, remote_url, short_sha
from bot.forge.push import auth_env, ensure_commit
from tests.conftest import MakeRepo, git
from tests.forge.states import BOT, FILES, refs


def bare(path: Path) -> Path:
    git(path.parent, "init", "-q", "--bare", str(path))
    return path


def test_push_sends_exactly_one_branch_and_force_updates_it(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    git(repo, "tag", "v1.0.0")  # a tag on the base: never part of a push
    git(repo, "config", "push.followTags", "true")
    origin = bare(tmp_path / "target.git")
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("first\n")
        first = ws.commit(BOT, "first")
        ws.push(first, "selfheal/fix", str(origin))
        assert refs(origin) == {f"{first} refs/heads/selfheal/fix"}
        (ws.path / "notes.txt").write_text("second\n")
        second = ws.commit(BOT, "second")
        ws.push(second, "selfheal/fix", str(origin))  # not a fast-forward: needs the force
        assert refs(origin) == {f"{second} refs/heads/selfheal/fix"}
        with pytest.raises(BadInput, match="not a valid branch name"):
            ws.push(second, "bad..name", str(origin))
        with pytest.raises(BadInput, match="not a remote URL"):
            ws.push(second, "selfheal/fix", "--upload-pack=touch /tmp/x")
    assert git(origin, "rev-list", "--count", "refs/heads/selfheal/fix").strip() == "2"


def test_the_users_repo_config_never_steers_a_push(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    origin = repo.parent / f"{repo.name}-origin.git"
    attacker = bare(tmp_path / "attacker.git")
    marker = tmp_path / "ran"
    hook = f"#!/bin/sh\necho ran >> '{marker}'\n"
    git(repo, "tag", "v9.9.9")  # before the hooks: plain git runs them, as it should
    git(repo, "config", "remote.origin.pushurl", str(attacker))
    git(repo, "config", f"url.{attacker}.insteadOf", str(origin))
    git(repo, "config", f"url.{attacker}.pushInsteadOf", str(origin))
    git(repo, "config", "push.followTags", "true")
    git(repo, "config", "core.hooksPath", str(tmp_path / "hooks"))
    (tmp_path / "hooks").mkdir()
    for name in ("pre-push", "reference-transaction", "post-checkout", "post-index-change"):
        (tmp_path / "hooks" / name).write_text(hook)
        (tmp_path / "hooks" / name).chmod(0o755)
    with open_workspace(repo) as ws:
        assert ws.remote_url == str(origin)
        (ws.path / "notes.txt").write_text("fixed\n")
        sha = ws.commit(BOT, "fix")
        ws.reset_to(sha)
        ws.publish_branch(sha, "selfheal/fix")
        ws.push(sha, "selfheal/fix", ws.remote_url)
    assert refs(attacker) == set()
    assert f"{sha} refs/heads/selfheal/fix" in refs(origin)
    assert "refs/tags/v9.9.9" not in git(origin, "for-each-ref")
    assert not marker.exists()


def test_a_rejected_push_is_a_proposal_error_with_gits_words(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(FILES)
    origin = bare(tmp_path / "guarded.git")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'branch protection: no bots here' >&2\nexit 1\n")
    hook.chmod(0o755)
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("fixed\n")
        sha = ws.commit(BOT, "fix")
        with pytest.raises(ProposalError) as caught:
            ws.push(sha, "selfheal/fix", str(origin))
        with pytest.raises(ProposalError, match="does not appear to be a git repository"):
            ws.push(sha, "selfheal/fix", str(tmp_path / "nowhere"))
    message = str(caught.value)
    assert message.startswith(f"could not push selfheal/fix to {origin}: ")
    assert "branch protection: no bots here" in message
    assert "pre-receive hook declined" in message
    assert refs(origin) == set()


def test_push_errors_never_show_credentials(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(FILES)
    canary = "canary-token-7f3a9b2c"
    monkeypatch.setenv("GITHUB_TOKEN", canary)
    # Port 1 on localhost refuses at once; git names the URL in its error.
    url = f"https://x-access-token:{canary}@127.0.0.1:1/owner/repo.git"
    with open_workspace(repo) as ws:
        (ws.path / "notes.txt").write_text("fixed\n")
        sha = ws.commit(BOT, "fix")
        with pytest.raises(ProposalError) as caught:
            ws.push(sha, "selfheal/fix", url, token="another-secret-token", token_host="127.0.0.1")
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert canary not in message
    assert "another-secret-token" not in message


def test_the_token_goes_over_https_to_its_host_only() -> None:
    token = "tok-123456"
    env, hide = auth_env(token, "https://github.com/o/r.git", "github.com")
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert token in hide
    assert (
        auth_env(token, "https://GHE.example:8443/o/r", "ghe.example")[0]["GIT_CONFIG_KEY_0"]
        == "http.https://ghe.example:8443/.extraHeader"
    )
    for url, host in (
        ("https://evil.example/o/r.git", "github.com"),
        ("http://github.com/o/r.git", "github.com"),  # never in clear text
        ("git@github.com:o/r.git", "github.com"),
        ("https://github.com.evil.example/o/r", "github.com"),
        ("https://github.com/o/r.git", None),
    ):
        assert auth_env(token, url, host) == ({}, hide), url
    assert auth_env(None, "https://github.com/o/r", "github.com") == ({}, [])


def test_remotes_are_read_as_written(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    origin = repo.parent / f"{repo.name}-origin.git"
    assert has_remote(repo)
    assert not has_remote(repo, "upstream")
    assert remote_url(repo) == str(origin)
    assert remote_url(repo, "upstream") is None


def test_ensure_commit_fetches_a_missing_commit(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    other = tmp_path / "other-clone"
    git(
        tmp_path,
        "clone",
        "-q",
        "-b",
        "main",
        str(repo.parent / f"{repo.name}-origin.git"),
        str(other),
    )
    (other / "notes.txt").write_text("upstream moved on\n")
    git(other, "commit", "-qam", "upstream")
    git(other, "push", "-q", "origin", "HEAD:refs/heads/later")
    sha = git(other, "rev-parse", "HEAD").strip()
    ensure_commit(repo, sha)
    assert git(repo, "cat-file", "-t", sha).strip() == "commit"
    assert not (repo / ".git" / "FETCH_HEAD").exists()
    with pytest.raises(BadInput, match="full commit SHA"):
        ensure_commit(repo, "HEAD")
    with pytest.raises(BadInput, match="could not be fetched"):
        ensure_commit(repo, "1" * 40)


HOOKS = (
    "post-checkout",
    "pre-commit",
    "post-commit",
    "reference-transaction",
    "post-index-change",
    "pre-push",
    "pre-auto-gc",
    "pre-receive",
    "post-receive",
    "update",
)


def test_repository_hooks_never_run(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(FILES)
    origin = repo.parent / f"{repo.name}-origin.git"
    marker = tmp_path / "hook-ran"
    hook_dirs = [repo / ".git" / "hooks", repo / ".githooks"]
    for hook_dir in hook_dirs:
        hook_dir.mkdir(exist_ok=True)
        for name in HOOKS:
            hook = hook_dir / name
            hook.write_text(f"#!/bin/sh\necho {name} >> '{marker}'\nexit 0\n")
            hook.chmod(0o755)
    for round_ in range(2):
        with open_workspace(repo) as ws:
            (ws.path / "notes.txt").write_text(f"fixed {round_}\n")
            ws.checkpoint()
            ws.attempt_diff()
            ws.rollback()
            (ws.path / "notes.txt").write_text(f"fixed {round_}\n")
            sha = ws.commit(BOT, "fix")
            ws.reset_to(sha)
            ws.publish_branch(sha, "selfheal/hooks")
            ws.push(sha, "selfheal/hooks", str(origin))
        assert not marker.exists()
        # A repo that sets core.hooksPath (husky and friends) is no different.
        git(repo, "config", "core.hooksPath", ".githooks")
    # The hooks themselves work: plain git runs them.
    git(repo, "commit", "-q", "--allow-empty", "-m", "plain git")
    assert "pre-commit" in marker.read_text()


def test_git_gets_no_secret_and_no_outside_git_variable(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo({**FILES, ".gitattributes": "*.txt filter=spy\n"})
    seen = tmp_path / "git-env"
    # A `git` first on PATH that writes down the environment it was started with.
    spy = tmp_path / "bin"
    spy.mkdir()
    real = next(
        Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / "git").is_file()
    )
    (spy / "git").write_text(
        f"#!/bin/sh\nenv >> '{seen}'\necho --- >> '{seen}'\nexec {real} \"$@\"\n"
    )
    (spy / "git").chmod(0o755)
    # The repo's own filter is a program git starts: it may run where the user's own git
    # would (the status check of their checkout), never on the workspace.
    filter_ran = tmp_path / "filter-ran"
    git(repo, "config", "filter.spy.clean", f"sh -c 'pwd >> \"{filter_ran}\"; cat'")
    monkeypatch.setenv("GITHUB_TOKEN", "canary-github-token-1234")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "canary-api-key-5678")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere-index"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(tmp_path))
    monkeypatch.setenv("PATH", f"{spy}{os.pathsep}{os.environ['PATH']}")
    with open_workspace(repo) as ws:
        (ws.path / "secret-check.txt").write_text("filtered\n")
        assert "secret-check.txt" in ws.attempt_diff()
    calls = seen.read_text().split("---\n")[:-1]
    assert len(calls) > 5
    for call in calls:
        names = dict(line.split("=", 1) for line in call.splitlines() if "=" in line)
        assert "canary" not in call
        assert names["GIT_CONFIG_NOSYSTEM"] == "1"
        assert names["GIT_CONFIG_GLOBAL"] == "/dev/null"
        assert names["GIT_TERMINAL_PROMPT"] == "0"
        assert "GIT_DIR" not in names and "GIT_INDEX_FILE" not in names
        assert "GIT_CONFIG_COUNT" not in names
    ran_in = set(filter_ran.read_text().split()) if filter_ran.exists() else set()
    assert ran_in <= {str(repo)}


def test_git_errors_carry_gits_words_not_a_traceback(make_repo: MakeRepo) -> None:
    repo = make_repo(FILES)
    where = GitDir(repo / ".git", repo)
    with pytest.raises(GitError) as caught:
        forge_git.run(where, "rev-parse", "--verify", "no-such-rev")
    assert str(caught.value) == "git rev-parse failed: fatal: Needed a single revision"
    with pytest.raises(GitError, match="not a git repository"):
        forge_git.run(GitDir(repo / "missing"), "status")


def test_short_sha() -> None:
    assert short_sha("0123456789abcdef0123456789abcdef01234567") == "0123456"


def test_the_old_names_still_resolve_through_git() -> None:
    from bot.forge import push as push_module
    from bot.forge import workspace

    assert forge_git.Workspace is workspace.Workspace
    assert forge_git.ensure_commit is push_module.ensure_commit
    with pytest.raises(AttributeError):
        _ = forge_git.no_such_name
