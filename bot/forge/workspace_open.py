"""How a workspace comes to be: a new work tree checked out from the base (anywhere), or the
disposable GitHub Actions checkout itself with its .git parked (see bot.forge.adopt); in
both, the user's generated files are carried (see bot.forge.carried)."""

from __future__ import annotations

import os
from pathlib import Path

from bot.errors import BadInput
from bot.forge import carried, kept_trees
from bot.forge.adopt import adopt_index, park, refusal
from bot.forge.git import UserRepo, current_branch, register_work_tree, remote_url, run
from bot.forge.owned_dirs import make_owned_dir, remove_stale, remove_tree
from bot.forge.private_git import init_private, read_user_repo
from bot.forge.workspace import Workspace

_NO_REPOSITORY = "/nonexistent/selfheal-workspaces-have-no-repository"
# Ignored dirs of an adopted checkout that reset_to keeps: the report dir (its default place)
# and the project's environments (a venv holds no fix of the project's own code the copy
# mode would not also see: a gate using a venv outside the work tree reads it there).
_REPORT_DIR = ".selfheal"


def open_workspace(repo: Path, base: str | None = None) -> Workspace:
    """Check the repo is committed and clean, then check its HEAD (or commit `base`, which
    must be in the repo: see `ensure_commit`) out into a new workspace, or, on GitHub
    Actions, adopt the disposable checkout itself (see bot.forge.adopt)."""
    remove_stale()
    user, base_sha = read_user_repo(repo, base)
    base_ref = current_branch(user)
    origin = remote_url(user.top)
    head = run(user.where, "rev-parse", "HEAD").strip()
    ignored = carried.ignored_entries(user.where)
    git_home = make_owned_dir("selfheal-git-")
    try:
        _outside(git_home, user)
        why_not = refusal(user, base_sha, head, os.environ)
        if not why_not:
            try:
                parked = park(user, git_home, base_sha)
            except OSError:
                why_not = "its .git could not be moved into the temp dir"
        if why_not:
            work_home = make_owned_dir("selfheal-ws-")
    except BaseException:
        remove_tree(git_home)
        raise
    if why_not:
        workspace = Workspace(user, work_home, git_home, base_sha)
    else:
        workspace = Workspace(parked, user.top.parent, git_home, base_sha, work_tree=user.top)
    workspace.adopt_refusal = why_not
    try:
        workspace.base_ref, workspace.remote_url = base_ref, origin
        if workspace.mode == "adopt":
            _adopt(workspace, ignored)
        else:
            _outside(work_home, user)
            _check_out(workspace, user, ignored)
        run(workspace._git, "update-ref", "--no-deref", "HEAD", base_sha)
        register_work_tree(workspace._git)
        # The index is exactly the base (read from it, or the checkout's own at the base with
        # nothing untracked), so the first checkpoint is the base's tree, without a walk of
        # every file to find that out.
        workspace.checkpoint_at(run(workspace._git, "rev-parse", f"{base_sha}^{{tree}}").strip())
    except BaseException:
        workspace.close()
        raise
    return workspace


def _outside(made: Path, user: UserRepo) -> None:
    if made.is_relative_to(user.top) or made.is_relative_to(user.common_dir):
        raise BadInput(f"the temp dir {made} is inside {user.top}; point TMPDIR elsewhere")


def _adopt(ws: Workspace, ignored: list[str]) -> None:
    """The checkout, its .git parked, is the work tree: take its generated files, keep its
    environments and report dir, and start the private git dir from its own index."""
    parked, top = ws._user, ws.path
    _take_generated(ws, top, carried.generated_candidates(top, ignored))
    venvs = [
        e.rstrip("/") for e in ignored if e.endswith("/") and (top / e / "pyvenv.cfg").is_file()
    ]
    ws._kept = (_REPORT_DIR, *venvs)
    git_dir = init_private(ws._git_home, parked)
    adopt_index(parked, git_dir)
    # The user's own exclude rules too: what they ignore is not part of a fix here either.
    user_exclude = parked.git_dir / "info" / "exclude"
    own = user_exclude.read_text("utf-8", "surrogateescape") if user_exclude.is_file() else ""
    _write_exclude(ws, own)


def _check_out(ws: Workspace, user: UserRepo, ignored: list[str]) -> None:
    init_private(ws._git_home, user)
    # A `git` run in the work tree, even without child_env's ceiling, stops here: an
    # invalid gitfile ends the search for a repository, so it never reaches one that
    # encloses the temp dir. Read-only, so removing it takes a deliberate chmod first.
    (ws._work_home / ".git").write_text(f"gitdir: {_NO_REPOSITORY}\n", encoding="utf-8")
    # The tree an earlier workspace of this repository left, brought to the base and checked
    # file by file (see bot.forge.kept_trees), else the base written out afresh.
    ws.kept_tree = kept_trees.take(user.common_dir, ws.path) and kept_trees.bring_to_base(
        ws._git, ws.base_sha
    )
    if not ws.kept_tree:
        remove_tree(ws.path)
        ws.path.mkdir()
    ws._work_home.chmod(0o555)
    if not ws.kept_tree:
        run(ws._git, "read-tree", "-u", "--reset", ws.base_sha)
    # What the base tracks stays the base's; only paths it lacks are carried.
    candidates = carried.generated_candidates(user.top, ignored)
    _take_generated(ws, user.top, [c for c in candidates if not os.path.lexists(ws.path / c)])
    _write_exclude(ws, "")
    ws._put_generated()


def _take_generated(ws: Workspace, top: Path, candidates: list[str]) -> None:
    snapshot = carried.take(top, candidates, ws._git_home / "carried")
    ws._snapshot_of_generated = snapshot
    ws.carried, ws.carried_skipped = snapshot.paths, snapshot.skipped


def _write_exclude(ws: Workspace, own: str) -> None:
    """The generated files are never staged, whatever the agent does to .gitignore."""
    info = ws._git.path / "info"
    info.mkdir(exist_ok=True)
    (info / "exclude").write_text(
        own + carried.exclude_lines(ws.carried), "utf-8", "surrogateescape"
    )
