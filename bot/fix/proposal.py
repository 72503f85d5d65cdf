"""A fix as a proposal: its branch name and commit message, and the one way a verified patch
becomes a commit (`build`), for `heal` and for the Actions `propose` alike."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.errors import ProposalError
from bot.guard.diff import parse_diff
from bot.guard.policy import check_changes, refusal_summary
from bot.render.text import one_line
from bot.report import GuardVerdict, Issue, Proposal, Report

if TYPE_CHECKING:
    from bot.config import Config
    from bot.forge.git import Workspace

Mode = Literal["heal", "implement"]

TITLE_LIMIT = 72


def branch_name(
    mode: Literal["heal", "implement"], prefix: str, base_short_sha: str, issue: Issue | None
) -> str:
    """<prefix>heal-<short sha>, or <prefix>issue-<n> (the short sha when the issue has no number)."""
    if mode == "implement":
        number = issue.number if issue is not None else None
        return f"{prefix}issue-{number if number is not None else base_short_sha}"
    return f"{prefix}heal-{base_short_sha}"


def _plain(text: str, limit: int) -> str:
    # Model output and issue titles are untrusted: one line, no control or format characters.
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    return one_line(kept, limit)


def commit_message(report: Report) -> str:
    """Title, one line per accepted attempt, and `Fixes #N` for an issue."""
    issue = report.issue
    if report.mode == "implement" and issue is not None:
        ref = f"#{issue.number}" if issue.number is not None else "the issue"
        title = _plain(f"selfheal: implement {ref}: {issue.title}", TITLE_LIMIT)
        footer = f"\n\nFixes #{issue.number}" if issue.number is not None else ""
    else:
        steps = sorted({f.step for f in report.failures})
        title = _plain(f"selfheal: fix failing {', '.join(steps)}", TITLE_LIMIT)
        footer = ""
    lines = []
    for attempt in report.attempts:
        if attempt.outcome in ("refused", "no_change"):
            continue
        line = f"- attempt {attempt.number}: {', '.join(attempt.fixers) or 'no fixer'}"
        if attempt.agent_summary:
            line += f": {_plain(attempt.agent_summary, 200)}"
        lines.append(line)
    return f"{title}\n\n" + "\n".join(lines) + footer + "\n"


# --- from a verified patch to a proposed commit (heal and the Actions propose alike) -------


@dataclass(frozen=True)
class Built:
    """A patch turned into one commit on the base, or why the guards refused it."""

    commit: str | None
    verdicts: list[GuardVerdict]

    @property
    def refusal(self) -> str | None:
        refused = refusal_summary(self.verdicts)
        return refused.replace("\n", "; ") if refused else None


def guard_diff(
    ws: Workspace, diff: str, mode: Mode, config: Config, tree: str | None = None
) -> list[GuardVerdict]:
    """Every guard over `diff`, as it stands in the workspace (or, given `tree`, as it stands
    in that tree): the one call the loop's attempts and both proposal paths make."""
    limit = config.max_file_bytes
    return check_changes(
        parse_diff(diff),
        root=ws.path,
        mode=mode,
        protected=config.protected_paths,
        max_diff_lines=config.max_diff_lines,
        max_file_bytes=limit,
        allow_spec_changes=config.allow_spec_changes,
        before=ws.base_file,
        in_tree=None if tree is None else (lambda path: ws.file_in(tree, path, limit)),
    )


def build(
    ws: Workspace,
    patch: str,
    *,
    mode: Mode,
    config: Config,
    message: str,
    verified_tree: str | None = None,
) -> Built:
    """Apply `patch` to the base, re-check the guards on the result, commit it.

    The patch is applied in an index of its own (`Workspace.tree_with`), never to the work
    tree, which a heal left as its last gate left it: what the guards read and what is
    committed are the patch's bytes alone, and the cost does not grow with the repository.
    `verified_tree` is the tree the final gate ran on: the commit must hold exactly those
    bytes, or nothing is built (a patch that does not round-trip was not what was proven).
    """
    tree = ws.tree_with(patch)
    verdicts = guard_diff(ws, ws.total_diff(tree), mode, config, tree=tree)
    if not all(v.ok for v in verdicts):
        return Built(commit=None, verdicts=verdicts)
    if verified_tree is not None and tree != verified_tree:
        raise ProposalError(
            "the patch does not rebuild the tree the gate verified; nothing was proposed"
        )
    return Built(commit=ws.commit(config.git, message, tree=tree), verdicts=verdicts)


def git_url_for_humans(url: str) -> str:
    """`url` without any user or password in it, for reports and the console."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host.rpartition('@')[2]}{slash}{path}"


def _lock_branch(where: str, branch: str) -> int:
    """One run at a time writes a given branch: two runs on one commit take turns, and each
    pushes a commit it verified (the later one wins, as a re-run would). Returns the lock's
    file descriptor: closing it releases the lock."""
    key = hashlib.sha256(f"{where}\0{branch}".encode()).hexdigest()[:24]
    path = _lock_dir() / f"branch-{key}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ProposalError(f"cannot open the branch lock {path}: {exc}") from exc
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _lock_dir() -> Path:
    """This user's own directory for the branch locks (kept: removing a lock file another run
    waits on would let a third run take a second lock). Not the shared temp dir itself, where
    anyone may plant a link at a predictable name."""
    home = Path(tempfile.gettempdir()) / f"selfheal-locks-{os.getuid()}"
    try:
        home.mkdir(mode=0o700, exist_ok=True)
        info = home.lstat()
    except OSError as exc:
        raise ProposalError(f"cannot make the branch lock directory {home}: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ProposalError(f"{home} is not a private directory of this user: not using it")
    return home


def deliver(
    ws: Workspace,
    sha: str,
    branch: str,
    *,
    url: str | None,
    local: bool,
    token: str | None = None,
    token_host: str | None = None,
) -> Proposal:
    """Write `branch` at `sha` in the user's repository (when `local`) and push it to `url`
    (when given). A failure is recorded on the proposal (`push_error`), never raised."""
    done = Proposal(branch=branch, commit=sha)
    try:
        lock = _lock_branch(url or str(ws.repo), branch)
    except ProposalError as exc:
        return done.model_copy(update={"push_error": str(exc)})
    try:
        return _deliver_locked(ws, done, local=local, url=url, token=token, token_host=token_host)
    finally:
        os.close(lock)


def _deliver_locked(
    ws: Workspace,
    done: Proposal,
    *,
    local: bool,
    url: str | None,
    token: str | None,
    token_host: str | None,
) -> Proposal:
    sha, branch = done.commit, done.branch
    if local:
        try:
            moved = ws.publish_branch(sha, branch)
        except ProposalError as exc:
            return done.model_copy(update={"push_error": f"could not write {branch}: {exc}"})
        done = done.model_copy(update={"replaced": moved})
    if url:
        shown = git_url_for_humans(url)
        try:
            ws.push(sha, branch, url, token=token, token_host=token_host)
        except ProposalError as exc:
            return done.model_copy(update={"remote": shown, "push_error": str(exc)})
        done = done.model_copy(update={"remote": shown, "pushed": True})
    return done
