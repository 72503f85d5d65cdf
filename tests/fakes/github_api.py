"""A stateful fake of the GitHub REST API on loopback, driven by the real PyGithub client.

Point ``github.Github(auth=github.Auth.Token(fake.token), base_url=fake.url)`` (or
``GITHUB_API_URL``) at it. It answers the routes the bot uses with GitHub's status codes,
JSON shapes, ``Link`` pagination and error bodies, and records every request in ``calls`` so
tests can assert what the bot wrote. State lives in plain dicts behind one lock; the JSON
shapes are built from it by ``github_json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import secrets
import socket
import subprocess
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

from tests.fakes.github_json import (
    Roots,
    check_run_json,
    comment_json,
    head_label,
    issue_json,
    job_json,
    label_json,
    permission_json,
    pull_json,
    reaction_json,
    repo_json,
    run_json,
    user_json,
)
from tests.fakes.github_schema import ACCEPT, API_VERSION, header_violations
from tests.fakes.github_schema import violations as schema_violations

DOCS = "https://docs.github.com/rest"
ROLES = ("admin", "maintain", "write", "triage", "read")
ANNOTATION_LEVELS = ("notice", "warning", "failure")
ANNOTATIONS_PER_REQUEST = 50
_DEFAULT_MESSAGES = {
    400: "Problems parsing JSON",
    401: "Bad credentials",
    403: "Resource not accessible by integration",
    404: "Not Found",
    422: "Validation Failed",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}
_OWNER_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


class Call(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    token: str | None
    at: float = 0.0  # time.time() when the request arrived, to compare with other processes


class ApiError(Exception):
    """An error answer, rendered as GitHub renders it: message, errors, docs link, status."""

    def __init__(
        self, status: int, message: str | None = None, *, errors: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or _DEFAULT_MESSAGES.get(status, "Error")
        self.errors = errors

    def body(self, doc: str) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            out["errors"] = self.errors
        return out | {"documentation_url": doc, "status": str(self.status)}


def _invalid(*missing: str) -> ApiError:
    lines = "\n".join(f'"{name}" wasn\'t supplied.' for name in missing)
    return ApiError(422, f"Invalid request.\n\n{lines}")


def _validation_failed(
    resource: str, field: str | None = None, code: str = "invalid", message: str | None = None
) -> ApiError:
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field is not None:
        error["field"] = field
    if message is not None:
        error["message"] = message
    return ApiError(422, errors=[error])


@dataclass
class _Failure:
    """An error injected by ``FakeGitHub.fail``, answered while ``times_left`` lasts."""

    method: str  # or "*"
    path: re.Pattern[str]
    status: int
    times_left: int
    message: str | None
    headers: dict[str, str]

    def take(self, method: str, path: str) -> bool:
        """Whether this failure answers the request, counting the use when it does."""
        if self.times_left <= 0 or self.method not in (method, "*") or not self.path.search(path):
            return False
        self.times_left -= 1
        return True


class _Request(NamedTuple):
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any


class _Reply(NamedTuple):
    status: int
    body: Any
    headers: Mapping[str, str] = {}


_Handler = TypeVar("_Handler", bound=Callable[..., _Reply])


_ROUTES: list[tuple[str, re.Pattern[str], str, str]] = []  # method, path, handler name, docs


def _route(method: str, pattern: str, doc: str) -> Callable[[_Handler], _Handler]:
    """Register a handler for ``/repos/{owner}/{repo}`` + ``pattern``; ``doc`` is its docs page."""

    def register(handler: _Handler) -> _Handler:
        path = re.compile(_OWNER_REPO + pattern)
        _ROUTES.append((method, path, handler.__name__, f"{DOCS}/{doc}"))
        return handler

    return register


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fake_sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


class _Connection(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's pooled session expects
    disable_nagle_algorithm = True  # headers and body go out separately; don't wait on ACKs
    server_version = "GitHub.com"
    sys_version = ""
    server: _Server

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    def setup(self) -> None:
        super().setup()
        self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        self.server.open_sockets.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read `calls`, not stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Connection)


class FakeGitHub:
    """The fake server. Use it as a context manager; seed state with the ``add_*`` methods.

    With PyGithub pass ``seconds_between_requests=None, seconds_between_writes=None`` (it
    otherwise sleeps 0.25 s / 1 s between calls) and a fast ``retry`` when injecting 5xx.
    Everything written through the API is authored by ``bot_login``.
    """

    html_root: str = "https://github.test"
    token: str = "ghs_fake_write_token"
    read_token: str = "ghs_fake_read_token"
    bot_login: str = "github-actions[bot]"  # the author of everything written through the API
    # What a conforming client sends on every request besides its token (raw tests add these).
    client_headers: Mapping[str, str] = {"Accept": ACCEPT, "X-GitHub-Api-Version": API_VERSION}

    def __init__(
        self, *, origin: Path | None = None, per_page_max: int = 100, strict: bool = True
    ) -> None:
        self.origin = origin
        self.per_page_max = per_page_max
        # strict: leaving the context with any request that departed from GitHub's official
        # description (github_schema) fails the test; such requests are answered 422 as well.
        self.strict = strict
        self.violations: list[str] = []
        self.calls: list[Call] = []
        self.blob_auth_headers: list[str | None] = []
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake itself (answered 500)
        self._tokens = {self.token: True, self.read_token: False}  # token -> may write
        self._lock = threading.RLock()
        self._ids = {kind: itertools.count(base) for kind, base in _ID_BASES.items()}
        self._repos: dict[str, dict[str, Any]] = {}
        self._comments: dict[int, dict[str, Any]] = {}
        self._reactions: list[dict[str, Any]] = []
        self._check_runs: dict[int, dict[str, Any]] = {}
        self._runs: dict[int, dict[str, Any]] = {}
        self._jobs: dict[int, dict[str, Any]] = {}
        self._blobs: dict[str, tuple[str, str]] = {}  # path -> (signature, text)
        self._failures: list[_Failure] = []
        self._used = 0
        self._server = _Server(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        )
        self._thread.start()

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if self.strict and self.violations and exc_type is None:
            raise AssertionError(
                "requests that do not conform to GitHub's REST description:\n"
                + "\n".join(self.violations)
            )

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        for sock in list(self._server.open_sockets):  # wake keep-alive readers so they exit
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join()

    # -- seeding --------------------------------------------------------------------------

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = False
    ) -> None:
        with self._lock:
            self._repos[full_name.lower()] = {
                "id": self._next_id("repo"),
                "full_name": full_name,
                "default_branch": default_branch,
                "private": private,
                "branches": {default_branch},
                "roles": {},
                "issues": {},
                "labels": {},
                "numbers": itertools.count(1),
                "created_at": _now(),
            }

    def add_branch(self, full_name: str, branch: str) -> None:
        """Make ``branch`` a valid PR base when no ``origin`` repository is given."""
        with self._lock:
            self._seeded_repo(full_name)["branches"].add(branch)

    def add_token(self, token: str, *, write: bool = True) -> None:
        with self._lock:
            self._tokens[token] = write

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        if role not in (*ROLES, "none"):
            raise ValueError(f"unknown role {role!r}")
        with self._lock:
            self._seeded_repo(full_name)["roles"][login.lower()] = role

    def add_issue(
        self,
        full_name: str,
        *,
        title: str,
        body: str = "",
        user: str = "octocat",
        labels: Sequence[str] = (),
        state: str = "open",
        locked: bool = False,
    ) -> int:
        with self._lock:
            repo = self._seeded_repo(full_name)
            issue = self._new_issue(repo, title=title, body=body, user=user, state=state)
            issue["locked"] = locked
            for name in labels:
                self._attach_label(repo, issue, name)
            return int(issue["number"])

    def add_pull(
        self,
        full_name: str,
        *,
        head: str,
        base: str,
        head_sha: str,
        user: str = "octocat",
        title: str = "",
        body: str = "",
        head_repo: str | None = None,
        state: str = "open",
        draft: bool = False,
    ) -> int:
        with self._lock:
            repo = self._seeded_repo(full_name)
            issue = self._new_issue(repo, title=title, body=body, user=user, state=state)
            issue["pull"] = _new_pull(head, head_repo or repo["full_name"], head_sha, base, draft)
            return int(issue["number"])

    def set_pull_files(self, full_name: str, number: int, files: list[dict[str, Any]]) -> None:
        """What pull request `number` changes: each file's `filename`, `status` and `patch`
        (its diff hunks, as GitHub lists them), for the files and reviews routes."""
        with self._lock:
            issue = self._seeded_repo(full_name)["issues"][number]
            issue["pull"]["files"] = [dict(f) for f in files]

    def reviews(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """The reviews posted on pull request `number`, as sent (commit_id, body, event,
        comments)."""
        with self._lock:
            issue = self._seeded_repo(full_name)["issues"][number]
            return [dict(r) for r in issue["pull"]["reviews"]]

    def add_comment(
        self,
        full_name: str,
        number: int,
        *,
        body: str,
        user: str = "octocat",
        user_type: str = "User",
    ) -> int:
        with self._lock:
            repo = self._seeded_repo(full_name)
            return int(self._new_comment(repo, repo["issues"][number], body, user, user_type)["id"])

    def add_workflow_run(
        self,
        full_name: str,
        *,
        head_branch: str,
        head_sha: str,
        actor: str = "octocat",
        triggering_actor: str | None = None,
        conclusion: str = "failure",
        head_repo: str | None = None,
        name: str = "CI",
        jobs: Sequence[Mapping[str, Any]] = (),
        event: str = "push",
    ) -> int:
        with self._lock:
            repo = self._seeded_repo(full_name)
            run_id = self._next_id("run")
            self._runs[run_id] = {
                "id": run_id,
                "repo": repo["full_name"],
                "name": name,
                "head_branch": head_branch,
                "head_sha": head_sha,
                "actor": actor,
                "triggering_actor": triggering_actor or actor,
                "conclusion": conclusion,
                "head_repo": head_repo or repo["full_name"],
                "event": event,
                "run_number": len(self._runs) + 1,
                "created_at": _now(),
                "jobs": [],
            }
            for spec in jobs:
                job_id = self._next_id("job")
                self._jobs[job_id] = {"id": job_id, "run_id": run_id, "conclusion": "success"}
                self._jobs[job_id].update(spec)
                self._runs[run_id]["jobs"].append(job_id)
            return run_id

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path matches (re.search) with ``status``.

        ``method`` may be ``"*"``. ``headers`` are added to the error answer (``Retry-After``,
        ``X-RateLimit-Remaining: 0``). The ``/_blobs/`` log downloads fail too, with blob
        storage's XML error body: ``fail("GET", "/_blobs/", 403)`` is an expired log link.
        """
        with self._lock:
            pattern = re.compile(path_regex)
            failure = _Failure(method.upper(), pattern, status, times, message, dict(headers or {}))
            self._failures.append(failure)

    # -- reading state --------------------------------------------------------------------

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method not in ("GET", "HEAD")]

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        """Every PR of the repo, flat: number, title, body, state, draft, head, head_repo,
        head_sha, base, user, maintainer_can_modify, requested_reviewers (logins), labels."""
        with self._lock:
            repo = self._seeded_repo(full_name)
            out = []
            for issue in repo["issues"].values():
                if issue["pull"] is None:
                    continue
                pull = issue["pull"]
                out.append(
                    {key: issue[key] for key in ("number", "title", "body", "state", "user")}
                    | {key: pull[key] for key in ("head", "head_repo", "head_sha", "base", "draft")}
                    | {
                        "maintainer_can_modify": pull["maintainer_can_modify"],
                        "requested_reviewers": list(pull["requested_reviewers"]),
                        "labels": list(issue["labels"]),
                    }
                )
            return out

    def comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            key = self._seeded_repo(full_name)["full_name"]
            return [
                dict(c)
                for c in self._comments.values()
                if c["repo"] == key and c["number"] == number
            ]

    def check_runs(self, full_name: str) -> list[dict[str, Any]]:
        """Check runs with ``output`` (title/summary/text) and every annotation ever posted."""
        with self._lock:
            key = self._seeded_repo(full_name)["full_name"]
            return [
                json.loads(json.dumps(c)) for c in self._check_runs.values() if c["repo"] == key
            ]

    def reactions(self, full_name: str) -> list[tuple[str, int, str]]:
        """Reactions made through the API: ("comment", id, content) or ("issue", number, ...)."""
        with self._lock:
            key = self._seeded_repo(full_name)["full_name"]
            return [
                (r["on"], r["target"], r["content"]) for r in self._reactions if r["repo"] == key
            ]

    def labels(self, full_name: str, number: int) -> list[str]:
        with self._lock:
            return list(self._seeded_repo(full_name)["issues"][number]["labels"])

    # -- routes ---------------------------------------------------------------------------

    @_route("GET", "", "repos/repos#get-a-repository")
    def _get_repo(self, req: _Request) -> _Reply:
        return _Reply(200, repo_json(self._roots, self._repo(req)))

    @_route(
        "GET",
        "/collaborators/(?P<user>[^/]+)/permission",
        "collaborators/collaborators#get-repository-permissions-for-a-user",
    )
    def _get_permission(self, req: _Request) -> _Reply:
        repo, login = self._repo(req), req.params["user"]
        return _Reply(200, permission_json(self._roots, login, self._role(repo, login)))

    @_route("GET", r"/issues/(?P<n>\d+)", "issues/issues#get-an-issue")
    def _get_issue(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._issue(repo, req)
        comments = len(self._comments_of(repo, issue["number"]))
        return _Reply(200, issue_json(self._roots, repo, issue, comments=comments))

    @_route("GET", r"/issues/(?P<n>\d+)/comments", "issues/comments#list-issue-comments")
    def _list_comments(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._issue(repo, req)
        rows = [
            comment_json(self._roots, repo, issue, c)
            for c in self._comments_of(repo, issue["number"])
        ]
        return self._page(req, rows)

    @_route("POST", r"/issues/(?P<n>\d+)/comments", "issues/comments#create-an-issue-comment")
    def _create_comment(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._issue(repo, req)
        body = _fields(req.body, required=("body",))
        comment = self._new_comment(repo, issue, body["body"], self.bot_login, None)
        data = comment_json(self._roots, repo, issue, comment)
        return _Reply(201, data, {"Location": data["url"]})

    @_route("GET", r"/issues/comments/(?P<id>\d+)", "issues/comments#get-an-issue-comment")
    def _get_comment(self, req: _Request) -> _Reply:
        return _Reply(200, self._comment_json(self._comment(req)))

    @_route("PATCH", r"/issues/comments/(?P<id>\d+)", "issues/comments#update-an-issue-comment")
    def _edit_comment(self, req: _Request) -> _Reply:
        comment = self._comment(req)
        comment["body"] = _fields(req.body, required=("body",))["body"]
        comment["updated_at"] = _now()
        return _Reply(200, self._comment_json(comment))

    @_route(
        "POST",
        r"/issues/comments/(?P<id>\d+)/reactions",
        "reactions/reactions#create-reaction-for-an-issue-comment",
    )
    def _react_to_comment(self, req: _Request) -> _Reply:
        comment = self._comment(req)
        return self._react(comment["repo"], "comment", comment["id"], req.body["content"])

    @_route(
        "POST", r"/issues/(?P<n>\d+)/reactions", "reactions/reactions#create-reaction-for-an-issue"
    )
    def _react_to_issue(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._issue(repo, req)
        return self._react(repo["full_name"], "issue", issue["number"], req.body["content"])

    def _react(self, repo: str, on: str, target: int, content: str) -> _Reply:
        for known in self._reactions:  # one of each kind per user: the second answers 200
            if (known["repo"], known["on"], known["target"], known["content"]) == (
                repo,
                on,
                target,
                content,
            ):
                return _Reply(200, reaction_json(self._roots, known))
        reaction = {"id": self._next_id("reaction"), "repo": repo, "on": on, "target": target}
        reaction |= {"content": content, "user": self.bot_login, "created_at": _now()}
        self._reactions.append(reaction)
        return _Reply(201, reaction_json(self._roots, reaction))

    @_route("POST", r"/issues/(?P<n>\d+)/labels", "issues/labels#add-labels-to-an-issue")
    def _add_labels(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._issue(repo, req)
        names = req.body["labels"]  # the official description's only form (github_schema)
        for name in names:
            label = name.get("name") if isinstance(name, dict) else name
            if not isinstance(label, str) or not label.strip():
                raise _validation_failed("Label", "name", "invalid")
            self._attach_label(repo, issue, label)
        return _Reply(200, [label_json(self._roots, repo, name) for name in issue["labels"]])

    @_route("GET", "/pulls", "pulls/pulls#list-pull-requests")
    def _list_pulls(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        state = req.query.get("state", "open")
        head, base = req.query.get("head"), req.query.get("base")
        rows = []
        for issue in sorted(repo["issues"].values(), key=lambda x: -x["number"]):
            pull = issue["pull"]
            if pull is None or state not in ("all", issue["state"]):
                continue
            # GitHub only applies `head` in the user:ref form; a bare branch name is ignored.
            if head and ":" in head and head.lower() != head_label(pull).lower():
                continue
            if base and base != pull["base"]:
                continue
            rows.append(self._pull_json(repo, issue))
        return self._page(req, rows)

    @_route("POST", "/pulls", "pulls/pulls#create-a-pull-request")
    def _create_pull(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        body = _fields(req.body, required=("head", "base"), optional=("title", "body"))
        if "title" not in body and "issue" not in body:
            raise _validation_failed("PullRequest", "title", "missing_field")
        owner = repo["full_name"].split("/")[0]
        head_owner, _, head_ref = body["head"].rpartition(":")
        head_owner = head_owner or owner
        head_repo = (
            repo["full_name"]
            if head_owner.lower() == owner.lower()
            else f"{head_owner}/{repo['full_name'].split('/')[1]}"
        )
        base_sha = self._branch_sha(repo, body["base"])
        if base_sha is None:
            raise _validation_failed("PullRequest", "base")
        head_sha = self._branch_sha(repo, head_ref) if head_repo == repo["full_name"] else None
        if head_repo == repo["full_name"] and head_sha is None and self.origin is not None:
            raise _validation_failed("PullRequest", "head")
        label = f"{head_owner}:{head_ref}"
        for other in repo["issues"].values():
            pull = other["pull"]
            if (
                pull
                and other["state"] == "open"
                and head_label(pull).lower() == label.lower()
                and pull["base"] == body["base"]
            ):
                raise _validation_failed(
                    "PullRequest", None, "custom", f"A pull request already exists for {label}."
                )
        if head_sha is not None and head_sha == base_sha and self.origin is not None:
            message = f"No commits between {body['base']} and {head_ref}"
            raise _validation_failed("PullRequest", None, "custom", message)
        if "issue" in body:
            issue = self._issue(repo, req._replace(params={"n": str(body["issue"])}))
        else:
            issue = self._new_issue(
                repo,
                title=body["title"],
                body=body.get("body") or "",
                user=self.bot_login,
                state="open",
            )
        sha = head_sha or _fake_sha(head_repo, head_ref)
        issue["pull"] = _new_pull(head_ref, head_repo, sha, body["base"], bool(body.get("draft")))
        issue["pull"]["maintainer_can_modify"] = bool(body.get("maintainer_can_modify", True))
        data = self._pull_json(repo, issue)
        return _Reply(201, data, {"Location": data["url"]})

    @_route("GET", r"/pulls/(?P<n>\d+)", "pulls/pulls#get-a-pull-request")
    def _get_pull(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        return _Reply(200, self._pull_json(repo, self._pull(repo, req)))

    @_route("PATCH", r"/pulls/(?P<n>\d+)", "pulls/pulls#update-a-pull-request")
    def _edit_pull(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._pull(repo, req)
        body = _fields(req.body, optional=("title", "body", "state", "base"))
        if body.get("state") not in (None, "open", "closed"):
            raise _validation_failed("PullRequest", "state")
        if "base" in body and self._branch_sha(repo, body["base"]) is None:
            raise _validation_failed("PullRequest", "base")
        for key in ("title", "body", "state"):
            issue[key] = body.get(key, issue[key])
        issue["pull"]["base"] = body.get("base", issue["pull"]["base"])
        if "maintainer_can_modify" in body:
            issue["pull"]["maintainer_can_modify"] = bool(body["maintainer_can_modify"])
        issue["closed_at"] = _now() if issue["state"] == "closed" else None
        issue["updated_at"] = _now()
        return _Reply(200, self._pull_json(repo, issue))

    @_route(
        "POST",
        r"/pulls/(?P<n>\d+)/requested_reviewers",
        "pulls/review-requests#request-reviewers-for-a-pull-request",
    )
    def _request_reviewers(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._pull(repo, req)
        body = _fields(req.body)
        reviewers, teams = body.get("reviewers") or [], body.get("team_reviewers") or []
        if not reviewers and not teams:
            raise _invalid("reviewers", "team_reviewers")
        if any(login.lower() == issue["user"].lower() for login in reviewers):
            raise ApiError(422, "Review cannot be requested from pull request author.")
        if not all(self._role(repo, login, default="none") != "none" for login in reviewers):
            message = f"Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {repo['full_name']} repository."
            raise ApiError(422, message)
        pull = issue["pull"]
        pull["requested_reviewers"] += [
            x for x in reviewers if x not in pull["requested_reviewers"]
        ]
        pull["requested_teams"] += [x for x in teams if x not in pull["requested_teams"]]
        return _Reply(201, self._pull_json(repo, issue))

    @_route("GET", r"/pulls/(?P<n>\d+)/files", "pulls/pulls#list-pull-requests-files")
    def _list_pull_files(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        pull = self._pull(repo, req)["pull"]
        rows = [
            {
                "sha": _fake_sha(f["filename"], f.get("patch")),
                "filename": f["filename"],
                "status": f.get("status", "modified"),
                "additions": sum(1 for x in _lines(f) if x.startswith("+")),
                "deletions": sum(1 for x in _lines(f) if x.startswith("-")),
                "changes": sum(1 for x in _lines(f) if x[:1] in ("+", "-")),
                "blob_url": f"https://github.test/{repo['full_name']}/blob/x/{f['filename']}",
                "raw_url": f"https://github.test/{repo['full_name']}/raw/x/{f['filename']}",
                "contents_url": f"{self.url}/repos/{repo['full_name']}/contents/{f['filename']}",
                **({"patch": f["patch"]} if f.get("patch") is not None else {}),
            }
            for f in pull["files"]
        ]
        return self._page(req, rows)

    @_route(
        "POST",
        r"/pulls/(?P<n>\d+)/reviews",
        "pulls/reviews#create-a-review-for-a-pull-request",
    )
    def _create_review(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        issue = self._pull(repo, req)
        body = req.body if isinstance(req.body, dict) else {}
        if body.get("event") in ("COMMENT", "REQUEST_CHANGES") and not body.get("body"):
            raise _invalid("body")
        if issue["state"] != "open":
            raise ApiError(422, "Can not add a review to a closed pull request")
        # GitHub resolves each comment's lines in the pull request's diff, or refuses the
        # whole review.
        files = {f["filename"]: f for f in issue["pull"]["files"]}
        for comment in body.get("comments") or []:
            file = files.get(comment.get("path"))
            if file is None:
                raise ApiError(422, "Unprocessable Entity", errors=["Path could not be resolved"])
            right = _right_lines(file)
            start, line = comment.get("start_line", comment.get("line")), comment.get("line")
            if comment.get("side", "RIGHT") != "RIGHT" or line not in right:
                raise ApiError(422, "Unprocessable Entity", errors=["Line could not be resolved"])
            if start not in right or start > line or right[start] != right[line]:
                raise ApiError(
                    422,
                    "Unprocessable Entity",
                    errors=["Start line must precede the end line in the same hunk"],
                )
        review_id = self._next_id("review")
        issue["pull"]["reviews"].append(dict(body))
        html = f"https://github.test/{repo['full_name']}/pull/{issue['number']}#pullrequestreview-{review_id}"
        return _Reply(
            200,
            {
                "id": review_id,
                "node_id": f"PRR_{review_id}",
                "user": user_json(self._roots, self.bot_login, "Bot"),
                "body": body.get("body", ""),
                "state": "COMMENTED" if body.get("event") == "COMMENT" else "PENDING",
                "html_url": html,
                "pull_request_url": f"{self.url}/repos/{repo['full_name']}/pulls/{issue['number']}",
                "commit_id": body.get("commit_id") or issue["pull"]["head_sha"],
                "submitted_at": _now(),
                "author_association": "NONE",
                "_links": {"html": {"href": html}},
            },
        )

    @_route("POST", "/check-runs", "checks/runs#create-a-check-run")
    def _create_check_run(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        body = _fields(req.body, required=("name", "head_sha"))
        run_id = self._next_id("check")
        run = {"id": run_id, "repo": repo["full_name"], "name": body["name"]}
        run |= {"head_sha": body["head_sha"], "status": "queued", "conclusion": None}
        run |= {"details_url": None, "external_id": "", "started_at": _now(), "completed_at": None}
        run |= {"output": {"title": None, "summary": None, "text": None}, "annotations": []}
        self._apply_check_run(run, body)
        self._check_runs[run_id] = run
        return _Reply(201, check_run_json(self._roots, run))

    @_route("GET", r"/check-runs/(?P<id>\d+)", "checks/runs#get-a-check-run")
    def _get_check_run(self, req: _Request) -> _Reply:
        return _Reply(200, check_run_json(self._roots, self._check_run(req)))

    @_route("PATCH", r"/check-runs/(?P<id>\d+)", "checks/runs#update-a-check-run")
    def _update_check_run(self, req: _Request) -> _Reply:
        run = self._check_run(req)
        self._apply_check_run(run, _fields(req.body))
        return _Reply(200, check_run_json(self._roots, run))

    def _apply_check_run(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        output = body.get("output")
        annotations: list[Any] = []
        if output is not None:
            output = _fields(output, required=("title", "summary"))
            annotations = output.get("annotations") or []
            if len(annotations) > ANNOTATIONS_PER_REQUEST:
                raise ApiError(
                    422,
                    f"Invalid request.\n\nFor 'properties/annotations', {len(annotations)} items is more than the maximum of {ANNOTATIONS_PER_REQUEST}.",
                )
            for note in annotations:
                fields = ("path", "start_line", "end_line", "annotation_level", "message")
                _fields(note, required=fields)
                if note["annotation_level"] not in ANNOTATION_LEVELS:
                    raise ApiError(
                        422,
                        f"Invalid request.\n\nFor 'properties/annotation_level', \"{note['annotation_level']}\" is not one of {list(ANNOTATION_LEVELS)}.",
                    )
        status = body.get("status", "completed" if body.get("conclusion") else run["status"])
        if status == "completed" and not body.get("conclusion") and not run["conclusion"]:
            raise _invalid("conclusion")
        for key in ("name", "details_url", "external_id", "started_at", "conclusion"):
            run[key] = body.get(key, run[key])
        run["status"] = status
        if status == "completed":
            run["completed_at"] = body.get("completed_at") or run["completed_at"] or _now()
        if output is not None:
            run["output"] = {key: output.get(key) for key in ("title", "summary", "text")}
            run["annotations"] += [dict(note) for note in annotations]  # appended, as documented

    @_route("GET", r"/actions/runs/(?P<id>\d+)", "actions/workflow-runs#get-a-workflow-run")
    def _get_run(self, req: _Request) -> _Reply:
        run = self._run(req)
        repo, head_repo = self._known_repo(run["repo"]), self._known_repo(run["head_repo"])
        return _Reply(200, run_json(self._roots, run, repo=repo, head_repo=head_repo))

    @_route(
        "GET",
        r"/actions/runs/(?P<id>\d+)/jobs",
        "actions/workflow-jobs#list-jobs-for-a-workflow-run",
    )
    def _list_jobs(self, req: _Request) -> _Reply:
        run = self._run(req)
        rows = [job_json(self._roots, self._jobs[job_id], run) for job_id in run["jobs"]]
        return self._page(req, rows, list_key="jobs")

    @_route(
        "GET",
        r"/actions/jobs/(?P<id>\d+)/logs",
        "actions/workflow-jobs#download-job-logs-for-a-workflow-run",
    )
    def _job_logs(self, req: _Request) -> _Reply:
        repo = self._repo(req)
        job = self._jobs.get(int(req.params["id"]))
        if job is None or self._runs[job["run_id"]]["repo"] != repo["full_name"]:
            raise ApiError(404)
        signature = secrets.token_hex(8)
        path = f"/_blobs/job-logs/{job['id']}-{secrets.token_hex(4)}.txt"
        self._blobs[path] = (signature, str(job.get("log", "")))
        location = f"{self.url}{path}?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sig={signature}"
        return _Reply(302, None, {"Location": location})

    # -- request plumbing -----------------------------------------------------------------

    def _serve(self, conn: _Connection) -> None:
        arrived = time.time()
        split = urlsplit(conn.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(conn.headers.get("Content-Length") or 0)
        raw = conn.rfile.read(length) if length else b""
        auth = conn.headers.get("Authorization")
        token = auth.split(" ", 1)[1].strip() if auth and " " in auth else None
        with self._lock:
            self._used += 1
            failure = next((f for f in self._failures if f.take(conn.command, split.path)), None)
            headers: Mapping[str, str]
            if split.path.startswith("/_blobs/"):
                status, headers, payload = self._serve_blob(split.path, query, auth, failure)
            else:
                sent = {name.lower(): value for name, value in conn.headers.items()}
                status, body, headers = self._serve_api(
                    conn.command, split.path, query, raw, token, failure, sent
                )
                payload = b"" if body is None else json.dumps(body).encode()
                headers = {**self._api_headers(), **headers}
            try:
                logged_body = json.loads(raw) if raw else None
            except ValueError:
                logged_body = raw.decode(errors="replace")
            self.calls.append(
                Call(conn.command, split.path, query, logged_body, status, token, arrived)
            )
        conn.send_response(status)
        for name, value in headers.items():
            conn.send_header(name, value)
        conn.send_header("Content-Length", str(len(payload)))
        conn.end_headers()
        if conn.command != "HEAD":
            conn.wfile.write(payload)

    def _serve_api(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        token: str | None,
        failure: _Failure | None,
        sent: Mapping[str, str],
    ) -> tuple[int, Any, Mapping[str, str]]:
        if failure is not None:
            error = ApiError(failure.status, failure.message)
            return error.status, error.body(DOCS), failure.headers
        try:
            return self._dispatch(method, path, query, raw, token, sent)
        except ApiError as error:  # raised before a route's docs link was known
            return error.status, error.body(DOCS), {}
        except Exception as error:  # noqa: BLE001 - a fake must answer, never hang the client
            self.server_errors.append(traceback.format_exc())
            return 500, {"message": f"fake error: {error!r}"}, {}

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        token: str | None,
        sent: Mapping[str, str],
    ) -> tuple[int, Any, Mapping[str, str]]:
        # Every request is held to the official description (github_schema). A missing header
        # is only recorded (GitHub would still answer); a body or query the schemas refuse is
        # answered 422 after authentication, routing and JSON parsing, in GitHub's order.
        self.violations += header_violations(method, path, sent)
        if token not in self._tokens:
            raise ApiError(401)
        matches = [
            (name, doc, m)
            for verb, rx, name, doc in _ROUTES
            if verb in (method, "GET" if method == "HEAD" else "") and (m := rx.fullmatch(path))
        ]
        if not matches:
            raise ApiError(404)  # an unknown route and a wrong method look alike on GitHub
        name, doc, match = matches[0]
        params = {key: unquote(value) for key, value in match.groupdict().items()}
        try:
            if method not in ("GET", "HEAD") and not self._tokens[token]:
                raise ApiError(403)
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ApiError(400) from None
            if departures := schema_violations(method, path, query, raw):
                self.violations += departures
                raise ApiError(422, "Invalid request.\n\n" + "\n".join(departures))
            reply = getattr(self, name)(_Request(path, params, query, body))
        except ApiError as error:
            return error.status, error.body(doc), {}
        return reply.status, reply.body, reply.headers

    def _serve_blob(
        self, path: str, query: dict[str, str], auth: str | None, failure: _Failure | None
    ) -> tuple[int, dict[str, str], bytes]:
        """A signed log download: no auth needed, a bad signature is 403, errors are XML."""
        self.blob_auth_headers.append(auth)
        blob = self._blobs.get(path)
        if failure is not None:
            return _blob_error(failure.status, failure.message, failure.headers)
        if blob is None or query.get("sig") != blob[0]:
            return _blob_error(403)
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, blob[1].encode()

    def _api_headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": f"{secrets.token_hex(2).upper()}:{secrets.token_hex(4).upper()}",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(max(0, 5000 - self._used)),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(self._used),
            "X-RateLimit-Resource": "core",
        }

    def _page(self, req: _Request, rows: list[Any], *, list_key: str | None = None) -> _Reply:
        try:
            per_page = max(1, min(int(req.query.get("per_page", 30)), self.per_page_max))
            page = max(1, int(req.query.get("page", 1)))
        except ValueError:
            per_page, page = 30, 1
        last = max(1, -(-len(rows) // per_page))
        chunk = rows[(page - 1) * per_page : page * per_page]
        rels = []
        if page > 1:
            rels.append(("prev", min(page - 1, last)))
        if page < last:
            rels += [("next", page + 1), ("last", last)]
        if page > 1:
            rels.append(("first", 1))
        others = {k: v for k, v in req.query.items() if k != "page"}
        links = [
            f'<{self.url}{req.path}?{urlencode({**others, "page": n})}>; rel="{rel}"'
            for rel, n in rels
        ]
        headers = {"Link": ", ".join(links)} if links else {}
        body = {"total_count": len(rows), list_key: chunk} if list_key else chunk
        return _Reply(200, body, headers)

    # -- state helpers --------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def _seeded_repo(self, full_name: str) -> dict[str, Any]:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"no repository {full_name!r}: call add_repo first")
        return repo

    def _repo(self, req: _Request) -> dict[str, Any]:
        repo = self._repos.get(f"{req.params['owner']}/{req.params['repo']}".lower())
        if repo is None:
            raise ApiError(404)
        return repo

    def _issue(self, repo: dict[str, Any], req: _Request) -> dict[str, Any]:
        issue: dict[str, Any] | None = repo["issues"].get(int(req.params["n"]))
        if issue is None:
            raise ApiError(404)
        return issue

    def _pull(self, repo: dict[str, Any], req: _Request) -> dict[str, Any]:
        issue = self._issue(repo, req)
        if issue["pull"] is None:
            raise ApiError(404)
        return issue

    def _comment(self, req: _Request) -> dict[str, Any]:
        repo = self._repo(req)
        comment = self._comments.get(int(req.params["id"]))
        if comment is None or comment["repo"] != repo["full_name"]:
            raise ApiError(404)
        return comment

    def _check_run(self, req: _Request) -> dict[str, Any]:
        repo = self._repo(req)
        run = self._check_runs.get(int(req.params["id"]))
        if run is None or run["repo"] != repo["full_name"]:
            raise ApiError(404)
        return run

    def _run(self, req: _Request) -> dict[str, Any]:
        repo = self._repo(req)
        run = self._runs.get(int(req.params["id"]))
        if run is None or run["repo"] != repo["full_name"]:
            raise ApiError(404)
        return run

    def _role(self, repo: dict[str, Any], login: str, default: str | None = None) -> str:
        if login.lower() == repo["full_name"].split("/")[0].lower():
            return "admin"
        # Anyone may read a public repository; a private one is closed to non-collaborators.
        default = default or ("none" if repo["private"] else "read")
        return str(repo["roles"].get(login.lower(), default))

    def _branch_sha(self, repo: dict[str, Any], branch: str) -> str | None:
        if self.origin is None:
            known = branch in repo["branches"] or any(
                i["pull"] and i["pull"]["head"] == branch for i in repo["issues"].values()
            )
            return _fake_sha(repo["full_name"], branch) if known else None
        result = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.origin),
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}^{{commit}}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def _new_issue(
        self, repo: dict[str, Any], *, title: str, body: str, user: str, state: str
    ) -> dict[str, Any]:
        number = next(repo["numbers"])
        now = _now()
        issue = {"number": number, "id": self._next_id("issue"), "title": title, "body": body}
        issue |= {"user": user, "state": state, "locked": False, "labels": [], "pull": None}
        issue |= {
            "created_at": now,
            "updated_at": now,
            "closed_at": now if state == "closed" else None,
        }
        repo["issues"][number] = issue
        return issue

    def _new_comment(
        self,
        repo: dict[str, Any],
        issue: dict[str, Any],
        body: str,
        user: str,
        user_type: str | None,
    ) -> dict[str, Any]:
        comment_id = self._next_id("comment")
        now = _now()
        user_type = user_type or ("Bot" if user.endswith("[bot]") else "User")
        self._comments[comment_id] = {
            "id": comment_id,
            "repo": repo["full_name"],
            "number": issue["number"],
            "body": body,
            "user": user,
            "user_type": user_type,
            "created_at": now,
            "updated_at": now,
        }
        return self._comments[comment_id]

    def _comments_of(self, repo: dict[str, Any], number: int) -> list[dict[str, Any]]:
        key = repo["full_name"]
        return [c for c in self._comments.values() if c["repo"] == key and c["number"] == number]

    def _attach_label(self, repo: dict[str, Any], issue: dict[str, Any], name: str) -> None:
        # GitHub creates unknown labels on the fly, with its default grey colour.
        match = next((known for known in repo["labels"] if known.lower() == name.lower()), None)
        if match is None:
            repo["labels"][name] = {"id": self._next_id("label"), "color": "ededed"}
            match = name
        if match not in issue["labels"]:
            issue["labels"].append(match)

    # -- JSON with the state it needs -----------------------------------------------------

    @property
    def _roots(self) -> Roots:
        return Roots(self.url, self.html_root)

    def _known_repo(self, full_name: str) -> dict[str, Any]:
        """The seeded repository, or a stand-in for a fork the fake only knows by name."""
        return self._repos.get(full_name.lower()) or {
            "id": zlib.crc32(full_name.lower().encode()),
            "full_name": full_name,
            "default_branch": "main",
            "private": False,
            "created_at": _now(),
            "fork": True,
        }

    def _pull_json(self, repo: dict[str, Any], issue: dict[str, Any]) -> dict[str, Any]:
        pull, full = issue["pull"], repo["full_name"]
        base_sha = self._branch_sha(repo, pull["base"]) or _fake_sha(full, pull["base"])
        return pull_json(
            self._roots,
            repo,
            issue,
            head_repo=self._known_repo(pull["head_repo"]),
            base_sha=base_sha,
            comments=len(self._comments_of(repo, issue["number"])),
        )

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        repo = self._repos[comment["repo"].lower()]
        return comment_json(self._roots, repo, repo["issues"][comment["number"]], comment)


_ID_BASES = {
    "repo": 700_000_001,
    "issue": 2_100_000_001,
    "comment": 1_900_000_001,
    "label": 5_100_000_001,
    "check": 21_000_000_001,
    "run": 9_100_000_001,
    "job": 25_000_000_001,
    "reaction": 300_000_001,
    "review": 80_000_001,
}


def _lines(file: dict[str, Any]) -> list[str]:
    return [x for x in (file.get("patch") or "").splitlines() if not x.startswith("@@")]


def _right_lines(file: dict[str, Any]) -> dict[int, int]:
    """Each head-side line inside the file's hunks -> which hunk it is in."""
    lines: dict[int, int] = {}
    hunk, number = -1, 0
    for text in (file.get("patch") or "").splitlines():
        if text.startswith("@@"):
            hunk += 1
            number = int(text.split("+")[1].split(",")[0].split(" ")[0])
        elif text.startswith((" ", "+")):
            lines[number] = hunk
            number += 1
    return lines


def _new_pull(head: str, head_repo: str, head_sha: str, base: str, draft: bool) -> dict[str, Any]:
    return {
        "head": head,
        "head_repo": head_repo,
        "head_sha": head_sha,
        "base": base,
        "draft": draft,
        "maintainer_can_modify": True,
        "requested_reviewers": [],
        "requested_teams": [],
        "files": [],
        "reviews": [],
    }


# Blob storage's error codes and messages (Azure's), by status.
_BLOB_ERRORS = {
    403: (
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header"
        " is formed correctly including the signature.",
    ),
    404: ("BlobNotFound", "The specified blob does not exist."),
    500: (
        "InternalError",
        "Server encountered an internal error. Please try again after some time.",
    ),
    503: (
        "ServerBusy",
        "The server is currently unable to receive requests. Please retry your request.",
    ),
}


def _blob_error(
    status: int, message: str | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """An error answer as blob storage renders it: XML with a code and a message."""
    code, default = _BLOB_ERRORS.get(status, ("InternalError", "The request failed."))
    request_id = secrets.token_hex(16)
    text = escape(f"{message or default}\nRequestId:{request_id}\nTime:{_now()}")
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{text}</Message></Error>'
    out = {
        "Content-Type": "application/xml",
        "x-ms-error-code": code,
        "x-ms-request-id": request_id,
    }
    return status, out | dict(headers or {}), body.encode()


def _fields(
    body: Any, *, required: Sequence[str] = (), optional: Sequence[str] = ()
) -> dict[str, Any]:
    """Validate a JSON object body the way GitHub's schema check answers: 422, not 400."""
    if not isinstance(body, dict):
        raise ApiError(
            422, f"Invalid request.\n\nFor 'links/0/schema', {json.dumps(body)} is not an object."
        )
    missing = [name for name in required if body.get(name) is None]
    if missing:
        raise _invalid(*missing)
    for name in (*required, *optional):
        if name in body and body[name] is not None and not isinstance(body[name], (str, int)):
            raise ApiError(
                422,
                f"Invalid request.\n\nFor 'properties/{name}', {json.dumps(body[name])} is not a string.",
            )
    return body
