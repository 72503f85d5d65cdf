"""Adopting a disposable checkout as the work tree, with its .git moved out of reach.

On GitHub Actions the checkout selfheal starts from is the job's own and is thrown away
with the runner, so writing a new work tree of every file (seconds per 10,000 files) buys
nothing. There the checkout itself becomes the work tree, and its `.git` is renamed (one
`rename`, whatever the repository's size) into selfheal's private temp dir for the run: the
agent and the gate, in a tree with no `.git` and no repository above it, reach no git dir,
exactly as in a copied work tree. The `.git` goes back when the workspace closes, and a run
killed before that has it put back by the next run's stale cleanup (`owned_dirs`), which
reads the record written here before the rename.

Anywhere else (a developer's machine) the checkout is the user's and is never touched.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from bot.forge.git import UserRepo, run_bytes
from bot.forge.owned_dirs import PARKED_GIT, PARKED_RECORD


def refusal(user: UserRepo, base_sha: str, head: str, env: Mapping[str, str]) -> str:
    """Why the checkout can't be adopted ("" when it can): only a GitHub Actions checkout
    ($GITHUB_WORKSPACE), with its own plain .git, at the base, with nothing untracked, no
    repository above it, and nothing a moved .git would break (worktrees, submodules,
    sparse checkout, split index)."""
    workspace = env.get("GITHUB_WORKSPACE", "")
    if env.get("GITHUB_ACTIONS") != "true" or not workspace:
        return "not on GitHub Actions"
    if env.get("ACT"):
        return "running under act, where the checkout may be the developer's own"
    if Path(os.path.realpath(workspace)) != user.top:
        return "the repository is not $GITHUB_WORKSPACE"
    dot = user.top / ".git"
    if dot.is_symlink() or not dot.is_dir() or user.git_dir != dot or user.common_dir != dot:
        return "its .git is not a plain directory of its own"
    if head != base_sha:
        return "the base is not the commit checked out"
    if any(os.path.lexists(parent / ".git") for parent in user.top.parents):
        return "a repository encloses the checkout"
    if (user.top / ".gitmodules").exists() or any((dot / "worktrees").glob("*")):
        return "it has submodules or linked worktrees"
    if (dot / "info" / "sparse-checkout").exists() or any(dot.glob("sharedindex.*")):
        return "it has a sparse checkout or a split index"
    untracked = run_bytes(
        user.where, "ls-files", "-z", "--others", "--exclude-standard", "--directory"
    )
    if untracked.strip(b"\0"):
        return "it has untracked files"
    # Its index becomes the workspace's: an entry git is told not to look at (assume-unchanged,
    # lowercase; skip-worktree, S) would hide an agent's change from the proposal.
    tags = run_bytes(user.where, "ls-files", "-z", "-v")
    if any(entry[:1].islower() or entry[:1] == b"S" for entry in tags.split(b"\0") if entry):
        return "its index marks files assume-unchanged or skip-worktree"
    return ""


def park(user: UserRepo, home: Path, base_sha: str) -> UserRepo:
    """Move the checkout's .git into `home` (OSError, nothing moved, when it can't be
    renamed there); the user's repository as it now is."""
    record = home / PARKED_RECORD
    # Written first: a run killed right after the rename still says where the .git belongs.
    record.write_text(f"{user.top}\n{base_sha}\n", encoding="utf-8")
    try:
        (user.top / ".git").rename(home / PARKED_GIT)
    except OSError:
        record.unlink(missing_ok=True)
        raise
    parked = home / PARKED_GIT
    return UserRepo(user.top, parked, parked)


def adopt_index(parked: UserRepo, private_git: Path) -> None:
    """Start the private git dir from the checkout's own index (it matches the base, with
    stat data of these very files), so no file is read or written to build one."""
    shutil.copy2(parked.git_dir / "index", private_git / "index")
