"""The fake GitHub answers the real PyGithub client (and raw HTTP) the way GitHub does."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest
import requests
from github import Auth, Github, GithubException
from urllib3.util import Retry

from tests.conftest import MakeRepo, git
from tests.fakes.github_api import FakeGitHub

REPO = "acme/app"
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}


class _Token(Auth.Token):
    """GitHub's media type on every request, as the official description asks."""

    def authentication(self, headers: dict[str, str]) -> None:  # type: ignore[override]
        super().authentication(headers)
        headers.setdefault("Accept", FakeGitHub.client_headers["Accept"])


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO)
        yield server


def client(
    fake: FakeGitHub, *, token: str | None = None, per_page: int = 30, retry: Retry | None = None
) -> Github:
    # PyGithub throttles (0.25 s between requests, 1 s between writes) unless told not to.
    return Github(
        auth=_Token(token or fake.token),
        base_url=fake.url,
        api_version=FakeGitHub.client_headers["X-GitHub-Api-Version"],
        per_page=per_page,
        retry=retry,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.fixture
def gh(fake: FakeGitHub) -> Iterator[Github]:
    g = client(fake)
    yield g
    g.close()


def api(
    fake: FakeGitHub,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """A raw request with the write token unless ``headers`` says otherwise."""
    sent = {"Authorization": f"Bearer {fake.token}", **fake.client_headers} | (headers or {})
    return requests.request(method, fake.url + path, headers=sent, timeout=10, **kwargs)


# -- repository and permissions --------------------------------------------------------------


def test_get_repo_has_real_fields(fake: FakeGitHub, gh: Github) -> None:
    fake.add_repo("acme/secret", default_branch="trunk", private=True)
    repo = gh.get_repo(REPO)
    assert repo.full_name == REPO
    assert repo.name == "app"
    assert repo.owner.login == "acme"
    assert repo.default_branch == "main"
    assert repo.private is False
    assert repo.html_url == "https://github.test/acme/app"
    assert repo.url == f"{fake.url}/repos/acme/app"
    assert repo.id > 0
    secret = gh.get_repo("acme/secret")
    assert (secret.default_branch, secret.private) == ("trunk", True)
    assert fake.calls[0].method == "GET"
    assert fake.calls[0].path == "/repos/acme/app"
    assert fake.calls[0].token == fake.token


def test_unknown_repo_is_404_with_route_docs(gh: Github) -> None:
    with pytest.raises(GithubException) as caught:
        gh.get_repo("acme/nope")
    assert caught.value.status == 404
    assert caught.value.data == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }


@pytest.mark.parametrize(
    ("role", "legacy"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
    ],
)
def test_permission_has_legacy_value_and_role_name(
    fake: FakeGitHub, gh: Github, role: str, legacy: str
) -> None:
    fake.set_permission(REPO, "mona", role)
    repo = gh.get_repo(REPO)
    assert repo.get_collaborator_permission("mona") == legacy
    assert repo.get_collaborator_role_name("mona") == role


def test_permission_of_outsiders_and_owner(fake: FakeGitHub, gh: Github) -> None:
    fake.add_repo("acme/secret", private=True)
    assert gh.get_repo(REPO).get_collaborator_permission("stranger") == "read"
    assert gh.get_repo("acme/secret").get_collaborator_permission("stranger") == "none"
    assert gh.get_repo(REPO).get_collaborator_role_name("acme") == "admin"
    body = api(fake, "GET", "/repos/acme/app/collaborators/stranger/permission").json()
    assert body["user"]["login"] == "stranger"
    assert body["user"]["type"] == "User"
    assert body["user"]["permissions"] == {
        "admin": False,
        "maintain": False,
        "push": False,
        "triage": False,
        "pull": True,
    }


def test_permission_of_a_bot_login_is_url_decoded(fake: FakeGitHub, gh: Github) -> None:
    fake.set_permission(REPO, "ci[bot]", "write")
    repo = gh.get_repo(REPO)
    assert repo.get_collaborator_permission("ci[bot]") == "write"
    assert repo.get_collaborator_role_name("ci[bot]") == "write"
    assert fake.calls[-1].path == "/repos/acme/app/collaborators/ci%5Bbot%5D/permission"
    body = api(fake, "GET", "/repos/acme/app/collaborators/ci%5Bbot%5D/permission").json()
    assert (body["user"]["login"], body["user"]["type"]) == ("ci[bot]", "Bot")
    assert body["user"]["permissions"]["push"] is True


# -- issues, comments, labels ------------------------------------------------------------------


def test_get_issue_and_pull_request_marker(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_issue(REPO, title="Crash", body="it breaks", user="mona", labels=["bug"])
    pr_number = fake.add_pull(REPO, head="fix", base="main", head_sha="a" * 40, title="Fix")
    assert pr_number == number + 1  # issues and pulls share one numbering
    issue = gh.get_repo(REPO).get_issue(number)
    assert (issue.title, issue.body, issue.user.login, issue.state) == (
        "Crash",
        "it breaks",
        "mona",
        "open",
    )
    assert [label.name for label in issue.labels] == ["bug"]
    assert issue.pull_request is None
    assert issue.html_url == "https://github.test/acme/app/issues/1"
    as_issue = gh.get_repo(REPO).get_issue(pr_number)
    assert as_issue.pull_request is not None
    assert as_issue.pull_request.html_url == "https://github.test/acme/app/pull/2"


def test_comments_paginate_with_github_link_headers(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="Long thread")
    for k in range(5):
        fake.add_comment(REPO, number, body=f"comment {k}", user="mona")
    g = client(fake, per_page=2)
    try:
        comments = list(g.get_repo(REPO).get_issue(number).get_comments())
    finally:
        g.close()
    assert [c.body for c in comments] == [f"comment {k}" for k in range(5)]
    pages = [c.query for c in fake.calls if c.path.endswith("/comments")]
    assert pages == [
        {"per_page": "2"},
        {"per_page": "2", "page": "2"},
        {"per_page": "2", "page": "3"},
    ]
    base = f"{fake.url}/repos/acme/app/issues/{number}/comments"
    first = api(fake, "GET", f"/repos/acme/app/issues/{number}/comments?per_page=2")
    assert first.headers["Link"] == (
        f'<{base}?per_page=2&page=2>; rel="next", <{base}?per_page=2&page=3>; rel="last"'
    )
    middle = api(fake, "GET", f"/repos/acme/app/issues/{number}/comments?per_page=2&page=2")
    assert middle.headers["Link"] == (
        f'<{base}?per_page=2&page=1>; rel="prev", <{base}?per_page=2&page=3>; rel="next", '
        f'<{base}?per_page=2&page=3>; rel="last", <{base}?per_page=2&page=1>; rel="first"'
    )
    last = api(fake, "GET", f"/repos/acme/app/issues/{number}/comments?per_page=2&page=3")
    assert [c["body"] for c in last.json()] == ["comment 4"]
    assert 'rel="next"' not in last.headers["Link"]
    single = api(fake, "GET", f"/repos/acme/app/issues/{number}/comments")
    assert "Link" not in single.headers
    assert len(single.json()) == 5


def test_per_page_is_capped(fake: FakeGitHub) -> None:
    with FakeGitHub(per_page_max=3) as small:
        small.add_repo(REPO)
        number = small.add_issue(REPO, title="t")
        for k in range(4):
            small.add_comment(REPO, number, body=str(k))
        reply = api(small, "GET", f"/repos/acme/app/issues/{number}/comments?per_page=100")
        assert len(reply.json()) == 3
        assert 'page=2>; rel="next"' in reply.headers["Link"]


def test_create_and_edit_comment(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_issue(REPO, title="Crash")
    issue = gh.get_repo(REPO).get_issue(number)
    comment = issue.create_comment("report v1")
    assert comment.body == "report v1"
    assert comment.user.login == "github-actions[bot]"
    assert comment.user.type == "Bot"
    assert comment.html_url == f"https://github.test/acme/app/issues/1#issuecomment-{comment.id}"
    comment.edit("report v2")
    assert issue.get_comment(comment.id).body == "report v2"
    stored = fake.comments(REPO, number)
    assert [(c["id"], c["body"], c["user"]) for c in stored] == [
        (comment.id, "report v2", "github-actions[bot]")
    ]
    assert [(w.method, w.path, w.body, w.status) for w in fake.writes()] == [
        ("POST", "/repos/acme/app/issues/1/comments", {"body": "report v1"}, 201),
        ("PATCH", f"/repos/acme/app/issues/comments/{comment.id}", {"body": "report v2"}, 200),
    ]


def test_comment_user_type_is_kept(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.add_comment(REPO, number, body="/selfheal", user="renovate", user_type="Bot")
    (comment,) = gh.get_repo(REPO).get_issue(number).get_comments()
    assert (comment.user.login, comment.user.type) == ("renovate", "Bot")


def test_add_labels_creates_them_implicitly(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_issue(REPO, title="t", labels=["bug"])
    path = f"/repos/acme/app/issues/{number}/labels"
    # Names match case-insensitively, like GitHub.
    reply = api(fake, "POST", path, json={"labels": ["selfheal", "Bug", "x"]})
    assert reply.status_code == 200
    assert [(label["name"], label["color"]) for label in reply.json()] == [
        ("bug", "ededed"),
        ("selfheal", "ededed"),
        ("x", "ededed"),
    ]


def test_a_body_the_official_description_refuses_is_a_422_and_a_violation(
    fake: FakeGitHub, gh: Github
) -> None:
    number = fake.add_issue(REPO, title="t", labels=["bug"])
    with pytest.raises(GithubException) as caught:
        # PyGithub sends a bare array here, which the description no longer accepts.
        gh.get_repo(REPO).get_issue(number).add_to_labels("selfheal")
    assert caught.value.status == 422
    path = f"/repos/acme/app/issues/{number}/labels"
    empty = api(fake, "POST", path, json={"labels": []})  # minItems 1
    assert empty.status_code == 422
    assert "labels#add-labels-to-an-issue" in empty.json()["documentation_url"]
    assert fake.labels(REPO, number) == ["bug"]
    assert len(fake.violations) == 2
    assert all("/issues/{issue_number}/labels body" in v for v in fake.violations)
    fake.violations.clear()  # expected here; any other would fail the test at teardown


def test_missing_headers_and_undocumented_queries_are_violations(fake: FakeGitHub) -> None:
    bare = requests.get(
        f"{fake.url}/repos/acme/app", headers={"Authorization": f"token {fake.token}"}, timeout=10
    )
    assert bare.status_code == 200  # GitHub still answers; the fake only records it
    assert fake.violations == [
        "GET /repos/acme/app: Accept is '*/*', not 'application/vnd.github+json'",
        "GET /repos/acme/app: X-GitHub-Api-Version is None, not '2022-11-28'",
    ]
    fake.violations.clear()
    odd = api(fake, "GET", "/repos/acme/app/pulls", params={"state": "merged", "sort": "x"})
    assert odd.status_code == 422
    assert fake.violations == [
        "GET /repos/{owner}/{repo}/pulls query state: 'merged' is not one of"
        " ['open', 'closed', 'all']",
        "GET /repos/{owner}/{repo}/pulls query sort: 'x' is not one of"
        " ['created', 'updated', 'popularity', 'long-running']",
    ]
    fake.violations.clear()
    with pytest.raises(AssertionError, match="do not conform"), FakeGitHub() as other:
        api(other, "GET", "/repos/acme/app", params={"verbose": "1"})


# -- pull requests -----------------------------------------------------------------------------


def test_create_pull_and_duplicate_is_422(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    pr = repo.create_pull(base="main", head="selfheal/fix-1", title="Fix", body="Fixes #1")
    assert pr.number == 1
    assert (pr.head.ref, pr.base.ref, pr.title, pr.body, pr.draft) == (
        "selfheal/fix-1",
        "main",
        "Fix",
        "Fixes #1",
        False,
    )
    assert pr.html_url == "https://github.test/acme/app/pull/1"
    assert pr.user.login == "github-actions[bot]"
    assert len(pr.head.sha) == 40
    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="main", head="selfheal/fix-1", title="Again", body="")
    assert caught.value.status == 422
    assert caught.value.data == {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "PullRequest",
                "code": "custom",
                "message": "A pull request already exists for acme:selfheal/fix-1.",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        "status": "422",
    }
    (stored,) = fake.pulls(REPO)
    assert stored["head"] == "selfheal/fix-1"
    assert stored["title"] == "Fix"
    assert stored["maintainer_can_modify"] is True


def test_create_pull_draft_and_base_must_exist(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    pr = repo.create_pull(base="main", head="wip", title="WIP", body="", draft=True)
    assert pr.draft is True
    with pytest.raises(GithubException) as caught:
        repo.create_pull(base="nope", head="other", title="x", body="")
    assert caught.value.status == 422
    assert caught.value.data["errors"] == [
        {"resource": "PullRequest", "field": "base", "code": "invalid"}
    ]
    fake.add_branch(REPO, "release")
    assert repo.create_pull(base="release", head="other", title="x", body="").base.ref == "release"


def test_list_pulls_filters(fake: FakeGitHub, gh: Github) -> None:
    fake.add_pull(REPO, head="a", base="main", head_sha="1" * 40)
    fake.add_pull(REPO, head="b", base="main", head_sha="2" * 40, state="closed")
    fake.add_pull(REPO, head="feature", base="main", head_sha="3" * 40, head_repo="mona/app")
    repo = gh.get_repo(REPO)
    assert [p.head.ref for p in repo.get_pulls()] == ["feature", "a"]  # newest first
    assert [p.number for p in repo.get_pulls(state="all")] == [3, 2, 1]
    assert [p.head.ref for p in repo.get_pulls(state="open", head="acme:a")] == ["a"]
    assert list(repo.get_pulls(state="open", head="acme:feature")) == []
    fork = repo.get_pulls(head="mona:feature")[0]
    assert fork.head.repo.full_name == "mona/app"
    assert fork.head.repo.fork is True
    assert fork.head.label == "mona:feature"
    # Like GitHub, a head without the owner prefix is no filter at all.
    assert len(list(repo.get_pulls(head="a"))) == 2
    assert list(repo.get_pulls(base="release")) == []


def test_edit_pull_and_reopen_after_close(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    pr = repo.create_pull(base="main", head="fix", title="Fix", body="")
    pr.edit(title="Fix v2", body="better", state="closed")
    assert repo.get_pull(pr.number).state == "closed"
    stored = fake.pulls(REPO)[0]
    assert (stored["title"], stored["body"], stored["state"]) == ("Fix v2", "better", "closed")
    again = repo.create_pull(base="main", head="fix", title="Fix v3", body="")
    assert again.number == 2
    with pytest.raises(GithubException) as caught:
        repo.get_pull(99)
    assert caught.value.status == 404


def test_get_pull_of_plain_issue_is_404(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_issue(REPO, title="just an issue")
    with pytest.raises(GithubException) as caught:
        gh.get_repo(REPO).get_pull(number)
    assert caught.value.status == 404


def test_review_requests(fake: FakeGitHub, gh: Github) -> None:
    fake.set_permission(REPO, "maintainer", "maintain")
    number = fake.add_pull(REPO, head="fix", base="main", head_sha="a" * 40, user="maintainer")
    pr = gh.get_repo(REPO).get_pull(number)
    with pytest.raises(GithubException) as caught:
        pr.create_review_request(reviewers=["maintainer"])
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Review cannot be requested from pull request author."
    with pytest.raises(GithubException) as caught:
        pr.create_review_request(reviewers=["stranger"])
    assert caught.value.status == 422
    assert "not a collaborator" in caught.value.data["message"]
    bot_pr = gh.get_repo(REPO).create_pull(base="main", head="bot", title="t", body="")
    bot_pr.create_review_request(reviewers=["maintainer"], team_reviewers=["core"])
    stored = {p["number"]: p for p in fake.pulls(REPO)}
    assert stored[bot_pr.number]["requested_reviewers"] == ["maintainer"]
    assert [u.login for u in gh.get_repo(REPO).get_pull(bot_pr.number).requested_reviewers] == [
        "maintainer"
    ]


def test_pull_files_and_reviews_with_suggestions(fake: FakeGitHub, gh: Github) -> None:
    number = fake.add_pull(REPO, head="f", base="main", head_sha="a" * 40, head_repo="eve/app")
    fake.set_pull_files(
        REPO, number, [{"filename": "a.py", "patch": "@@ -1,2 +1,3 @@\n x\n+y\n z\n"}]
    )
    (file,) = gh.get_repo(REPO).get_pull(number).get_files()
    assert (file.filename, file.additions, file.patch) == (
        "a.py",
        1,
        "@@ -1,2 +1,3 @@\n x\n+y\n z\n",
    )
    path = f"/repos/acme/app/pulls/{number}/reviews"
    comment = {"path": "a.py", "line": 3, "start_line": 2, "side": "RIGHT", "body": "s"}
    ok = api(fake, "POST", path, json={"event": "COMMENT", "body": "b", "comments": [comment]})
    assert ok.status_code == 200 and ok.json()["state"] == "COMMENTED"
    assert fake.reviews(REPO, number)[0]["comments"] == [comment]
    # A line outside the diff, as GitHub answers it; the whole review is refused.
    outside = {**comment, "line": 9, "start_line": 8}
    refused = api(fake, "POST", path, json={"event": "COMMENT", "body": "b", "comments": [outside]})
    assert refused.status_code == 422 and len(fake.reviews(REPO, number)) == 1
    # A request the official description refuses (a comment without its path).
    bad = api(
        fake, "POST", path, json={"event": "COMMENT", "body": "b", "comments": [{"body": "x"}]}
    )
    assert bad.status_code == 422
    assert fake.violations and all("/reviews body" in v for v in fake.violations)
    fake.violations.clear()  # expected here


def test_create_pull_against_origin(make_repo: MakeRepo) -> None:
    root = make_repo({"a.txt": "a\n"})
    origin = root.parent / f"{root.name}-origin.git"
    git(root, "checkout", "-q", "-b", "selfheal/fix")
    (root / "a.txt").write_text("b\n")
    git(root, "commit", "-qam", "fix")
    git(root, "push", "-q", "origin", "selfheal/fix")
    sha = git(root, "rev-parse", "HEAD").strip()
    with FakeGitHub(origin=origin) as fake:
        fake.add_repo(REPO)
        g = client(fake)
        try:
            repo = g.get_repo(REPO)
            with pytest.raises(GithubException) as caught:
                repo.create_pull(base="main", head="not-pushed", title="t", body="")
            assert caught.value.status == 422
            assert caught.value.data["errors"] == [
                {"resource": "PullRequest", "field": "head", "code": "invalid"}
            ]
            with pytest.raises(GithubException) as caught:
                repo.create_pull(base="main", head="main", title="t", body="")
            assert caught.value.data["errors"][0]["message"] == "No commits between main and main"
            pr = repo.create_pull(base="main", head="acme:selfheal/fix", title="t", body="")
            assert pr.head.sha == sha
            assert pr.base.sha == git(root, "rev-parse", "main").strip()
        finally:
            g.close()
    assert isinstance(origin, Path)


# -- check runs --------------------------------------------------------------------------------


def _annotations(count: int) -> list[dict[str, Any]]:
    return [
        {
            "path": "src/calc.py",
            "start_line": k + 1,
            "end_line": k + 1,
            "annotation_level": "failure",
            "message": f"problem {k}",
        }
        for k in range(count)
    ]


def test_check_run_annotations_cap_and_append(fake: FakeGitHub, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    with pytest.raises(GithubException) as caught:
        repo.create_check_run(
            name="selfheal",
            head_sha="a" * 40,
            output={"title": "t", "summary": "s", "annotations": _annotations(51)},
        )
    assert caught.value.status == 422
    assert fake.check_runs(REPO) == []
    (too_many,) = fake.violations
    assert too_many.startswith(
        "POST /repos/{owner}/{repo}/check-runs body['output']['annotations']"
    )
    assert too_many.endswith("is too long")
    fake.violations.clear()
    run = repo.create_check_run(
        name="selfheal",
        head_sha="a" * 40,
        status="in_progress",
        output={"title": "Healing", "summary": "first", "annotations": _annotations(50)},
    )
    assert (run.status, run.name, run.head_sha) == ("in_progress", "selfheal", "a" * 40)
    assert run.raw_data["conclusion"] is None
    assert run.output.annotations_count == 50
    run.edit(
        conclusion="success",
        output={
            "title": "Healed",
            "summary": "done",
            "text": "details",
            "annotations": _annotations(3),
        },
    )
    assert (run.status, run.conclusion) == ("completed", "success")
    (stored,) = fake.check_runs(REPO)
    assert len(stored["annotations"]) == 53
    assert stored["annotations"][-1]["message"] == "problem 2"
    assert stored["output"] == {"title": "Healed", "summary": "done", "text": "details"}
    assert stored["conclusion"] == "success"
    assert repo.get_check_run(run.id).output.annotations_count == 53


def test_check_run_requires_name_and_head_sha(fake: FakeGitHub) -> None:
    reply = api(fake, "POST", "/repos/acme/app/check-runs", json={"name": "x"})
    assert reply.status_code == 422
    fake.violations.clear()  # refused by the official description, as expected
    assert reply.json() == {
        "message": "Invalid request.\n\nPOST /repos/{owner}/{repo}/check-runs body:"
        " 'head_sha' is a required property",
        "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run",
        "status": "422",
    }


# -- actions -----------------------------------------------------------------------------------


JOBS: list[dict[str, Any]] = [
    {
        "name": "test (gpu)",
        "conclusion": "failure",
        "labels": ["self-hosted", "gpu"],
        "runner_name": "gpu-runner-1",
        "steps": [
            {"name": "Set up job", "conclusion": "success", "number": 1},
            {"name": "pytest", "conclusion": "failure", "number": 2},
        ],
        "log": "2024-01-01T00:00:00Z FAILED tests/test_calc.py::test_add\n",
    },
    {"name": "lint", "conclusion": "success", "labels": ["ubuntu-latest"], "log": "ok\n"},
]


def test_workflow_run_and_paginated_jobs(fake: FakeGitHub) -> None:
    run_id = fake.add_workflow_run(
        REPO,
        head_branch="feature",
        head_sha="b" * 40,
        actor="mona",
        triggering_actor="hubot",
        head_repo="mona/app",
        jobs=JOBS,
    )
    g = client(fake, per_page=1)
    try:
        run = g.get_repo(REPO).get_workflow_run(run_id)
        assert (run.id, run.name, run.head_branch, run.head_sha, run.conclusion) == (
            run_id,
            "CI",
            "feature",
            "b" * 40,
            "failure",
        )
        assert (run.actor.login, run.triggering_actor.login) == ("mona", "hubot")
        assert run.head_repository.full_name == "mona/app"
        assert run.html_url == f"https://github.test/acme/app/actions/runs/{run_id}"
        jobs = list(run.jobs())
    finally:
        g.close()
    assert [j.name for j in jobs] == ["test (gpu)", "lint"]
    gpu = jobs[0]
    assert (gpu.conclusion, gpu.labels, gpu.runner_name) == (
        "failure",
        ["self-hosted", "gpu"],
        "gpu-runner-1",
    )
    assert [(s.name, s.conclusion, s.number) for s in gpu.steps] == [
        ("Set up job", "success", 1),
        ("pytest", "failure", 2),
    ]
    assert gpu.run_id == run_id
    job_pages = [c.query for c in fake.calls if c.path.endswith("/jobs")]
    assert job_pages == [{"per_page": "1"}, {"per_page": "1", "page": "2"}]
    reply = api(fake, "GET", f"/repos/acme/app/actions/runs/{run_id}/jobs?per_page=1")
    assert reply.json()["total_count"] == 2


def test_job_logs_redirect_to_unauthenticated_blob(fake: FakeGitHub, gh: Github) -> None:
    run_id = fake.add_workflow_run(REPO, head_branch="main", head_sha="c" * 40, jobs=JOBS)
    job = next(iter(gh.get_repo(REPO).get_workflow_run(run_id).jobs()))
    location = job.logs_url()
    assert location.startswith(f"{fake.url}/_blobs/")
    assert "sig=" in location
    assert fake.calls[-1].status == 302
    blob = requests.get(location, timeout=10)
    assert blob.status_code == 200
    assert blob.headers["Content-Type"].startswith("text/plain")
    assert blob.text == JOBS[0]["log"]
    requests.get(location, headers={"Authorization": f"token {fake.token}"}, timeout=10)
    assert fake.blob_auth_headers == [None, f"token {fake.token}"]
    raw = api(fake, "GET", f"/repos/acme/app/actions/jobs/{job.id}/logs", allow_redirects=False)
    assert raw.status_code == 302
    assert raw.headers["Location"] != location  # each redirect is a fresh signed URL
    tampered = requests.get(location.replace("sig=", "sig=0"), timeout=10)
    assert tampered.status_code == 403


def test_injected_blob_failures_answer_as_blob_storage(fake: FakeGitHub) -> None:
    run_id = fake.add_workflow_run(REPO, head_branch="main", head_sha="c" * 40, jobs=JOBS[:1])
    job_id = api(fake, "GET", f"/repos/acme/app/actions/runs/{run_id}/jobs").json()["jobs"][0]["id"]
    fake.fail("GET", "/_blobs/", 403)  # an expired link; the API redirect itself still works
    fake.fail("GET", "/_blobs/", 503, message="Busy.", headers={"Retry-After": "3"})
    logs = f"/repos/acme/app/actions/jobs/{job_id}/logs"
    expired = api(fake, "GET", logs)
    assert [call.status for call in fake.calls[-2:]] == [302, 403]
    assert expired.status_code == 403
    assert expired.headers["Content-Type"] == "application/xml"
    assert expired.headers["x-ms-error-code"] == "AuthenticationFailed"
    assert expired.text.startswith('<?xml version="1.0" encoding="utf-8"?><Error>')
    assert "<Code>AuthenticationFailed</Code><Message>Server failed to authenticate" in expired.text
    assert "X-RateLimit-Remaining" not in expired.headers  # blob storage is not the API
    busy = api(fake, "GET", logs)
    assert (busy.status_code, busy.headers["Retry-After"]) == (503, "3")
    assert "<Code>ServerBusy</Code><Message>Busy.\nRequestId:" in busy.text
    assert api(fake, "GET", logs).text == JOBS[0]["log"]  # each failure answers once


# -- errors over raw HTTP ----------------------------------------------------------------------


def test_unknown_route_and_wrong_method_are_404(fake: FakeGitHub) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("GET", "/repos/acme/app/pulls/"),  # a trailing slash is another route on GitHub
        ("DELETE", "/repos/acme/app"),
        ("PUT", "/repos/acme/app/pulls"),
        ("POST", "/repos/acme/app/issues/1"),
    ]:
        reply = api(fake, method, path)
        assert (method, path, reply.status_code) == (method, path, 404)
        assert reply.json() == NOT_FOUND
        assert reply.headers["Content-Type"] == "application/json; charset=utf-8"


def test_bad_json_is_400(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    reply = api(fake, "POST", f"/repos/acme/app/issues/{number}/comments", data=b"{not json")
    assert reply.status_code == 400
    assert reply.json() == {
        "message": "Problems parsing JSON",
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "400",
    }


def test_missing_required_fields_are_422(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    reply = api(fake, "POST", f"/repos/acme/app/issues/{number}/comments", json={})
    assert reply.status_code == 422
    assert reply.json()["message"].endswith("body: 'body' is a required property")
    reply = api(fake, "POST", "/repos/acme/app/pulls", json={"title": "t", "base": "main"})
    assert reply.status_code == 422
    assert reply.json()["message"].endswith("body: 'head' is a required property")
    fake.violations.clear()  # the two above, refused by the official description
    # title is optional in the description (an issue can stand in); GitHub's own check:
    reply = api(fake, "POST", "/repos/acme/app/pulls", json={"head": "x", "base": "main"})
    assert reply.json()["errors"] == [
        {"resource": "PullRequest", "field": "title", "code": "missing_field"}
    ]
    assert fake.comments(REPO, number) == []


def test_authentication(fake: FakeGitHub) -> None:
    bad_credentials = {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    nobody = requests.get(f"{fake.url}/repos/acme/app", headers=fake.client_headers, timeout=10)
    assert (nobody.status_code, nobody.json()) == (401, bad_credentials)
    wrong = api(fake, "GET", "/repos/acme/app", headers={"Authorization": "token ghs_wrong"})
    assert (wrong.status_code, wrong.json()) == (401, bad_credentials)
    g = client(fake, token="ghs_wrong")
    try:
        with pytest.raises(github.BadCredentialsException):
            g.get_repo(REPO)
    finally:
        g.close()
    assert [c.token for c in fake.calls] == [None, "ghs_wrong", "ghs_wrong"]


def test_read_token_may_only_read(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    read = {"Authorization": f"token {fake.read_token}"}
    assert api(fake, "GET", "/repos/acme/app", headers=read).status_code == 200
    path = f"/repos/acme/app/issues/{number}/comments"
    reply = api(fake, "POST", path, headers=read, json={"body": "hi"})
    assert reply.status_code == 403
    assert reply.json() == {
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "403",
    }
    g = client(fake, token=fake.read_token)
    try:
        with pytest.raises(GithubException) as caught:
            g.get_repo(REPO).get_issue(number).create_comment("hi")
    finally:
        g.close()
    assert caught.value.status == 403
    assert fake.comments(REPO, number) == []


def test_injected_failures_then_success(fake: FakeGitHub) -> None:
    fake.fail("GET", r"^/repos/acme/app$", 500, times=2)
    first, second, third = (api(fake, "GET", "/repos/acme/app") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [500, 500, 200]
    assert first.json()["message"] == "Server Error"
    assert third.json()["full_name"] == REPO
    fake.fail("POST", "/comments$", 403, message="You have exceeded a secondary rate limit.")
    number = fake.add_issue(REPO, title="t")
    reply = api(fake, "POST", f"/repos/acme/app/issues/{number}/comments", json={"body": "x"})
    assert reply.status_code == 403
    assert reply.json()["message"] == "You have exceeded a secondary rate limit."


def test_injected_failures_carry_extra_headers(fake: FakeGitHub, gh: Github) -> None:
    limited = {"X-RateLimit-Remaining": "0", "Retry-After": "7"}
    fake.fail("GET", "/repos/acme/app$", 403, message="API rate limit exceeded", headers=limited)
    reply = api(fake, "GET", "/repos/acme/app")
    assert reply.status_code == 403
    assert (reply.headers["X-RateLimit-Remaining"], reply.headers["Retry-After"]) == ("0", "7")
    assert reply.headers["X-RateLimit-Limit"] == "5000"  # the other API headers stay
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json()["message"] == "API rate limit exceeded"
    fake.fail("GET", "/repos/acme/app$", 403, message="API rate limit exceeded", headers=limited)
    with pytest.raises(github.RateLimitExceededException):
        gh.get_repo(REPO)
    assert gh.rate_limiting[0] == 0
    assert "Retry-After" not in api(fake, "GET", "/repos/acme/app").headers  # used up


def test_pygithub_retry_recovers_from_injected_502(fake: FakeGitHub) -> None:
    fake.fail("GET", "/repos/acme/app$", 502)
    retry = Retry(total=2, backoff_factor=0, status_forcelist=[502])
    g = client(fake, retry=retry)
    try:
        assert g.get_repo(REPO).full_name == REPO
    finally:
        g.close()
    assert [c.status for c in fake.calls] == [502, 200]


def test_rate_limit_headers_reach_pygithub(fake: FakeGitHub, gh: Github) -> None:
    gh.get_repo(REPO)
    remaining, limit = gh.rate_limiting
    assert limit == 5000
    assert remaining == 4999
    reply = api(fake, "GET", "/repos/acme/app")
    assert reply.headers["X-RateLimit-Resource"] == "core"
    assert int(reply.headers["X-RateLimit-Reset"]) > 0


def test_close_ends_idle_keep_alive_connections() -> None:
    fake = FakeGitHub()
    fake.add_repo(REPO)
    with socket.create_connection(("127.0.0.1", int(fake.url.rsplit(":", 1)[1]))) as conn:
        conn.sendall(
            b"GET /repos/acme/app HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: token ghs_fake_write_token\r\n\r\n"
        )
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        fake.close()  # must not hang on the open connection
    assert fake.server_errors == []
