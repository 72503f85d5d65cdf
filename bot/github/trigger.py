"""From a decided event to a checked target: who asked, may they, on what commit, where
the report goes. Reads the API, never writes to it, so every refusal leaves no trace on
GitHub but the step summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.config import Config
from bot.fix.ci_log import JobLog, ci_log_excerpt
from bot.fix.context import CHARS_PER_TOKEN
from bot.fix.proposal import branch_name
from bot.forge.github import Comment, ForgeError, GitHub, IssueItem
from bot.github.access import (
    WRITE_ROLES,
    fork_refusal,
    own_branch_refusal,
    permission_refusal,
    run_cap_refusal,
    thread_refusal,
)
from bot.github.decision import Decision
from bot.render.comment import MARKER, find_sticky, runs_so_far
from bot.report import Issue

MAX_LOGGED_JOBS = 3  # failed jobs whose logs are read
MAX_COMMENTERS = 20  # distinct commenters whose permission is looked up for the prompt
MAX_ISSUE_COMMENTS_CHARS = 20_000


@dataclass(frozen=True)
class Target:
    """What to work on and where to report, once the access checks passed."""

    job: Literal["heal", "implement", "review"]
    sha: str  # the commit to work on
    into: str  # the branch a pull request goes into
    branch: str  # the proposal branch
    issue: Issue | None = None
    thread: int | None = None  # the issue or pull request that gets the sticky comment
    sticky_id: int | None = None
    runs: int = 0  # runs on `thread` before this one
    reviewer: str | None = None
    ci_log: str = ""
    notes: tuple[str, ...] = ()  # things worth a line in the summary (a log not read)


class Refused(Exception):
    """The access check says no; the reason is for the step summary."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Roles:
    """Permission lookups, once per login."""

    def __init__(self, github: GitHub) -> None:
        self.github = github
        self.known: dict[str, str] = {}

    def __call__(self, login: str) -> str:
        if login not in self.known:
            self.known[login] = self.github.permission(login)
        return self.known[login]


def _check_thread(item: IssueItem, kind: str) -> None:
    refusal = thread_refusal(
        kind, item.number, state=item.state, locked=item.locked, labels=item.labels
    )
    if refusal:
        raise Refused(refusal)


def _trusted_comments(
    comments: Sequence[Comment], roles: _Roles, command_args: str
) -> tuple[str, list[str]]:
    """Comments by people with write access (never anyone else's) as extra issue text."""
    parts: list[str] = []
    notes: list[str] = []
    untrusted = unchecked = 0
    for comment in comments:
        if comment.author_type == "Bot" or MARKER in comment.body or not comment.body.strip():
            continue
        if comment.author not in roles.known and len(roles.known) >= MAX_COMMENTERS:
            unchecked += 1
            continue
        if roles(comment.author) not in WRITE_ROLES:
            untrusted += 1
            continue
        parts.append(f"Comment by {comment.author} (write access):\n{comment.body.strip()}")
    if untrusted:
        notes.append(
            f"{untrusted} comment(s) by people without write access left out of the prompt"
        )
    if unchecked:
        notes.append(
            f"{unchecked} comment(s) left out unchecked: permissions are looked up for "
            f"{MAX_COMMENTERS} commenters at most"
        )
    text = "\n\n".join(parts)
    if command_args:
        text = f"{text}\n\nThe /selfheal command said: {command_args}".strip()
    if len(text) > MAX_ISSUE_COMMENTS_CHARS:
        text = text[-MAX_ISSUE_COMMENTS_CHARS:]
        notes.append("older comments cut to fit the prompt")
    return text, notes


def _ci_log(github: GitHub, run_id: int, config: Config) -> tuple[str, list[str]]:
    """The failed jobs' logs, distilled; a log that cannot be read is a note, not an error."""
    try:
        failed = [j for j in github.jobs(run_id) if j.conclusion == "failure"]
        logs = [
            JobLog(job.name, job.failed_steps, github.job_log(job.id))
            for job in failed[:MAX_LOGGED_JOBS]
        ]
    except ForgeError as exc:
        return "", [f"the failed run's logs could not be read: {exc}"]
    return ci_log_excerpt(logs, config.log_tokens * CHARS_PER_TOKEN), []


@dataclass(frozen=True)
class _Where:
    """What a job works on, before the run count: commit, branch, thread, issue, context."""

    sha: str
    into: str
    thread: int | None
    issue: Issue | None = None
    ci_log: str = ""
    notes: tuple[str, ...] = ()


def _implement(github: GitHub, decision: Decision, roles: _Roles, checkout_sha: str) -> _Where:
    assert decision.issue is not None
    item = github.issue(decision.issue)
    if item.is_pull_request:
        raise Refused(f"#{item.number} is a pull request, not an issue")
    _check_thread(item, "issue")
    extra, notes = _trusted_comments(github.comments(item.number), roles, decision.command_args)
    body = f"{item.body}\n\n{extra}".strip() if extra else item.body
    issue = Issue(number=item.number, title=item.title, body=body, url=item.html_url)
    return _Where(
        checkout_sha, github.repo().default_branch, item.number, issue, notes=tuple(notes)
    )


def _pull_request(github: GitHub, number: int, config: Config) -> _Where:
    """/selfheal on a pull request: its head, if it lives in this repository."""
    pull = github.pull(number)
    if refusal := fork_refusal(pull.head_repo, github.repository, f"pull request #{number}"):
        raise Refused(refusal)
    if refusal := own_branch_refusal(pull.head_ref, config.branch_prefix):
        raise Refused(refusal)
    _check_thread(github.issue(pull.number), "pull request")
    return _Where(pull.head_sha, pull.head_ref, pull.number)


def _red_branch(
    github: GitHub, decision: Decision, config: Config, checkout_sha: str, read_logs: bool
) -> _Where:
    """A failed run (or a dispatch) on a branch: its commit, its logs, its open PR if any."""
    assert decision.head_branch is not None
    thread = decision.pull_request
    if thread is not None:
        _check_thread(github.issue(thread), "pull request")
    ci_log, notes = "", list[str]()
    if decision.run_id is not None and read_logs:
        ci_log, notes = _ci_log(github, decision.run_id, config)
    sha = decision.head_sha or checkout_sha
    return _Where(sha, decision.head_branch, thread, ci_log=ci_log, notes=tuple(notes))


def _fork_pull_request(github: GitHub, decision: Decision) -> Target:
    """A fork's red branch: its open pull request here, at the commit that failed. Nobody's
    permission is checked: what follows runs no agent, holds no secret and pushes nothing."""
    assert decision.head_repository and decision.head_branch and decision.head_sha
    pull = github.find_pull(decision.head_branch, head_repository=decision.head_repository)
    if pull is None:
        raise Refused(
            f"no open pull request from {decision.head_repository}:{decision.head_branch}: "
            "nothing to review"
        )
    _check_thread(github.issue(pull.number), "pull request")
    if pull.head_sha != decision.head_sha:
        raise Refused(
            f"pull request #{pull.number} has moved on from {decision.head_sha[:12]} "
            f"to {pull.head_sha[:12]}: suggestions would be for old code"
        )
    return Target(
        job="review", sha=pull.head_sha, into=pull.base_ref, branch="", thread=pull.number
    )


def resolve(
    github: GitHub,
    decision: Decision,
    config: Config,
    *,
    checkout_sha: str,
    read_logs: bool = True,
) -> Target:
    """The target of a heal or implement decision, or Refused with the reason."""
    if decision.job == "skip":
        raise Refused(decision.reason)
    if decision.job == "review":
        return _fork_pull_request(github, decision)
    job: Literal["heal", "implement"] = decision.job
    roles = _Roles(github)
    actors = [a for a in (decision.actor, *decision.other_actors) if a]
    if refusal := permission_refusal({login: roles(login) for login in actors}):
        raise Refused(refusal)
    if job == "implement":
        where = _implement(github, decision, roles, checkout_sha)
    elif decision.head_sha is None and decision.pull_request is not None:
        where = _pull_request(github, decision.pull_request, config)
    else:
        where = _red_branch(github, decision, config, checkout_sha, read_logs)
    branch = branch_name(job, config.branch_prefix, where.sha[:7], where.issue)
    thread = where.thread
    if thread is None:  # a red branch without a pull request: report on our own, if open
        existing = github.find_pull(branch)
        thread = existing.number if existing is not None else None
    sticky_id, runs = None, 0
    if thread is not None:
        sticky = find_sticky(github.comments(thread))
        if sticky is not None:
            sticky_id, runs = sticky.id, runs_so_far(sticky.body)
        if refusal := run_cap_refusal(runs, config.max_runs, f"#{thread}"):
            raise Refused(refusal)
    return Target(
        job=job,
        sha=where.sha,
        into=where.into,
        branch=branch,
        issue=where.issue,
        thread=thread,
        sticky_id=sticky_id,
        runs=runs,
        reviewer=(decision.other_actors[-1:] or (decision.actor,))[0],
        ci_log=where.ci_log,
        notes=where.notes,
    )
