"""What the GitHub wrapper hands out: plain frozen values, read once from PyGithub's objects.

Everything here came from the API and is untrusted data (titles, bodies, logins, branch
names): it is type-checked and returned as is, never interpreted. A missing text becomes "";
a missing identifier raises Malformed. Readers run inside the wrapper's error mapping, since
reading a PyGithub attribute that the answer lacked fetches the object again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from github.CheckRun import CheckRun
from github.File import File
from github.Issue import Issue
from github.IssueComment import IssueComment
from github.NamedUser import NamedUser
from github.Organization import Organization
from github.PullRequest import PullRequest
from github.Repository import Repository
from github.WorkflowJob import WorkflowJob as GhWorkflowJob
from github.WorkflowRun import WorkflowRun as GhWorkflowRun

from bot.forge.github_errors import Malformed

GHOST = "ghost"  # GitHub's own login for a deleted account
FAILED = frozenset({"failure", "timed_out"})


@dataclass(frozen=True)
class Repo:
    full_name: str
    default_branch: str
    html_url: str
    private: bool


@dataclass(frozen=True)
class Pull:
    number: int
    state: str
    draft: bool
    title: str
    body: str
    head_ref: str
    head_sha: str
    head_repo: str | None  # None when the fork it came from was deleted
    base_ref: str
    html_url: str
    author: str
    merged: bool


@dataclass(frozen=True)
class IssueItem:
    number: int
    title: str
    body: str
    state: str
    locked: bool
    labels: tuple[str, ...]
    author: str
    author_type: str  # "User", "Bot", "Organization"
    html_url: str
    is_pull_request: bool


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    author: str
    author_type: str
    html_url: str


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    name: str
    head_branch: str
    head_sha: str
    head_repo: str | None
    actor: str
    triggering_actor: str  # who started this attempt; the actor when GitHub does not say
    conclusion: str | None  # None while the run is still going
    event: str
    html_url: str


@dataclass(frozen=True)
class WorkflowJob:
    id: int
    name: str
    conclusion: str | None
    labels: tuple[str, ...]  # the job's `runs-on` labels
    runner_name: str
    failed_steps: tuple[str, ...]
    html_url: str


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    level: Literal["failure", "warning", "notice"]
    message: str
    title: str = ""

    def as_json(self) -> dict[str, str | int]:
        """The annotation as the Checks API takes it, lines clamped to what it accepts
        (one bad annotation would make GitHub refuse the whole batch)."""
        start = max(1, self.start_line)
        data: dict[str, str | int] = {
            "path": self.path,
            "start_line": start,
            "end_line": max(start, self.end_line),
            "annotation_level": self.level,
            "message": self.message,
        }
        if self.title:
            data["title"] = self.title
        return data


@dataclass(frozen=True)
class PullFile:
    """One file a pull request changes, with its diff hunks (None: binary or too large)."""

    path: str
    status: str
    patch: str | None


@dataclass(frozen=True)
class ReviewComment:
    """A review comment on lines `start_line`..`line` of the pull request's head version."""

    path: str
    line: int
    body: str
    start_line: int | None = None

    def as_json(self) -> dict[str, str | int]:
        """As "Create a review" takes it: lines of the new side (RIGHT)."""
        data: dict[str, str | int] = {
            "path": self.path,
            "line": self.line,
            "side": "RIGHT",
            "body": self.body,
        }
        if self.start_line is not None and self.start_line < self.line:
            data["start_line"] = self.start_line
            data["start_side"] = "RIGHT"
        return data


def text(value: object) -> str:
    """A string field: None (or anything not a string) reads as ""."""
    return value if isinstance(value, str) else ""


def need_text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise Malformed(f"{field} is {value!r}")
    return value


def need_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Malformed(f"{field} is {value!r}")
    return value


def login(user: NamedUser | Organization | None) -> str:
    return (text(user.login) or GHOST) if user is not None else GHOST


def user_type(user: NamedUser | Organization | None) -> str:
    return (text(user.type) or "User") if user is not None else "User"


def repo_name(repo: Repository | None) -> str | None:
    return (text(repo.full_name) or None) if repo is not None else None


def repo_of(repo: Repository) -> Repo:
    return Repo(
        full_name=need_text(repo.full_name, "full_name"),
        default_branch=need_text(repo.default_branch, "default_branch"),
        html_url=text(repo.html_url),
        private=repo.private is True,
    )


def pull_of(pr: PullRequest) -> Pull:
    head, base = pr.head, pr.base
    return Pull(
        number=need_int(pr.number, "number"),
        state=text(pr.state),
        draft=pr.draft is True,
        title=text(pr.title),
        body=text(pr.body),
        head_ref=need_text(head.ref, "head.ref"),
        head_sha=need_text(head.sha, "head.sha"),
        head_repo=repo_name(head.repo),
        base_ref=need_text(base.ref, "base.ref"),
        html_url=text(pr.html_url),
        author=login(pr.user),
        # List answers carry merged_at but not merged; reading merged would fetch each PR.
        merged=pr.merged_at is not None,
    )


def pull_file_of(item: File) -> PullFile:
    patch = item.patch
    return PullFile(
        path=need_text(item.filename, "filename"),
        status=text(item.status),
        patch=patch if isinstance(patch, str) else None,
    )


def issue_of(issue: Issue) -> IssueItem:
    return IssueItem(
        number=need_int(issue.number, "number"),
        title=text(issue.title),
        body=text(issue.body),
        state=text(issue.state),
        locked=issue.locked is True,
        labels=tuple(text(label.name) for label in issue.labels or ()),
        author=login(issue.user),
        author_type=user_type(issue.user),
        html_url=text(issue.html_url),
        is_pull_request=issue.pull_request is not None,
    )


def comment_of(comment: IssueComment) -> Comment:
    return Comment(
        id=need_int(comment.id, "id"),
        body=text(comment.body),
        author=login(comment.user),
        author_type=user_type(comment.user),
        html_url=text(comment.html_url),
    )


def run_of(run: GhWorkflowRun) -> WorkflowRun:
    actor = login(run.actor)
    return WorkflowRun(
        id=need_int(run.id, "id"),
        name=text(run.name),
        head_branch=text(run.head_branch),
        head_sha=need_text(run.head_sha, "head_sha"),
        head_repo=repo_name(run.head_repository),
        actor=actor,
        triggering_actor=login(run.triggering_actor) if run.triggering_actor else actor,
        conclusion=text(run.conclusion) or None,
        event=text(run.event),
        html_url=text(run.html_url),
    )


def job_of(job: GhWorkflowJob) -> WorkflowJob:
    steps = sorted(job.steps or (), key=lambda step: step.number or 0)
    return WorkflowJob(
        id=need_int(job.id, "id"),
        name=text(job.name),
        conclusion=text(job.conclusion) or None,
        labels=tuple(text(label) for label in job.labels or ()),
        runner_name=text(job.runner_name),
        failed_steps=tuple(text(step.name) for step in steps if step.conclusion in FAILED),
        html_url=text(job.html_url),
    )


def check_id_of(check: CheckRun) -> int:
    return need_int(check.id, "id")


def jobs_from_json(data: object) -> list[WorkflowJob]:
    """Jobs from a saved "list jobs for a workflow run" answer ({"jobs": [...]}, or the bare
    list), read by the same rules as the API's; a wrong shape raises ValueError saying where."""
    items = data.get("jobs") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise Malformed('no "jobs" list')
    return [_job_from_json(item, f"jobs[{index}]") for index, item in enumerate(items)]


def _job_from_json(item: object, where: str) -> WorkflowJob:
    if not isinstance(item, Mapping):
        raise Malformed(f"{where} is not an object")
    labels, steps = item.get("labels") or [], item.get("steps") or []
    if not isinstance(labels, list) or not isinstance(steps, list):
        raise Malformed(f"{where}: labels and steps must be lists")
    ordered = sorted(
        (step for step in steps if isinstance(step, Mapping)),
        key=lambda step: _step_number(step.get("number")),
    )
    return WorkflowJob(
        id=need_int(item.get("id"), f"{where}.id"),
        name=text(item.get("name")),
        conclusion=text(item.get("conclusion")) or None,
        labels=tuple(label for label in labels if isinstance(label, str)),
        runner_name=text(item.get("runner_name")),
        failed_steps=tuple(
            text(step.get("name")) for step in ordered if step.get("conclusion") in FAILED
        ),
        html_url=text(item.get("html_url")),
    )


def _step_number(value: object) -> int:
    return value if isinstance(value, int) else 0
