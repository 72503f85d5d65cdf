"""Pushing a commit, and fetching one, with nothing from the user's repository config applied."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import BadInput, GitError, ProposalError
from bot.forge.git import (
    FULL_SHA,
    GitDir,
    check_branch_name,
    clean_message,
    execute,
    locate,
    remote_url,
    run,
)

PUSH_TIMEOUT_S = 300.0


def auth_env(
    token: str | None, url: str, token_host: str | None
) -> tuple[dict[str, str], list[str]]:
    """git config through the environment (never argv) sending `token` as HTTP Basic auth to
    `url`'s host only, and only over https to `token_host`; plus the strings to hide."""
    if not token:
        return {}, []
    hide = [token, base64.b64encode(f"x-access-token:{token}".encode()).decode()]
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    wanted = (token_host or "").lower()
    if parts.scheme != "https" or not host or wanted not in (host, parts.netloc.lower()):
        return {}, hide
    port = f":{parts.port}" if parts.port else ""
    # Scoped to the host: git looks the header up for this URL only, never for another one.
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.https://{host}{port}/.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {hide[1]}",
    }, hide


def push_commit(
    source: GitDir,
    sha: str,
    branch: str,
    url: str,
    *,
    token: str | None = None,
    token_host: str | None = None,
) -> None:
    """Force-push exactly `sha` to refs/heads/<branch> at `url` from `source`: no tags, no
    hooks, no redirects; ProposalError with git's (redacted) words when it fails."""
    if not url or url.startswith("-"):
        raise BadInput(f"{url!r} is not a remote URL")
    check_branch_name(source, branch)
    extra, hide = auth_env(token, url, token_host)
    args = ["-c", "http.followRedirects=false", "push", "--no-verify", "--quiet"]
    args += ["--no-recurse-submodules", url, f"+{sha}:refs/heads/{branch}"]
    status, out, err = execute(source, args, extra_env=extra, timeout=PUSH_TIMEOUT_S)
    if status != 0:
        text = err.strip() or out.decode("utf-8", "replace").strip() or f"exit status {status}"
        said = clean_message(f"could not push {branch} to {url}: {text}", hide)
        raise ProposalError(said)


def ensure_commit(
    repo: Path, sha: str, remote: str = "origin", *, token: str | None = None
) -> None:
    """Make sure commit `sha` is in the repo, fetching it from `remote` when it is not."""
    if not FULL_SHA.fullmatch(sha):
        raise BadInput(f"{sha!r} is not a full commit SHA")
    user = locate(repo)
    status, _, _ = execute(user.where, ["cat-file", "-e", f"{sha}^{{commit}}"])
    if status == 0:
        return
    url = remote_url(repo, remote) if not _looks_like_url(remote) else remote
    if url is None:
        raise BadInput(f"commit {sha} is not in {repo}, and it has no remote {remote!r}")
    extra, hide = auth_env(token, url, urlsplit(url).hostname)
    args = ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet", url, sha]
    try:
        run(user.where, *args, extra_env=extra, timeout=PUSH_TIMEOUT_S, hide=hide)
    except GitError as exc:
        raise BadInput(
            clean_message(f"commit {sha} is not in {repo} and could not be fetched: {exc}", hide)
        ) from exc


def _looks_like_url(remote: str) -> bool:
    return "/" in remote or ":" in remote or remote.startswith(".")
