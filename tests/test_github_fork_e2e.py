"""A fork's red pull request gets the safe part, through the reusable workflow in the Actions
runner emulation and the fake GitHub: the deterministic fixers run on the fork's code in a
job with no secret and no write token, and the job that posts runs no project code and
posts one review with suggestion blocks on the pull request's changed lines (the rest as a
patch in its body). Nothing is pushed anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeRepo, git
from tests.fakes.github_api import FakeGitHub
from tests.github_env import REPOSITORY, open_site
from tests.test_github_e2e import workflow_run_event
from tests.test_workflow_e2e import API_KEY, run_caller

FORK = "mallory/octo-repo"
pytestmark = pytest.mark.slow

# The fork's change: a new function ruff format rewrites (inside the pull request's diff).
# The base already has an unused import and a badly formatted line (outside it).
NEW_CODE = '''

def double(x: float) -> float:
    """Return twice x."""
    result=x*2
    return result
'''


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def _pull_files(repo: Path, base: str, head: str) -> list[dict[str, str]]:
    """The files route's answer, from real git: each file's hunks, as GitHub lists them."""
    files = []
    for name in git(repo, "diff", "--name-only", base, head).split():
        diff = git(repo, "diff", base, head, "--", name)
        files.append({"filename": name, "status": "modified", "patch": diff[diff.index("@@") :]})
    return files


def test_a_fork_red_build_gets_a_review_with_suggestions_and_no_push(
    make_repo: MakeRepo, tmp_path: Path, fake: FakeGitHub
) -> None:
    site = open_site(make_repo, tmp_path, fake)
    base = site.head
    ops = site.repo / "calc" / "ops.py"
    ops.write_text(ops.read_text(encoding="utf-8") + NEW_CODE, encoding="utf-8")
    git(site.repo, "commit", "-qam", "double")
    sha = site.head
    # A fork's commit lives in the base repository only under refs/pull/N/head.
    git(site.repo, "push", "-q", "origin", f"{sha}:refs/pull/2/head")
    git(site.repo, "reset", "-q", "--hard", base)
    fake.add_issue(REPOSITORY, title="an older issue")
    pr = fake.add_pull(
        REPOSITORY, head="feature", base="main", head_sha=sha, user="mallory", head_repo=FORK
    )
    fake.set_pull_files(REPOSITORY, pr, _pull_files(site.repo, base, sha))
    run_id = fake.add_workflow_run(
        REPOSITORY, head_branch="feature", head_sha=sha, actor="mallory", jobs=[]
    )
    refs_before = git(site.origin, "for-each-ref")
    event = workflow_run_event(
        sha,
        run_id,
        "feature",
        **{
            "workflow_run.head_repository.full_name": FORK,
            "workflow_run.actor.login": "mallory",
            "workflow_run.triggering_actor.login": "mallory",
            "sender.login": "mallory",
        },
    )
    run = run_caller(site, fake, tmp_path, event, {"SELFHEAL_PUSH_URL": str(site.origin)})
    jobs = run.jobs
    said = "".join(a.stdout + a.stderr for job in jobs.values() for a in job.actions)
    results = {name: job.result for name, job in jobs.items()}
    assert results == {
        "acknowledge": "success",
        "route": "success",
        "work": "skipped",  # the agent's job never runs for a fork
        "propose": "skipped",
        "stopped": "skipped",
        "fixers": "success",
        "suggest": "success",
    }, said
    # The fork's code ran in `fixers` only: no API key there (none anywhere), a read token.
    assert not [name for name, job in jobs.items() if API_KEY in job.secrets.values()]
    assert jobs["fixers"].token == fake.read_token
    assert not [c for c in fake.writes() if c.token == fake.read_token]
    assert "ruff" in said and API_KEY not in said
    # One review: suggestions on the pull request's own lines, the rest as a patch.
    (review,) = fake.reviews(REPOSITORY, pr)
    assert review["event"] == "COMMENT" and review["commit_id"] == sha
    (comment,) = review["comments"]
    head_lines = git(site.origin, "show", f"{sha}:calc/ops.py").splitlines()
    assert head_lines[comment["line"] - 1] == "    result=x*2"
    assert comment["side"] == "RIGHT" and "start_line" not in comment
    assert comment["body"] == "```suggestion\n    result = x * 2\n```"
    assert "```diff" in review["body"]
    assert "-import os" in review["body"] and "+    total = sum(values)" in review["body"]
    assert run.outputs["status"] == "suggested"
    # No push, no pull request, no comment: only the review was written.
    assert git(site.origin, "for-each-ref") == refs_before
    assert {(c.method, c.path.rsplit("/", 2)[-1]) for c in fake.writes()} == {("POST", "reviews")}


def test_a_work_job_holding_the_api_key_runs_no_fork_code(
    make_repo: MakeRepo, tmp_path: Path, fake: FakeGitHub
) -> None:
    site = open_site(make_repo, tmp_path, fake)
    sha = site.head
    event = workflow_run_event(
        sha, 1, "feature", **{"workflow_run.head_repository.full_name": FORK}
    )
    # A hand-made workflow that gives the fork's job the key: nothing of the fork runs.
    done = site.run("work", "workflow_run", event, env={"ANTHROPIC_API_KEY": API_KEY})
    assert done.code == 0 and done.outputs["job"] == "skip", done.said
    assert "without the API key" in done.outputs["reason"]
    assert not site.bundle.exists() and fake.calls == []
