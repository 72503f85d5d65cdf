"""The one place selfheal talks to the GitHub REST API: PyGithub in, plain frozen values out.

Every call runs inside one error mapping (github_errors), so callers see a ForgeError that says
what was attempted, what GitHub said and what to do, never a PyGithub exception. Retries, rate
limits and timeouts are urllib3's, configured in github_http. The token goes only into
PyGithub's Authorization header: it is never in a message, a repr, or a blob download (PyGithub
masks it in its own DEBUG log).
"""

from __future__ import annotations

import contextlib
import math
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import requests
from github import Auth, Github
from github.GithubException import BadAttributeException, GithubException
from github.GithubObject import NotSet
from github.IssueComment import IssueComment as GhIssueComment
from github.PaginatedList import PaginatedList
from github.WorkflowJob import WorkflowJob as GhWorkflowJob

from bot import __version__
from bot.errors import BadInput
from bot.forge.github_errors import (
    Call,
    ForgeError,
    Malformed,
    blob_error,
    forge_error,
    said_of,
)
from bot.forge.github_http import download_tail, retry_policy, safe_url
from bot.forge.github_input import (
    cap,
    check_api_url,
    check_login,
    check_number,
    check_ref,
    check_repository,
    check_token,
)
from bot.forge.github_models import (
    Annotation,
    Comment,
    IssueItem,
    Pull,
    PullFile,
    Repo,
    ReviewComment,
    WorkflowJob,
    WorkflowRun,
    check_id_of,
    comment_of,
    issue_of,
    job_of,
    jobs_from_json,
    pull_file_of,
    pull_of,
    repo_of,
    run_of,
)
from bot.forge.github_route import CPU_RUNS_ON, GPU_RUNS_ON, runs_on_for
from bot.proc import redact

__all__ = [
    "CPU_RUNS_ON",
    "DEFAULT_API_URL",
    "GPU_RUNS_ON",
    "Annotation",
    "Comment",
    "ForgeError",
    "GitHub",
    "IssueItem",
    "Pull",
    "PullFile",
    "Repo",
    "ReviewComment",
    "WorkflowJob",
    "WorkflowRun",
    "jobs_from_json",
    "runs_on_for",
]

DEFAULT_API_URL = "https://api.github.com"
# What GitHub asks every REST client to send (docs: "Getting started with the REST API").
MEDIA_TYPE = "application/vnd.github+json"
API_VERSION = "2022-11-28"
MAX_TEXT = 65535  # GitHub's cap on a check run's summary and text
MAX_BODY = 65536  # ... and on a comment or pull request body
ANNOTATIONS_PER_REQUEST = 50  # the Checks API takes at most 50 per request and appends them
ROLES = ("admin", "maintain", "write", "triage", "read", "none")


class _Token(Auth.Token):
    """The token, plus GitHub's media type on every request: PyGithub has no default-header
    setting, but every request's headers pass through its Auth hook (a request that sets its
    own Accept, such as a download, keeps it)."""

    def authentication(self, headers: dict[str, str]) -> None:
        super().authentication(headers)
        headers.setdefault("Accept", MEDIA_TYPE)


class GitHub:
    """One repository on GitHub (or GHES), seen through a token."""

    def __init__(
        self,
        repository: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        retries: int = 3,
        backoff: float = 1.0,
        timeout: float = 30.0,
        per_page: int = 100,
        max_wait: float = 60.0,
        write_interval: float = 1.0,
    ) -> None:
        """`retries` after the first try, `backoff` doubling from the second retry, `timeout`
        per request (whole seconds for PyGithub). `max_wait`: the longest a rate limit may hold
        a call (also caps the minute GitHub asks after a secondary limit); `write_interval`: the
        pause GitHub asks for between writes. Bad arguments raise BadInput, never quoting the token."""
        self.repository = check_repository(repository)
        self.api_url = check_api_url(api_url)
        self._token = check_token(token)
        if retries < 0 or backoff < 0 or timeout <= 0 or max_wait < 0 or write_interval < 0:
            raise BadInput("GitHub client: retries, backoff, timeout and waits must be >= 0")
        if not 1 <= per_page <= 100:
            raise BadInput(f"GitHub client: per_page {per_page} is not within 1..100")
        self._retries, self._backoff, self._timeout = retries, backoff, timeout
        self._gh = Github(
            auth=_Token(self._token),
            base_url=self.api_url,
            timeout=max(1, math.ceil(timeout)),  # PyGithub insists on whole seconds
            user_agent=f"selfheal/{__version__}",
            per_page=per_page,
            retry=retry_policy(retries, backoff, max_wait),
            seconds_between_requests=None,
            seconds_between_writes=write_interval or None,
            lazy=True,  # objects are fetched when read, so a write is one request, not two
            api_version=API_VERSION,
        )
        self._repo = self._gh.get_repo(self.repository)

    def __repr__(self) -> str:
        return f"GitHub(repository={self.repository!r}, api_url={self.api_url!r})"

    def close(self) -> None:
        self._gh.close()

    def __enter__(self) -> GitHub:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _calling(
        self, action: str, permission: str, level: str = "read", *, post: bool = False
    ) -> Iterator[None]:
        """Map whatever the call raises to a ForgeError; a POST is tried once (github_http)."""
        call = Call(action, permission, level, attempts=1 if post else self._retries + 1)
        try:
            yield
        except (
            GithubException,
            BadAttributeException,
            Malformed,
            requests.RequestException,
            KeyError,  # PyGithub indexing an answer that lacks a documented key
            ValueError,  # ... or parsing a body that is not JSON
        ) as exc:
            raise forge_error(
                exc, call, where=self.repository, api_url=self.api_url, secrets=[self._token]
            ) from exc

    # -- reads ----------------------------------------------------------------------------

    def repo(self) -> Repo:
        """The repository: name, default branch, visibility."""
        with self._calling("read the repository", "metadata"):
            return repo_of(self._gh.get_repo(self.repository))

    def permission(self, login: str) -> str:
        """`login`'s role on the repository: admin, maintain, write, triage, read or none."""
        quoted = urllib.parse.quote(check_login(login), safe="")
        url = f"{self._repo.url}/collaborators/{quoted}/permission"
        with self._calling(f"read the permission of {login}", "metadata"):
            _, data = self._repo.requester.requestJsonAndCheck("GET", url)
            data = data if isinstance(data, dict) else {}
            # A custom role has its own name; the legacy field then gives its base role.
            role = data.get("role_name")
            if role not in ROLES:
                role = data.get("permission")
            if not isinstance(role, str) or role not in ROLES:
                raise Malformed(f"role_name {data.get('role_name')!r}")
            return role

    def issue(self, number: int) -> IssueItem:
        """Issue (or pull request, seen as an issue) `number`."""
        with self._calling(f"read issue #{check_number(number)}", "issues"):
            return issue_of(self._repo.get_issue(number))

    def pull(self, number: int) -> Pull:
        """Pull request `number`."""
        with self._calling(f"read pull request #{check_number(number)}", "pull-requests"):
            return pull_of(self._repo.get_pull(number))

    def comments(self, number: int) -> list[Comment]:
        """Every comment on issue or pull request `number`, oldest first, all pages."""
        with self._calling(f"list the comments of #{check_number(number)}", "issues"):
            return [comment_of(item) for item in self._repo.get_issue(number).get_comments()]

    def workflow_run(self, run_id: int) -> WorkflowRun:
        """Workflow run `run_id`."""
        with self._calling(f"read workflow run {check_number(run_id)}", "actions"):
            return run_of(self._repo.get_workflow_run(run_id))

    def jobs(self, run_id: int) -> list[WorkflowJob]:
        """The jobs of the run's latest attempt, all pages."""
        url = f"{self._repo.url}/actions/runs/{check_number(run_id)}/jobs"
        with self._calling(f"list the jobs of workflow run {run_id}", "actions"):
            pages = PaginatedList(GhWorkflowJob, self._repo.requester, url, None, list_item="jobs")
            return [job_of(job) for job in pages]

    def job_log(self, job_id: int, max_bytes: int = 2_000_000) -> str:
        """The last `max_bytes` bytes of job `job_id`'s log (failures are at the end), as text.

        GitHub answers with a redirect to a signed blob URL; the blob is fetched here with no
        credentials at all, since PyGithub would keep the token for a blob on GitHub's own host.
        """
        action = f"download the log of job {check_number(job_id)}"
        with self._calling(action, "actions"):
            headers, _ = self._repo.requester.requestBlobAndCheck(
                "GET", f"{self._repo.url}/actions/jobs/{job_id}/logs"
            )
            location = headers.get("location")
            if not isinstance(location, str) or not location:
                raise Malformed("no Location for the log")
        if not safe_url(location):
            raise blob_error(action, "GitHub sent the log to a URL that is not https")
        try:
            data = download_tail(
                location,
                max_bytes=max_bytes,
                timeout=self._timeout,
                retries=self._retries,
                backoff=self._backoff,
            )
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            raise blob_error(action, f"the log storage answered {status}", status) from None
        except requests.RequestException as exc:
            # from None: the chained exception would carry the signed URL.
            raise blob_error(action, type(exc).__name__) from None
        return data.decode("utf-8", errors="replace")

    def find_pull(
        self, head_branch: str, base: str | None = None, *, head_repository: str | None = None
    ) -> Pull | None:
        """The open pull request from `head_branch` of this repository, or of the fork
        `head_repository` (into `base`), if any."""
        source = check_repository(head_repository) if head_repository else self.repository
        owner = source.split("/")[0]
        with self._calling(f"look for a pull request from {head_branch}", "pull-requests"):
            found = self._repo.get_pulls(
                state="open", head=f"{owner}:{check_ref(head_branch)}", base=base or NotSet
            )
            for item in found:
                pull = pull_of(item)
                if (
                    pull.head_ref == head_branch
                    and (pull.head_repo or self.repository).lower() == source.lower()
                ):
                    return pull
        return None

    def pull_files(self, number: int, max_files: int = 300) -> list[PullFile]:
        """The files pull request `number` changes, with their hunks (the first `max_files`)."""
        action = f"list the files of pull request #{check_number(number)}"
        with self._calling(action, "pull-requests"):
            files: list[PullFile] = []
            for item in self._repo.get_pull(number).get_files():
                if len(files) >= max_files:
                    break
                files.append(pull_file_of(item))
        return files

    # -- writes ---------------------------------------------------------------------------

    def open_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> Pull:
        """Open a pull request from `head` (branch, or owner:branch) into `base`."""
        action = f"open a pull request from {check_ref(head)} into {check_ref(base)}"
        with self._calling(action, "pull-requests", "write", post=True):
            created = self._repo.create_pull(
                base=base, head=head, title=title, body=cap(body, MAX_BODY), draft=draft
            )
            return pull_of(created)

    def update_pull(self, number: int, *, title: str, body: str) -> Pull:
        """Set pull request `number`'s title and body."""
        with self._calling(
            f"update pull request #{check_number(number)}", "pull-requests", "write"
        ):
            pull = self._repo.get_pull(number)
            pull.edit(title=title, body=cap(body, MAX_BODY))
            return pull_of(pull)

    def request_reviewers(self, number: int, logins: Sequence[str]) -> str | None:
        """Ask `logins` to review; None when GitHub agreed, else its reason (not an error:
        e.g. the author cannot review their own pull request)."""
        if not logins:
            return None
        action = f"request reviews on pull request #{check_number(number)}"
        with self._calling(action, "pull-requests", "write", post=True):
            try:
                self._repo.get_pull(number).create_review_request(reviewers=list(logins))
            except GithubException as exc:
                if exc.status != 422:
                    raise
                said = said_of(exc.data) or "GitHub refused the review request"
                return redact(said, [self._token])
        return None

    def review(
        self, number: int, *, commit: str, body: str, comments: Sequence[ReviewComment]
    ) -> str:
        """Post a COMMENT review on pull request `number` at `commit`; its URL."""
        url = f"{self._repo.url}/pulls/{check_number(number)}/reviews"
        data = {
            "commit_id": commit,
            "body": cap(body, MAX_BODY),
            "event": "COMMENT",
            "comments": [c.as_json() for c in comments],
        }
        with self._calling(f"review pull request #{number}", "pull-requests", "write", post=True):
            _, answer = self._repo.requester.requestJsonAndCheck("POST", url, input=data)
        return str(answer.get("html_url") or "") if isinstance(answer, dict) else ""

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        """Add `labels` to issue or pull request `number` (GitHub creates unknown ones)."""
        if not labels:
            return
        # PyGithub's add_to_labels sends a bare array, which the official description no
        # longer accepts; the documented body is {"labels": [...]}.
        url = f"{self._repo.url}/issues/{check_number(number)}/labels"
        with self._calling(f"label #{number}", "issues", "write", post=True):
            self._repo.requester.requestJsonAndCheck("POST", url, input={"labels": list(labels)})

    def react(self, *, number: int | None = None, comment_id: int | None = None) -> None:
        """Put an eyes reaction on comment `comment_id`, else on issue or pull request
        `number`: "seen, working on it" in the second after the trigger. GitHub answers 200
        instead of 201 when the reaction is already there, which is fine."""
        if comment_id is not None:
            url = f"{self._repo.url}/issues/comments/{check_number(comment_id)}/reactions"
            action = f"react to comment {comment_id}"
        elif number is not None:
            url = f"{self._repo.url}/issues/{check_number(number)}/reactions"
            action = f"react to #{number}"
        else:
            raise BadInput("react: give an issue number or a comment id")
        with self._calling(action, "issues", "write", post=True):
            self._repo.requester.requestJsonAndCheck("POST", url, input={"content": "eyes"})

    def comment(self, number: int, body: str) -> Comment:
        """Comment on issue or pull request `number`."""
        with self._calling(f"comment on #{check_number(number)}", "issues", "write", post=True):
            return comment_of(self._repo.get_issue(number).create_comment(cap(body, MAX_BODY)))

    def edit_comment(self, comment_id: int, body: str) -> Comment:
        """Replace the body of comment `comment_id`."""
        url = f"{self._repo.url}/issues/comments/{check_number(comment_id)}"
        with self._calling(f"edit comment {comment_id}", "issues", "write"):
            comment = GhIssueComment(self._repo.requester, url=url)
            comment.edit(cap(body, MAX_BODY))
            return comment_of(comment)

    def create_check_run(self, *, name: str, head_sha: str, details_url: str | None = None) -> int:
        """Start an in-progress check run on `head_sha`; returns its id."""
        action = f"create the check run {name!r}"
        with self._calling(action, "checks", "write", post=True):
            check = self._repo.create_check_run(
                name=name,
                head_sha=head_sha,
                status="in_progress",
                started_at=datetime.now(timezone.utc),
                details_url=details_url if details_url is not None else NotSet,
            )
            return check_id_of(check)

    def complete_check_run(
        self,
        check_id: int,
        *,
        conclusion: str,
        title: str,
        summary: str,
        text: str = "",
        annotations: Sequence[Annotation] = (),
    ) -> None:
        """Complete check run `check_id`; annotations go 50 to a PATCH, which GitHub appends."""
        notes = [note.as_json() for note in annotations]
        batches = [
            notes[start : start + ANNOTATIONS_PER_REQUEST]
            for start in range(0, len(notes), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        output: dict[str, Any] = {"title": title, "summary": cap(summary, MAX_TEXT)}
        if text:
            output["text"] = cap(text, MAX_TEXT)
        action = f"complete check run {check_number(check_id)}"
        with self._calling(action, "checks", "write"):
            check = self._repo.get_check_run(check_id)
            # The conclusion goes first, so a failure in a later batch still leaves the
            # check run finished; each later PATCH repeats the output it must carry.
            check.edit(
                status="completed",
                conclusion=conclusion,
                completed_at=datetime.now(timezone.utc),
                output={**output, "annotations": batches[0]},
            )
            for batch in batches[1:]:
                check.edit(output={**output, "annotations": batch})
