"""The one place selfheal runs git: GitPython, selfheal's own pinned configuration, explicit dirs.

Every call names its git directory (and its work tree, when it has one) on the command line,
reads no system or global configuration, runs no hook, asks for no password, and gets an
environment without secrets and without any GIT_* variable from outside. The workspace the
fix loop uses lives in `bot.forge.workspace`; this module holds the runner and the few
operations on the user's repository itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from git.cmd import Git
from git.exc import GitCommandNotFound

from bot.config import GitIdentity
from bot.errors import BadInput, GitError
from bot.forge.owned_dirs import remove_stale
from bot.proc import redact, scrubbed_env, secret_values

if TYPE_CHECKING:
    # Re-exported for the callers that still name them through this module (see __getattr__).
    from bot.forge.push import ensure_commit as ensure_commit  # noqa: PLC0414
    from bot.forge.workspace import Workspace as Workspace  # noqa: PLC0414

# Forced on every call, after (so over) any repository's own config. Hooks, fsmonitor,
# credential helpers and ssh commands are programs a repository could choose, so none of them
# runs from the bot; the rest keeps output parseable and pushes to exactly what was named.
SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.quotePath=true",
    "core.excludesFile=/dev/null",
    "core.attributesFile=/dev/null",
    "core.sshCommand=ssh",
    "credential.helper=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "push.followTags=false",
    "push.recurseSubmodules=no",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "protocol.ext.allow=never",
    "color.ui=false",
    "diff.suppressBlankEmpty=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
    # Writing files dominates a checkout of a large tree; one writer per core halves it.
    "checkout.workers=0",
)
# Outside programs git would start on its own, named by environment rather than config.
_DROPPED_VARS = frozenset({"SSH_ASKPASS", "GCM_INTERACTIVE", "PAGER", "EDITOR", "VISUAL"})
FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Work trees of the workspaces open in this process, with their private git dirs.
_OPEN_WORK_TREES: dict[Path, GitDir] = {}
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


class GitDir(NamedTuple):
    """Where one git call works: a git directory, and the work tree it checks out (if any)."""

    path: Path
    work_tree: Path | None = None


class _CappedSink:
    """Keeps the first `cap` bytes git writes and drops the rest (a search can match a lot)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        return len(chunk)


def git_env(ceiling: Path | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a git call: no secrets, no outside GIT_* variables, no
    system or global config, never a prompt, and no repository search above `ceiling`."""
    env = {
        name: value
        for name, value in scrubbed_env().items()
        if not name.startswith("GIT_") and name not in _DROPPED_VARS
    }
    env |= {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "LANGUAGE": "C",
        "LC_ALL": "C",
    }
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    env.update(extra or {})
    return env


def clean_message(text: str, hide: Sequence[str] = ()) -> str:
    """git's words without credentials: userinfo in URLs, tokens, secret values."""
    text = _URL_USERINFO.sub(r"\1***@", text)
    return redact(text, [*hide, *secret_values()]).strip()


def execute(
    where: GitDir | Path,
    args: Sequence[str],
    *,
    extra_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    options: Sequence[str] = (),
    output_cap: int | None = None,
    ceiling: Path | None = None,
) -> tuple[int, bytes, str]:
    """Run one git command; returns (status, stdout bytes, stderr text), never raises for git.

    `where` is a GitDir, or a directory to search for a repository from: the user's own
    checkout (read as a workspace opens), or one selfheal made; `ceiling` bounds the search."""
    if isinstance(where, GitDir):
        cwd = where.work_tree or where.path
        located = [f"--git-dir={where.path}"]
        if where.work_tree is not None:
            located.append(f"--work-tree={where.work_tree}")
        ceiling = ceiling or cwd.parent
    else:
        # -C as well as the working dir: GitPython silently falls back to our own cwd when the
        # directory is missing, and git must never wander into whatever repo that is.
        cwd, located = where, ["-C", str(where)]
    env = git_env(ceiling, extra_env)
    # GitPython starts from os.environ and can only set variables; `env -u` takes away the
    # rest, so the call sees exactly `env` (an outside GIT_DIR or GIT_INDEX_FILE included).
    unset = [arg for name in sorted(set(os.environ) - set(env)) for arg in ("-u", name)]
    argv = ["env", *unset, Git.GIT_PYTHON_GIT_EXECUTABLE or "git"]
    argv += ["--no-pager", "--no-optional-locks"]
    for item in SAFE_CONFIG:
        argv += ["-c", item]
    argv += [*options, *located, *args]
    sink = _CappedSink(output_cap) if output_cap is not None else None
    try:
        status, out, err = Git(str(cwd)).execute(
            argv,
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=False,
            strip_newline_in_stdout=False,
            env=env,
            kill_after_timeout=timeout,
            output_stream=sink,  # GitPython only calls write() on it
        )
    except GitCommandNotFound as exc:
        raise GitError("env or git is not installed or not on PATH") from exc
    if status == 127 and "No such file" in err:
        raise GitError("git is not installed or not on PATH")
    stdout = bytes(sink.data) if sink is not None else out
    # Other bytes become U+FFFD rather than a crash later.
    stderr = err.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return status, stdout, stderr


def run_bytes(
    where: GitDir | Path,
    *args: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    hide: Sequence[str] = (),
) -> bytes:
    """Run git and return stdout as bytes; GitError with git's own (redacted) words on failure."""
    status, out, err = execute(where, args, extra_env=extra_env, timeout=timeout)
    if status != 0:
        said = clean_message(err or out.decode("utf-8", "replace"), hide)
        raise GitError(f"git {args[0]} failed: {said or f'exit status {status}'}")
    return out


def run(
    where: GitDir | Path,
    *args: str,
    extra_env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    hide: Sequence[str] = (),
) -> str:
    """Run git and return stdout (UTF-8, other bytes replaced); GitError when it fails."""
    out = run_bytes(where, *args, extra_env=extra_env, timeout=timeout, hide=hide)
    return out.decode("utf-8", "replace")


def identity_env(identity: GitIdentity) -> dict[str, str]:
    """Author and committer, given explicitly: no user.name from anyone's config."""
    return {
        "GIT_AUTHOR_NAME": identity.name,
        "GIT_AUTHOR_EMAIL": identity.email,
        "GIT_COMMITTER_NAME": identity.name,
        "GIT_COMMITTER_EMAIL": identity.email,
    }


# -- the user's repository ---------------------------------------------------------------


class UserRepo(NamedTuple):
    """The user's checkout: its top level, its git dir, and the dir holding shared objects."""

    top: Path
    git_dir: Path
    common_dir: Path

    @property
    def where(self) -> GitDir:
        return GitDir(self.git_dir, self.top)


def locate(repo: Path) -> UserRepo:
    """Find the checkout `repo` is in (a subdirectory finds its top level); BadInput if none."""
    start = Path(repo).expanduser()
    if not start.is_dir():
        raise BadInput(f"{repo} is not a directory")
    found, said = _locate(start)
    # A run killed on GitHub Actions may have left this checkout's .git parked (see
    # bot.forge.adopt): once the stale cleanup has put it back, the checkout is found.
    if found is None and remove_stale():
        found, said = _locate(start)
    if found is None:
        raise BadInput(f"{repo} is not inside a git work tree" + (f" ({said})" if said else ""))
    return found


def _locate(start: Path) -> tuple[UserRepo | None, str]:
    status, out, err = execute(
        start,
        [
            "rev-parse",
            "--path-format=absolute",
            "--is-inside-work-tree",
            "--show-toplevel",
            "--absolute-git-dir",
            "--git-common-dir",
        ],
    )
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    if status != 0 or lines[0].strip() != "true" or len(lines) < 4:
        return None, clean_message(err)
    top, git_dir, common = (Path(line).resolve() for line in lines[1:4])
    return UserRepo(top, git_dir, common), ""


def current_branch(user: UserRepo) -> str | None:
    """The branch the checkout is on; None when HEAD is detached."""
    status, out, _ = execute(user.where, ["symbolic-ref", "--quiet", "HEAD"])
    ref = out.decode("utf-8", "replace").strip()
    if status != 0 or not ref.startswith("refs/heads/"):
        return None
    return ref.removeprefix("refs/heads/")


def check_branch_name(where: GitDir | Path, branch: str) -> None:
    """BadInput unless `branch` is literally a valid branch name."""
    status, out = 1, b""
    if branch and not branch.startswith("-") and branch != "HEAD":
        status, out, _ = execute(where, ["check-ref-format", "--branch", branch])
    # --branch also expands "@{-1}" and friends; only a name that is already literal will do.
    if status != 0 or out.decode("utf-8", "replace").strip() != branch:
        raise BadInput(f"{branch!r} is not a valid branch name")


def check_branch(user: UserRepo, branch: str) -> None:
    """BadInput unless `branch` is a valid branch name that no worktree has checked out."""
    check_branch_name(user.where, branch)
    if branch == current_branch(user):
        raise BadInput(
            f"refusing to write branch {branch!r}: it is the branch you are on; "
            "selfheal proposes fixes on a branch of their own"
        )
    listing = run(user.where, "worktree", "list", "--porcelain")
    if f"branch refs/heads/{branch}" in listing.splitlines():
        raise BadInput(f"refusing to write branch {branch!r}: a worktree has it checked out")


def head_sha(repo: Path) -> str:
    """The checkout's HEAD commit; BadInput when it has none."""
    status, out, _ = execute(repo, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
    if status != 0:
        raise BadInput(f"{repo} is not a git checkout with a commit")
    return out.decode().strip()


def remote_url(repo: Path, name: str = "origin") -> str | None:
    """The remote's URL as written in the repository's config (no insteadOf, no pushurl)."""
    user = locate(repo)
    status, out, _ = execute(user.where, ["config", "--local", "--get", f"remote.{name}.url"])
    url = out.decode("utf-8", "replace").strip()
    return url if status == 0 and url else None


def has_remote(repo: Path, name: str = "origin") -> bool:
    """True when the repo has a remote called `name`."""
    return name in run(repo, "remote").split()


# Bytes of paths on one command line: far below any system's limit (ARG_MAX, 128 KiB at the
# least on Linux, also holds the environment and git's own options).
LINE_BYTES = 64 * 1024


def command_lines(paths: Sequence[str]) -> list[list[str]]:
    """`paths` (str as os.fsdecode gives them: the same bytes on git's side) in runs that fit
    one command line: at most LINE_BYTES, counting a pointer and a NUL for each."""
    runs: list[list[str]] = []
    size = LINE_BYTES
    for path in paths:
        cost = len(os.fsencode(path)) + 9
        if size + cost > LINE_BYTES:
            runs.append([])
            size = 0
        runs[-1].append(path)
        size += cost
    return runs


def restore_differing(git: GitDir) -> list[str] | None:
    """Write again, from the index, each path of the work tree that differs from it (by its
    stat data: `diff-files`), and only those; the paths written, or None when one still
    differs then (checked on those paths alone). Far cheaper than `read-tree -u --reset` to
    the index's own tree, which builds the whole index anew to do the same."""
    differing = run_bytes(git, "diff-files", "--name-only", "-z").split(b"\0")
    written = [os.fsdecode(path) for path in differing if path]
    lines = command_lines(written)
    for paths in lines:
        run_bytes(git, "checkout-index", "-f", "-u", "--", *paths)
    literal = {"GIT_LITERAL_PATHSPECS": "1"}  # a name is itself, never a pattern
    same = all(
        execute(git, ["diff-files", "--quiet", "--", *paths], extra_env=literal)[0] == 0
        for paths in lines
    )
    return written if same else None


def short_sha(sha: str) -> str:
    """The first 7 characters, as people quote commits."""
    return sha[:7]


def register_work_tree(where: GitDir) -> None:
    """Note an open workspace's work tree and private git dir, for `tree_command`."""
    if where.work_tree is not None:
        _OPEN_WORK_TREES[Path(os.path.realpath(where.work_tree))] = where


def forget_work_tree(work_tree: Path) -> None:
    """The workspace is closed: its work tree is a plain directory again."""
    _OPEN_WORK_TREES.pop(Path(os.path.realpath(work_tree)), None)


def tree_command(
    root: Path,
    args: Sequence[str],
    *,
    options: Sequence[str] = (),
    timeout: float | None = None,
    output_cap: int | None = None,
) -> tuple[int, str, str]:
    """git in a directory the agent's tools work in, read only: the workspace's private git
    dir when `root` is an open workspace, else the repository at `root` itself (never above)."""
    where: GitDir | Path = _OPEN_WORK_TREES.get(Path(os.path.realpath(root)), root)
    # Outside a workspace: the repository at root only, never one that encloses it.
    status, out, err = execute(
        where,
        args,
        options=options,
        timeout=timeout,
        output_cap=output_cap,
        ceiling=Path(os.path.realpath(root)).parent,
    )
    return status, out.decode("utf-8", "replace"), err


def seed_repo(repo: Path, origin: Path, identity: GitIdentity, message: str) -> None:
    """Make `repo` a repository holding its files as one commit on main, with a new bare
    `origin` beside it that has main too (the demo's repository)."""
    run(origin.parent, "init", "--quiet", "--template=", "--bare", str(origin))
    run(repo, "init", "--quiet", "--template=", "--initial-branch=main", str(repo))
    where = GitDir(repo / ".git", repo)
    run(where, "add", "--all")
    run(where, "commit", "--quiet", "--no-verify", "-m", message, extra_env=identity_env(identity))
    run(where, "remote", "add", "origin", str(origin))
    run(where, "push", "--quiet", "--no-verify", "origin", "refs/heads/main:refs/heads/main")


def open_workspace(repo: Path, base: str | None = None) -> Workspace:
    """See `bot.forge.workspace.open_workspace` (kept here for the loop and publish)."""
    from bot.forge.workspace import open_workspace as _open

    return _open(repo, base)


def __getattr__(name: str) -> object:
    # The workspace and push modules build on this one, so it can't import them at its top.
    if name == "Workspace":
        from bot.forge import workspace

        return workspace.Workspace
    if name == "ensure_commit":
        from bot.forge import push

        return push.ensure_commit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
