"""The GitHub choke point: the real PyGithub client, through our wrapper, against the fake API."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, BadInput
from bot.forge.github import (
    Annotation,
    Comment,
    ForgeError,
    GitHub,
    IssueItem,
    Pull,
    Repo,
    WorkflowJob,
    WorkflowRun,
    jobs_from_json,
    runs_on_for,
)
from bot.forge.github_errors import Call, forge_error
from tests.fakes.github_api import FakeGitHub

REPO = "octo/widgets"
SHA = "a" * 40


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPO, default_branch="main")
        yield server


@pytest.fixture
def gh(fake: FakeGitHub) -> Iterator[GitHub]:
    with client(fake) as github:
        yield github


def client(fake: FakeGitHub, token: str | None = None, **options: Any) -> GitHub:
    """Fast settings: no backoff, no pause between writes, rate limits waited 50 ms at most."""
    settings: dict[str, Any] = {"backoff": 0, "write_interval": 0, "max_wait": 0.05}
    return GitHub(REPO, token or fake.token, fake.url, **(settings | options))


def calls_since(fake: FakeGitHub, start: int) -> list[tuple[str, str, int]]:
    return [(call.method, call.path, call.status) for call in fake.calls[start:]]


# -- construction -------------------------------------------------------------------------


def test_repr_and_errors_never_show_the_token(fake: FakeGitHub) -> None:
    with client(fake) as github:
        assert fake.token not in repr(github)
        assert repr(github) == f"GitHub(repository='{REPO}', api_url='{fake.url}')"


@pytest.mark.parametrize(
    "url",
    [
        "http://api.github.com",  # plain http off loopback would send the token in clear
        "ftp://127.0.0.1/",
        "https://api.github.com/?x=1",
        "not a url",
    ],
)
def test_api_url_must_be_https_or_loopback(url: str) -> None:
    with pytest.raises(BadInput, match="GITHUB_API_URL"):
        GitHub(REPO, "ghs_secret_value", url)


def test_api_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(BadInput) as caught:
        GitHub(REPO, "ghs_secret_value", "https://x:ghp_inurl@ghe.example.com/api/v3")
    assert "ghp_inurl" not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://ghe.example.com/api/v3/", "http://localhost:8080", "http://[::1]:9"]
)
def test_https_and_loopback_urls_are_accepted(url: str) -> None:
    with GitHub(REPO, "ghs_secret_value", url) as github:
        assert github.api_url == url.rstrip("/")


@pytest.mark.parametrize("name", ["octo", "octo/widgets/x", "-octo/x", "octo/..", "", "o/ r"])
def test_repository_must_be_owner_slash_name(name: str) -> None:
    with pytest.raises(BadInput, match="not owner/name"):
        GitHub(name, "ghs_secret_value")


@pytest.mark.parametrize("token", ["", "   ", "ghs_a\nX-Evil: 1", "ghs a", "ghs_é"])
def test_malformed_token_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(BadInput, match="token is empty or malformed") as caught:
        GitHub(REPO, token)
    assert token.strip() == "" or token not in str(caught.value)


def test_numbers_and_names_are_checked_before_any_request(fake: FakeGitHub, gh: GitHub) -> None:
    for bad in (0, -3, True):
        with pytest.raises(BadInput):
            gh.issue(bad)
    with pytest.raises(BadInput, match="not a GitHub login"):
        gh.permission("../admin")
    with pytest.raises(BadInput, match="not a branch name"):
        gh.find_pull("two words")
    assert fake.calls == []


# -- reads --------------------------------------------------------------------------------


def test_repo(fake: FakeGitHub, gh: GitHub) -> None:
    assert gh.repo() == Repo(
        full_name=REPO,
        default_branch="main",
        html_url=f"https://github.test/{REPO}",
        private=False,
    )
    assert calls_since(fake, 0) == [("GET", f"/repos/{REPO}", 200)]
    assert fake.calls[0].token == fake.token


@pytest.mark.parametrize(
    ("login", "role"),
    [("maria", "maintain"), ("tess", "triage"), ("walt", "write"), ("octo", "admin")],
)
def test_permission_reads_the_role_name(
    fake: FakeGitHub, gh: GitHub, login: str, role: str
) -> None:
    for who, what in (("maria", "maintain"), ("tess", "triage"), ("walt", "write")):
        fake.set_permission(REPO, who, what)
    assert gh.permission(login) == role


def test_permission_of_a_stranger(fake: FakeGitHub) -> None:
    fake.add_repo("octo/secret", private=True)
    with GitHub("octo/secret", fake.token, fake.url) as private:
        assert private.permission("stranger") == "none"
    with client(fake) as public:
        assert public.permission("stranger") == "read"


def test_issue(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(
        REPO, title="Add a flag", body="Please", user="maria", labels=("selfheal", "bug")
    )
    assert gh.issue(number) == IssueItem(
        number=number,
        title="Add a flag",
        body="Please",
        state="open",
        locked=False,
        labels=("selfheal", "bug"),
        author="maria",
        author_type="User",
        html_url=f"https://github.test/{REPO}/issues/{number}",
        is_pull_request=False,
    )
    assert calls_since(fake, 0) == [("GET", f"/repos/{REPO}/issues/{number}", 200)]


def test_issue_with_null_body_and_a_pull_request_seen_as_an_issue(
    fake: FakeGitHub, gh: GitHub
) -> None:
    bare = fake.add_issue(REPO, title="t", body=None, locked=True, state="closed")  # type: ignore[arg-type]
    item = gh.issue(bare)
    assert (item.body, item.locked, item.state) == ("", True, "closed")
    pr = fake.add_pull(REPO, head="feature", base="main", head_sha=SHA, title="PR")
    assert gh.issue(pr).is_pull_request is True


def test_pull_and_pull_from_a_fork(fake: FakeGitHub, gh: GitHub) -> None:
    own = fake.add_pull(
        REPO, head="fix", base="main", head_sha=SHA, user="maria", title="Fix", body="Body"
    )
    fork = fake.add_pull(
        REPO, head="patch-1", base="main", head_sha="b" * 40, user="eve", head_repo="eve/widgets"
    )
    assert gh.pull(own) == Pull(
        number=own,
        state="open",
        draft=False,
        title="Fix",
        body="Body",
        head_ref="fix",
        head_sha=SHA,
        head_repo=REPO,
        base_ref="main",
        html_url=f"https://github.test/{REPO}/pull/{own}",
        author="maria",
        merged=False,
    )
    from_fork = gh.pull(fork)
    assert (from_fork.head_repo, from_fork.author, from_fork.body) == ("eve/widgets", "eve", "")


def test_comments_reads_every_page(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    ids = [fake.add_comment(REPO, number, body=f"comment {i}", user="maria") for i in range(7)]
    bot = fake.add_comment(REPO, number, body="bot says", user="ci[bot]", user_type="Bot")
    with client(fake, per_page=3) as github:
        comments = github.comments(number)
    assert [c.id for c in comments] == [*ids, bot]
    assert comments[0] == Comment(
        id=ids[0],
        body="comment 0",
        author="maria",
        author_type="User",
        html_url=f"https://github.test/{REPO}/issues/{number}#issuecomment-{ids[0]}",
    )
    assert (comments[-1].author, comments[-1].author_type) == ("ci[bot]", "Bot")
    pages = [call.query for call in fake.calls]
    assert pages == [
        {"per_page": "3"},
        {"per_page": "3", "page": "2"},
        {"per_page": "3", "page": "3"},
    ]


def _run_with_jobs(fake: FakeGitHub, count: int = 1) -> int:
    jobs = [
        {
            "name": f"test ({i})",
            "conclusion": "failure" if i == 0 else "success",
            "labels": ["self-hosted", "linux", "gpu"] if i == 0 else ["ubuntu-latest"],
            "runner_name": f"runner-{i}",
            "steps": [
                {"name": "checkout", "conclusion": "success", "number": 1},
                {"name": "pytest", "conclusion": "failure" if i == 0 else "success", "number": 2},
                {"name": "upload", "conclusion": "skipped", "number": 3},
            ],
            "log": f"log of job {i}\n",
        }
        for i in range(count)
    ]
    return fake.add_workflow_run(
        REPO,
        head_branch="main",
        head_sha=SHA,
        actor="maria",
        triggering_actor="walt",
        name="CI",
        jobs=jobs,
        event="pull_request",
    )


def test_workflow_run(fake: FakeGitHub, gh: GitHub) -> None:
    run_id = _run_with_jobs(fake)
    assert gh.workflow_run(run_id) == WorkflowRun(
        id=run_id,
        name="CI",
        head_branch="main",
        head_sha=SHA,
        head_repo=REPO,
        actor="maria",
        triggering_actor="walt",
        conclusion="failure",
        event="pull_request",
        html_url=f"https://github.test/{REPO}/actions/runs/{run_id}",
    )


def test_jobs_reads_every_page(fake: FakeGitHub) -> None:
    run_id = _run_with_jobs(fake, count=5)
    with client(fake, per_page=2) as github:
        jobs = github.jobs(run_id)
    assert [job.name for job in jobs] == [f"test ({i})" for i in range(5)]
    first = jobs[0]
    assert first == WorkflowJob(
        id=first.id,
        name="test (0)",
        conclusion="failure",
        labels=("self-hosted", "linux", "gpu"),
        runner_name="runner-0",
        failed_steps=("pytest",),
        html_url=f"https://github.test/{REPO}/actions/runs/{run_id}/job/{first.id}",
    )
    assert jobs[1].failed_steps == ()
    assert len([call for call in fake.calls if call.path.endswith("/jobs")]) == 3


def test_job_log_follows_the_redirect_without_the_token(fake: FakeGitHub, gh: GitHub) -> None:
    run_id = _run_with_jobs(fake)
    job = gh.jobs(run_id)[0]
    assert gh.job_log(job.id) == "log of job 0\n"
    assert fake.blob_auth_headers == [None]
    api = [call for call in fake.calls if call.path.endswith("/logs")]
    assert [(call.status, call.token) for call in api] == [(302, fake.token)]


def test_job_log_keeps_the_tail_and_decodes_with_replacement(fake: FakeGitHub) -> None:
    log = "".join(f"line {i}\n" for i in range(10_000)) + "FAILED test_x - boom ✗\n"
    run_id = fake.add_workflow_run(
        REPO, head_branch="main", head_sha=SHA, jobs=[{"name": "t", "log": log}]
    )
    with client(fake) as github:
        job_id = github.jobs(run_id)[0].id
        tail = github.job_log(job_id, max_bytes=40)
        cut_in_char = github.job_log(job_id, max_bytes=3)  # inside the 3-byte ✗ and "\n"
    assert tail.endswith("FAILED test_x - boom ✗\n")
    assert len(tail.encode()) == 40
    assert tail == log.encode()[-40:].decode()
    assert cut_in_char == "\ufffd\ufffd\n"
    assert fake.blob_auth_headers == [None, None]


def test_job_log_of_an_expired_link(fake: FakeGitHub, gh: GitHub) -> None:
    run_id = _run_with_jobs(fake)
    job_id = gh.jobs(run_id)[0].id
    fake.fail("GET", "/_blobs/", 403)  # the signed URL has expired by the time it is fetched
    with pytest.raises(ForgeError, match="log storage answered 403") as caught:
        gh.job_log(job_id)
    assert caught.value.exit_code == EXIT_INTERNAL
    assert "sig=" not in str(caught.value)
    assert caught.value.__cause__ is None  # the chained error would carry the signed URL


def test_find_pull(fake: FakeGitHub, gh: GitHub) -> None:
    fake.add_pull(REPO, head="other", base="main", head_sha=SHA)
    number = fake.add_pull(REPO, head="selfheal/heal-1", base="main", head_sha=SHA)
    fake.add_pull(REPO, head="selfheal/heal-1", base="dev", head_sha=SHA, head_repo="eve/widgets")
    found = gh.find_pull("selfheal/heal-1")
    assert found is not None
    assert (found.number, found.head_repo) == (number, REPO)
    assert gh.find_pull("selfheal/heal-1", base="main") == found
    assert gh.find_pull("selfheal/heal-1", base="dev") is None
    assert gh.find_pull("nothing-here") is None
    query = fake.calls[0].query
    assert (query["head"], query["state"]) == ("octo:selfheal/heal-1", "open")


# -- writes -------------------------------------------------------------------------------


def test_open_and_update_pull(fake: FakeGitHub, gh: GitHub) -> None:
    fake.add_branch(REPO, "selfheal/heal-9")
    pull = gh.open_pull(
        head="selfheal/heal-9", base="main", title="Heal", body="Fixes #1", draft=True
    )
    assert (pull.title, pull.body, pull.draft, pull.head_ref, pull.base_ref) == (
        "Heal",
        "Fixes #1",
        True,
        "selfheal/heal-9",
        "main",
    )
    assert pull.author == fake.bot_login
    updated = gh.update_pull(pull.number, title="Heal v2", body="Fixes #1 again")
    assert (updated.number, updated.title, updated.body) == (
        pull.number,
        "Heal v2",
        "Fixes #1 again",
    )
    stored = fake.pulls(REPO)[0]
    assert (stored["title"], stored["body"], stored["draft"]) == ("Heal v2", "Fixes #1 again", True)
    assert [(c.method, c.body) for c in fake.writes()] == [
        (
            "POST",
            {
                "base": "main",
                "head": "selfheal/heal-9",
                "title": "Heal",
                "body": "Fixes #1",
                "draft": True,
            },
        ),
        ("PATCH", {"title": "Heal v2", "body": "Fixes #1 again"}),
    ]


def test_a_duplicate_pull_is_a_422_that_quotes_github(fake: FakeGitHub, gh: GitHub) -> None:
    fake.add_pull(REPO, head="selfheal/heal-2", base="main", head_sha=SHA)
    with pytest.raises(ForgeError) as caught:
        gh.open_pull(head="selfheal/heal-2", base="main", title="t", body="b", draft=False)
    error = caught.value
    assert (error.status, error.exit_code) == (422, EXIT_BAD_INPUT)
    assert "could not open a pull request from selfheal/heal-2 into main" in str(error)
    assert "A pull request already exists for octo:selfheal/heal-2" in str(error)
    assert len(fake.writes()) == 1  # a 422 is an answer, not a reason to retry


def test_long_bodies_are_cut_to_githubs_limit(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    comment = gh.comment(number, "x" * 70_000)
    assert len(comment.body) == 65536
    assert comment.body.endswith("GitHub takes at most 65536 characters)")


def test_request_reviewers(fake: FakeGitHub, gh: GitHub) -> None:
    fake.set_permission(REPO, "maria", "write")
    number = fake.add_pull(REPO, head="h", base="main", head_sha=SHA, user="walt")
    assert gh.request_reviewers(number, ["maria"]) is None
    assert fake.pulls(REPO)[0]["requested_reviewers"] == ["maria"]
    reason = gh.request_reviewers(number, ["walt"])
    assert reason == "Review cannot be requested from pull request author."
    before = len(fake.calls)
    assert gh.request_reviewers(number, []) is None
    assert len(fake.calls) == before


def test_request_reviewers_still_raises_for_other_errors(fake: FakeGitHub) -> None:
    number = fake.add_pull(REPO, head="h", base="main", head_sha=SHA, user="walt")
    with client(fake, fake.read_token) as github, pytest.raises(ForgeError) as caught:
        github.request_reviewers(number, ["maria"])
    assert caught.value.status == 403


def test_add_labels(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t", labels=("bug",))
    gh.add_labels(number, ["selfheal", "healed"])
    assert fake.labels(REPO, number) == ["bug", "selfheal", "healed"]
    assert fake.writes()[-1].body == {"labels": ["selfheal", "healed"]}  # the documented form
    before = len(fake.calls)
    gh.add_labels(number, [])
    assert len(fake.calls) == before


def test_every_request_says_the_media_type_and_api_version(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    gh.issue(number)
    gh.comment(number, "hi")
    gh.find_pull("some-branch")
    assert len(fake.calls) == 3
    assert fake.violations == []  # the fake checks both headers, and the bodies, on every call


def test_comment_and_edit_comment(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    made = gh.comment(number, "first report")
    assert (made.body, made.author, made.author_type) == ("first report", fake.bot_login, "Bot")
    edited = gh.edit_comment(made.id, "second report")
    assert edited == Comment(
        id=made.id,
        body="second report",
        author=fake.bot_login,
        author_type="Bot",
        html_url=made.html_url,
    )
    assert [c["body"] for c in fake.comments(REPO, number)] == ["second report"]
    assert [(c.method, c.status) for c in fake.writes()] == [("POST", 201), ("PATCH", 200)]


def test_check_run_with_120_annotations_goes_in_batches_of_50(fake: FakeGitHub, gh: GitHub) -> None:
    check_id = gh.create_check_run(name="selfheal", head_sha=SHA, details_url="https://x.test/r")
    stored = fake.check_runs(REPO)[0]
    assert (stored["id"], stored["status"], stored["details_url"]) == (
        check_id,
        "in_progress",
        "https://x.test/r",
    )
    notes = [
        Annotation(f"pkg/m{i}.py", i + 1, i + 2, "failure", f"boom {i}", title=f"t{i}")
        for i in range(120)
    ]
    gh.complete_check_run(
        check_id,
        conclusion="success",
        title="Healed",
        summary="s" * 70_000,
        text="details",
        annotations=notes,
    )
    patches = [call for call in fake.writes() if call.method == "PATCH"]
    assert [len(call.body["output"]["annotations"]) for call in patches] == [50, 50, 20]
    assert patches[0].body["conclusion"] == "success"
    stored = fake.check_runs(REPO)[0]
    assert (stored["status"], stored["conclusion"]) == ("completed", "success")
    assert len(stored["output"]["summary"]) == 65535
    assert stored["output"]["text"] == "details"
    assert [note["message"] for note in stored["annotations"]] == [f"boom {i}" for i in range(120)]
    assert stored["annotations"][7] == {
        "path": "pkg/m7.py",
        "start_line": 8,
        "end_line": 9,
        "annotation_level": "failure",
        "message": "boom 7",
        "title": "t7",
    }


def test_check_run_without_annotations_is_one_patch(fake: FakeGitHub, gh: GitHub) -> None:
    check_id = gh.create_check_run(name="selfheal", head_sha=SHA)
    gh.complete_check_run(check_id, conclusion="failure", title="Gave up", summary="why")
    patches = [call for call in fake.writes() if call.method == "PATCH"]
    assert len(patches) == 1
    assert patches[0].body["output"] == {"title": "Gave up", "summary": "why", "annotations": []}


# -- errors -------------------------------------------------------------------------------


def test_read_only_token_gets_the_permission_hint(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    with client(fake, fake.read_token) as github:
        assert github.issue(number).title == "t"  # reads are fine
        with pytest.raises(ForgeError) as caught:
            github.comment(number, "hi")
    error = caught.value
    assert (error.status, error.exit_code) == (403, EXIT_BAD_INPUT)
    assert "Resource not accessible by integration" in str(error)
    assert "the token lacks the issues permission" in str(error).lower()
    assert "`permissions: issues: write`" in str(error)
    for shown in (str(error), repr(error), error.said, str(error.__cause__)):
        assert fake.read_token not in shown
    assert fake.comments(REPO, number) == []


def test_check_runs_need_checks_write(fake: FakeGitHub) -> None:
    with client(fake, fake.read_token) as github, pytest.raises(ForgeError) as caught:
        github.create_check_run(name="selfheal", head_sha=SHA)
    assert "`permissions: checks: write`" in str(caught.value)


def test_bad_token_is_a_401(fake: FakeGitHub) -> None:
    with client(fake, "ghs_revoked_token_1234") as github, pytest.raises(ForgeError) as caught:
        github.repo()
    error = caught.value
    assert (error.status, error.exit_code) == (401, EXIT_BAD_INPUT)
    assert "Bad credentials" in str(error)
    assert "wrong, expired or revoked" in str(error)
    assert "ghs_revoked_token_1234" not in str(error)


def test_missing_things_are_404s(fake: FakeGitHub, gh: GitHub) -> None:
    with pytest.raises(ForgeError) as caught:
        gh.issue(404)
    assert (caught.value.status, caught.value.exit_code) == (404, EXIT_BAD_INPUT)
    assert "could not read issue #404 in octo/widgets" in str(caught.value)
    assert "does not exist, or the token cannot see it" in str(caught.value)
    with GitHub("octo/gone", fake.token, fake.url) as missing, pytest.raises(ForgeError) as gone:
        missing.repo()
    assert gone.value.status == 404


def test_a_5xx_is_retried_and_then_succeeds(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.fail("GET", rf"/issues/{number}$", 502)
    assert gh.issue(number).title == "t"
    assert [status for _, _, status in calls_since(fake, 0)] == [502, 200]


def test_5xx_forever_gives_up_after_the_retries_quickly(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.fail("GET", rf"/issues/{number}$", 503, times=100)
    started = time.monotonic()
    with client(fake, retries=2) as github, pytest.raises(ForgeError) as caught:
        github.issue(number)
    assert time.monotonic() - started < 2
    assert len(fake.calls) == 3
    error = caught.value
    assert (error.status, error.exit_code) == (503, EXIT_INTERNAL)
    assert "tried 3 times" in str(error)


def test_a_post_is_not_repeated_after_a_5xx(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.fail("POST", r"/comments$", 502)
    with pytest.raises(ForgeError, match="tried once") as caught:
        gh.comment(number, "only once")
    assert caught.value.status == 502
    assert len(fake.writes()) == 1


def test_a_patch_is_retried_after_a_5xx(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    made = gh.comment(number, "v1")
    fake.fail("PATCH", r"/issues/comments/", 500)
    assert gh.edit_comment(made.id, "v2").body == "v2"
    assert [(c.method, c.status) for c in fake.writes()] == [
        ("POST", 201),
        ("PATCH", 500),
        ("PATCH", 200),
    ]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, None),
        (
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        ),
    ],
)
def test_a_rate_limited_post_is_retried(
    fake: FakeGitHub, gh: GitHub, status: int, message: str | None
) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.fail("POST", r"/comments$", status, message=message)
    assert gh.comment(number, "once").body == "once"
    assert [c.status for c in fake.writes()] == [status, 201]
    assert len(fake.comments(REPO, number)) == 1


def test_a_rate_limit_longer_than_max_wait_fails_at_once(fake: FakeGitHub, gh: GitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    # The fake's reset is an hour away; max_wait is 50 ms.
    fake.fail("GET", r"/issues/", 403, message="API rate limit exceeded for installation ID 1.")
    started = time.monotonic()
    with pytest.raises(ForgeError) as caught:
        gh.issue(number)
    assert time.monotonic() - started < 2
    error = caught.value
    assert (error.status, error.exit_code) == (403, EXIT_INTERNAL)
    assert "API rate limit exceeded" in str(error)
    assert "asks selfheal to wait" in str(error)
    assert len(fake.calls) == 1


def test_a_secondary_rate_limit_waits_before_the_retry(fake: FakeGitHub) -> None:
    number = fake.add_issue(REPO, title="t")
    fake.fail("POST", r"/comments$", 429)  # no Retry-After: GitHub's minute, cut to max_wait
    started = time.monotonic()
    with client(fake, max_wait=0.3) as github:
        github.comment(number, "x")
    assert 0.3 <= time.monotonic() - started < 2
    assert len(fake.comments(REPO, number)) == 1


def test_unreachable_github(fake: FakeGitHub) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    with (
        GitHub(REPO, fake.token, url, retries=1, backoff=0) as github,
        pytest.raises(ForgeError) as caught,
    ):
        github.repo()
    error = caught.value
    assert (error.status, error.exit_code) == (None, EXIT_INTERNAL)
    assert f"could not reach GitHub (http://127.0.0.1:{port})" in str(error)
    assert "Connection refused" in str(error)
    assert fake.token not in str(error)


def test_a_silent_server_times_out(fake: FakeGitHub) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with (
            GitHub(REPO, fake.token, url, retries=0, timeout=0.5) as github,
            pytest.raises(ForgeError, match="did not answer in time") as caught,
        ):
            github.repo()
    assert time.monotonic() - started < 5
    assert caught.value.exit_code == EXIT_INTERNAL


def test_debug_logs_never_carry_the_token(
    fake: FakeGitHub, gh: GitHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")
    number = fake.add_issue(REPO, title="t")
    gh.issue(number)
    gh.comment(number, "x")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/repos/{REPO}/issues/{number}" in logged  # PyGithub did log the requests
    assert fake.token not in logged


def test_an_undocumented_answer_is_an_internal_error() -> None:
    call = Call("list the jobs of workflow run 7", "actions", "read", attempts=4)
    error = forge_error(
        KeyError("jobs"), call, where=REPO, api_url="https://api.github.com", secrets=["tok"]
    )
    assert error.exit_code == EXIT_INTERNAL
    assert str(error) == (
        "GitHub's answer to list the jobs of workflow run 7 in octo/widgets is not what its"
        " API documents (no 'jobs'); selfheal cannot use it."
    )


def test_annotation_lines_are_clamped_to_what_github_accepts() -> None:
    note = Annotation("a.py", 0, -4, "warning", "m")
    assert note.as_json() == {
        "path": "a.py",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "warning",
        "message": "m",
    }


def test_a_saved_jobs_answer_reads_like_the_api(fake: FakeGitHub, gh: GitHub) -> None:
    run_id = _run_with_jobs(fake, count=3)
    answer = requests.get(
        f"{fake.url}/repos/{REPO}/actions/runs/{run_id}/jobs",
        headers={"Authorization": f"token {fake.token}", **fake.client_headers},
        timeout=10,
    ).json()
    assert jobs_from_json(answer) == gh.jobs(run_id)
    assert jobs_from_json(answer["jobs"]) == gh.jobs(run_id)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"total_count": 0}, 'no "jobs" list'),
        ({"jobs": ["x"]}, "jobs[0] is not an object"),
        ({"jobs": [{"id": "7"}]}, "jobs[0].id is '7'"),
        ([{"id": 7, "labels": "gpu"}], "jobs[0]: labels and steps must be lists"),
    ],
)
def test_a_saved_jobs_answer_of_the_wrong_shape(data: object, where: str) -> None:
    with pytest.raises(ValueError, match=re.escape(where)):
        jobs_from_json(data)


# -- routing ------------------------------------------------------------------------------


def _job(conclusion: str, labels: tuple[str, ...], runner: str = "r-01") -> WorkflowJob:
    return WorkflowJob(
        id=1,
        name="test",
        conclusion=conclusion,
        labels=labels,
        runner_name=runner,
        failed_steps=(),
        html_url="",
    )


def test_runs_on_a_gpu_runner_when_a_gpu_job_failed() -> None:
    jobs = [
        _job("success", ("ubuntu-latest",)),
        _job(
            "failure",
            ("self-hosted", "Linux", "GPU", "a100", "gpu-box-7", "${{ evil }}"),
            "gpu-box-7",
        ),
    ]
    assert runs_on_for(jobs) == ["self-hosted", "gpu", "Linux", "a100"]


def test_runs_on_ubuntu_when_only_cpu_jobs_failed() -> None:
    jobs = [_job("success", ("self-hosted", "gpu")), _job("failure", ("ubuntu-latest",))]
    assert runs_on_for(jobs) == ["ubuntu-latest"]
    assert runs_on_for([]) == ["ubuntu-latest"]
    assert runs_on_for([_job("timed_out", ("gpu",))]) == ["self-hosted", "gpu"]
