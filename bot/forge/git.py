"""The one place selfheal runs git: GitPython, hooks off, secrets out of git's environment.

A `Workspace` is a detached worktree of the user's HEAD in a temp dir outside the repo.
The gate and fixers run there; the user's HEAD, index, working tree and branches are
never touched, except for the one branch `propose` writes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from git.cmd import Git
from git.exc import GitCommandNotFound

from bot.config import GitIdentity
from bot.errors import BadInput, GitError, ProposalError
from bot.proc import redact, scrubbed_env, secret_values
from bot.report import FileChange

# Forced on every call. Hooks and fsmonitor are programs chosen by the repository, so they
# never run from the bot; the rest keeps output parseable whatever the user's config says.
_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.quotePath=true",
    "commit.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "color.ui=false",
    "diff.suppressBlankEmpty=false",
    "advice.detachedHead=false",
)
_DIFF_OPTIONS = (
    "--binary",
    "-M",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
# --binary implies a patch, so the counts need their own list.
_NUMSTAT_OPTIONS = ("--numstat", "-z", "-M", "--no-color", "--no-ext-diff", "--no-textconv")
# What the gate leaves behind is never part of a fix, even in repos that do not ignore it.
_NEVER_STAGED = (
    ":(exclude,glob)**/__pycache__/**",
    ":(exclude,glob)**/*.py[cod]",
    ":(exclude,glob)**/.pytest_cache/**",
    ":(exclude,glob)**/.ruff_cache/**",
    ":(exclude,glob)**/.mypy_cache/**",
    ":(exclude,glob).selfheal/**",
)
_PUSH_TIMEOUT_S = 300.0
_MAX_DIRTY_LISTED = 5
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Overrides for GitPython, which starts from os.environ and can only set, not unset.

    So every variable `scrubbed_env` drops is set to "" instead. Config passed through
    GIT_CONFIG_COUNT/KEY/VALUE is dropped too: its KEY variables look secret and are blanked,
    and a half-blanked set would make git fail.
    """
    kept = scrubbed_env()
    env = {name: "" for name in os.environ if name not in kept}
    env.update(
        {
            name: ""
            for name in os.environ
            if name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
        }
    )
    env["GIT_CONFIG_COUNT"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"  # a push must fail, not wait for a password
    env.update(extra or {})
    return env


def _clean_message(text: str, hide: Sequence[str] = ()) -> str:
    text = _URL_USERINFO.sub(r"\1***@", text)
    return redact(text, [*hide, *secret_values()]).strip()


def _execute(
    cwd: Path,
    args: Sequence[str],
    extra_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> tuple[int, str, str]:
    """Run one git command through GitPython; returns (status, stdout, stderr), never raises for git."""
    argv = [Git.GIT_PYTHON_GIT_EXECUTABLE or "git", "--no-pager", "--no-optional-locks"]
    for item in _SAFE_CONFIG:
        argv += ["-c", item]
    # -C as well as the working dir: GitPython silently falls back to our own cwd when the
    # directory is missing, and git must never wander into whatever repo that is.
    argv += ["-C", str(cwd), *args]
    try:
        status, out, err = Git(str(cwd)).execute(
            argv,
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=False,
            strip_newline_in_stdout=False,
            env=_git_env(extra_env),
            kill_after_timeout=timeout,
        )
    except GitCommandNotFound as exc:
        raise GitError("git is not installed or not on PATH") from exc
    # Keep diffs exact for ASCII and UTF-8; other bytes become U+FFFD rather than a crash later.
    stderr = err.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return status, out.decode("utf-8", "replace"), stderr


def _run(
    cwd: Path,
    *args: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    hide: Sequence[str] = (),
) -> str:
    """Run git and return stdout; GitError with git's own (redacted) words when it fails."""
    status, out, err = _execute(cwd, args, extra_env, timeout)
    if status != 0:
        said = _clean_message(err or out, hide) or f"exit status {status}"
        raise GitError(f"git {args[0]} failed: {said}")
    return out


class Workspace:
    """A detached worktree of the user's HEAD in a temp dir outside the repo."""

    def __init__(
        self, repo: Path, path: Path, base_sha: str, base_ref: str | None, temp_dir: Path
    ) -> None:
        self.repo = repo
        self.path = path
        self.base_sha = base_sha
        self.base_ref = base_ref
        self._temp_dir = temp_dir
        self._admin_dir: Path | None = None
        self._checkpoint = ""
        self._closed = False

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _snapshot(self) -> str:
        """Stage everything (tracked and untracked, not ignored) in the worktree; return the tree."""
        _run(self.path, "add", "--all", "--", ".", *_NEVER_STAGED)
        return _run(self.path, "write-tree").strip()

    def _diff(self, old: str, new: str) -> str:
        return _run(self.path, "diff", *_DIFF_OPTIONS, old, new, "--")

    def checkpoint(self) -> None:
        """Record the worktree's current state as the point `rollback` returns to."""
        # A tree object, not a commit: nothing to sign, no identity, and no ref to leave behind.
        self._checkpoint = self._snapshot()

    def attempt_diff(self) -> str:
        """Unified diff from the last checkpoint to now (binary-safe, renames detected)."""
        return self._diff(self._checkpoint, self._snapshot())

    def rollback(self) -> None:
        """Restore the worktree exactly to the last checkpoint: new files go, deleted ones return."""
        self._snapshot()  # every current file in the index, so read-tree removes what is new
        _run(self.path, "read-tree", "-u", "--reset", self._checkpoint)
        # Whatever is still untracked (a .gitignore the attempt changed, nested repos) goes too.
        _run(self.path, "clean", "-ffdq", "--", ".")

    def total_diff(self) -> str:
        """Unified diff from base_sha to the worktree now: the whole fix so far."""
        return self._diff(self.base_sha, self._snapshot())

    def changed_files(self) -> list[FileChange]:
        """Lines added and removed per path in `total_diff` (binary files count 0)."""
        tree = self._snapshot()
        out = _run(self.path, "diff", *_NUMSTAT_OPTIONS, self.base_sha, tree, "--")
        return _parse_numstat(out)

    def apply(self, patch: str) -> None:
        """Apply a unified diff (from `total_diff`) to the worktree; ProposalError if it does not."""
        if not patch.strip():
            raise ProposalError("the patch is empty")
        path = self._temp_dir / "selfheal-apply.patch"
        path.write_text(patch, encoding="utf-8")
        try:
            _run(self.path, "apply", "--whitespace=nowarn", "--", str(path))
        except GitError as exc:
            raise ProposalError(
                f"the patch does not apply to {short_sha(self.base_sha)}: {exc}"
            ) from exc
        finally:
            path.unlink(missing_ok=True)

    def propose(self, branch: str, identity: GitIdentity, message: str) -> str:
        """Write the whole fix as one commit on base_sha to refs/heads/<branch>; return its sha.

        The branch is created or force-updated without being checked out; hooks never run.
        """
        _check_branch(self.repo, branch)
        tree = self._snapshot()
        if tree == _run(self.path, "rev-parse", f"{self.base_sha}^{{tree}}").strip():
            raise ProposalError("nothing to propose: the fix changes no file")
        who = {
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
        }
        sha = _run(
            self.path, "commit-tree", tree, "-p", self.base_sha, "-m", message, extra_env=who
        ).strip()
        _run(self.repo, "update-ref", "-m", "selfheal: propose", f"refs/heads/{branch}", sha)
        return sha

    def close(self) -> None:
        """Remove the worktree and its temp dir; idempotent, never raises."""
        if self._closed:
            return
        self._closed = True
        # Already gone, or git refused (submodules): the steps below finish the job.
        with contextlib.suppress(GitError):
            _run(self.repo, "worktree", "remove", "--force", str(self.path))
        shutil.rmtree(self._temp_dir, ignore_errors=True)
        # Only our own entry: `git worktree prune` would also forget the user's worktrees that
        # merely happen to be missing right now (an unmounted disk).
        if self._admin_dir is not None and self._admin_dir.is_dir():
            shutil.rmtree(self._admin_dir, ignore_errors=True)


def _parse_numstat(out: str) -> list[FileChange]:
    """`git diff --numstat -z`: "A\\tD\\tPATH\\0", or "A\\tD\\t\\0OLD\\0NEW\\0" for a rename."""
    fields = out.split("\0")
    changes: list[FileChange] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry.strip():
            continue
        added, removed, path = entry.split("\t", 2)
        if not path:
            path = fields[i + 1]  # the new name of a rename
            i += 2
        changes.append(
            FileChange(
                path=path,
                added=0 if added == "-" else int(added),
                removed=0 if removed == "-" else int(removed),
            )
        )
    return changes


def _status_paths(porcelain: str) -> list[str]:
    """Paths from `git status --porcelain=v1 -z` (a rename's old name follows it; skip that)."""
    fields = porcelain.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1
    return paths


def _current_branch(repo: Path) -> str | None:
    status, out, _ = _execute(repo, ["symbolic-ref", "--quiet", "HEAD"])
    ref = out.strip()
    if status != 0 or not ref.startswith("refs/heads/"):
        return None
    return ref.removeprefix("refs/heads/")


def _check_branch_name(repo: Path, branch: str) -> None:
    status, out = 1, ""
    if branch and not branch.startswith("-") and branch != "HEAD":
        status, out, _ = _execute(repo, ["check-ref-format", "--branch", branch])
    # --branch also expands "@{-1}" and friends; only a name that is already literal will do.
    if status != 0 or out.strip() != branch:
        raise BadInput(f"{branch!r} is not a valid branch name")


def _check_branch(repo: Path, branch: str) -> None:
    """BadInput unless `branch` is a valid branch name that no worktree has checked out."""
    _check_branch_name(repo, branch)
    if branch == _current_branch(repo):
        raise BadInput(
            f"refusing to write branch {branch!r}: it is the branch you are on; "
            "selfheal proposes fixes on a branch of their own"
        )
    listing = _run(repo, "worktree", "list", "--porcelain")
    if f"branch refs/heads/{branch}" in listing.splitlines():
        raise BadInput(f"refusing to write branch {branch!r}: a worktree has it checked out")


def open_workspace(repo: Path, base: str | None = None) -> Workspace:
    """Check the repo is committed and clean, then add a detached worktree of its HEAD
    (or of commit `base`, which must be in the repo: see `ensure_commit`)."""
    start = Path(repo).expanduser()
    if not start.is_dir():
        raise BadInput(f"{repo} is not a directory")
    status, out, err = _execute(start, ["rev-parse", "--is-inside-work-tree", "--show-toplevel"])
    lines = out.split("\n")
    if status != 0 or lines[0].strip() != "true":
        said = _clean_message(err)
        raise BadInput(f"{repo} is not inside a git work tree" + (f" ({said})" if said else ""))
    top = Path(lines[1].strip()).resolve()
    status, out, _ = _execute(top, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if status != 0:
        raise BadInput(f"{top} has no commits yet: commit the code selfheal should heal")
    base_sha = out.strip()
    if base is not None:
        status, out, _ = _execute(top, ["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"])
        if status != 0 or not _FULL_SHA.fullmatch(base):
            raise BadInput(f"commit {base!r} is not in {top}")
        base_sha = out.strip()
    dirty = _status_paths(_run(top, "status", "--porcelain=v1", "-z", "--untracked-files=no"))
    if dirty:
        listed = ", ".join(dirty[:_MAX_DIRTY_LISTED])
        more = len(dirty) - _MAX_DIRTY_LISTED
        if more > 0:
            listed += f" and {more} more"
        raise BadInput(
            f"{top} has uncommitted changes to tracked files ({listed}); "
            "commit or stash them first: selfheal heals what is committed"
        )
    temp_dir = Path(tempfile.mkdtemp(prefix="selfheal-")).resolve()
    workspace = Workspace(top, temp_dir / (top.name or "repo"), base_sha, None, temp_dir)
    try:
        if temp_dir.is_relative_to(top):
            raise BadInput(f"the temp dir {temp_dir} is inside {top}; point TMPDIR elsewhere")
        workspace.base_ref = _current_branch(top)
        _run(top, "worktree", "add", "--detach", str(workspace.path), base_sha)
        admin = _run(workspace.path, "rev-parse", "--absolute-git-dir").strip()
        workspace._admin_dir = Path(admin)
        workspace.checkpoint()
    except BaseException:
        workspace.close()
        raise
    return workspace


def _auth_env(token: str | None) -> tuple[dict[str, str], list[str]]:
    """git config through the environment (never argv) sending `token` as HTTP Basic auth,
    and the strings to hide from messages."""
    if not token:
        return {}, []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    extra = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
    return extra, [token, basic]


def ensure_commit(
    repo: Path, sha: str, remote: str = "origin", *, token: str | None = None
) -> None:
    """Make sure commit `sha` is in the repo, fetching it from `remote` when it is not."""
    if not _FULL_SHA.fullmatch(sha):
        raise BadInput(f"{sha!r} is not a full commit SHA")
    status, _, _ = _execute(repo, ["cat-file", "-e", f"{sha}^{{commit}}"])
    if status == 0:
        return
    extra, hide = _auth_env(token)
    try:
        _run(
            repo,
            "fetch",
            "--no-tags",
            "--quiet",
            remote,
            sha,
            extra_env=extra,
            timeout=_PUSH_TIMEOUT_S,
            hide=hide,
        )
    except GitError as exc:
        raise BadInput(
            _clean_message(f"commit {sha} is not in {repo} and could not be fetched: {exc}", hide)
        ) from exc


def push(repo: Path, branch: str, remote: str = "origin", *, token: str | None = None) -> None:
    """Force-push refs/heads/<branch> to `remote`; ProposalError with git's words on failure.

    `token`, when given, goes to git as an HTTP Authorization header through the
    environment (never argv), for remotes cloned without stored credentials.
    """
    if not remote or remote.startswith("-"):
        raise BadInput(f"{remote!r} is not a remote name or URL")
    _check_branch_name(repo, branch)
    extra, hide = _auth_env(token)
    ref = f"refs/heads/{branch}"
    try:
        _run(
            repo,
            "push",
            "--no-verify",
            "--force",
            remote,
            f"{ref}:{ref}",
            extra_env=extra,
            timeout=_PUSH_TIMEOUT_S,
            hide=hide,
        )
    except GitError as exc:
        said = _clean_message(f"could not push {branch} to {remote}: {exc}", hide)
        raise ProposalError(said) from exc


def head_sha(repo: Path) -> str:
    """The checkout's HEAD commit; BadInput when it has none."""
    status, out, _ = _execute(repo, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if status != 0:
        raise BadInput(f"{repo} is not a git checkout with a commit")
    return out.strip()


def has_remote(repo: Path, name: str = "origin") -> bool:
    """True when the repo has a remote called `name`."""
    return name in _run(repo, "remote").split()


def short_sha(sha: str) -> str:
    """The first 7 characters, as people quote commits."""
    return sha[:7]
