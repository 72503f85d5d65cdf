"""Seen in seconds: the eyes reaction and the "working on it" comment come before the gate,
the final report replaces that comment, and a single-job run edits it at each stage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.forge.github import GitHub
from bot.github.acknowledge import StageComment
from bot.render.comment import MARKER
from tests.cli import scripted
from tests.conftest import MakeRepo, git
from tests.fakes.github_api import Call, FakeGitHub
from tests.github_env import MAINTAINER, REPOSITORY, Site, open_site, payload
from tests.test_github_e2e import FIX

RUN_URL = f"https://github.test/{REPOSITORY}/actions/runs/4242"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


@pytest.fixture
def site(make_repo: MakeRepo, tmp_path: Path, fake: FakeGitHub) -> Site:
    site = open_site(make_repo, tmp_path, fake)
    site.env = {
        "SELFHEAL_API_WRITE_INTERVAL": "0",
        "SELFHEAL_AGENT": "command",
        "SELFHEAL_AGENT_COMMAND": scripted(tmp_path, {"summary": "fix", "edits": [FIX]}),
    }
    return site


def _comment_writes(fake: FakeGitHub) -> list[Call]:
    return [c for c in fake.writes() if "/comments" in c.path and "/reactions" not in c.path]


def _started(site: Site) -> float:
    report = json.loads((site.bundle / "report.json").read_text(encoding="utf-8"))
    # Python 3.10's fromisoformat takes no "Z"
    return datetime.fromisoformat(report["started_at"].replace("Z", "+00:00")).timestamp()


def test_run_acknowledges_before_the_gate_and_follows_each_stage(site: Site) -> None:
    sha = site.branch("feature")
    site.fake.add_issue(REPOSITORY, title="first")
    number = site.fake.add_pull(
        REPOSITORY, head="feature", base="main", head_sha=sha, user=MAINTAINER
    )
    event = payload("issue-comment-created-pr", **{"issue.number": number})
    comment_id = site.fake.add_comment(REPOSITORY, number, body="/selfheal", user=MAINTAINER)
    event["comment"]["id"] = comment_id

    result = site.run("run", "issue_comment", event)
    assert result.code == 0, result.said
    assert site.fake.reactions(REPOSITORY) == [("comment", comment_id, "eyes")]
    writes = site.fake.writes()
    assert writes[0].path.endswith(f"/issues/comments/{comment_id}/reactions")
    created, *edits = _comment_writes(site.fake)
    assert created.method == "POST" and created.path.endswith(f"/issues/{number}/comments")
    assert "working on it" in created.body["body"] and RUN_URL in created.body["body"]
    # both come before the loop starts, so before the gate runs
    assert writes[0].at < _started(site) and created.at < _started(site)
    sticky = site.fake.comments(REPOSITORY, number)[-1]
    assert {c.path for c in edits} == {f"/repos/{REPOSITORY}/issues/comments/{sticky['id']}"}
    stages = [c.body["body"] for c in edits[:-1]]
    assert any("Now: gate red: 4 failure(s)" in body for body in stages), stages
    assert any("Now: attempt 1 of 3: 4 failure(s) to fix" in body for body in stages)
    assert any("Now: verifying attempt 1" in body for body in stages)
    assert any("Now: healed:" in body for body in stages)
    # the final report replaced "working on it", in the same comment
    assert MARKER in sticky["body"] and "working on it" not in sticky["body"]
    assert '{"runs": 1}' in sticky["body"]
    assert len(site.fake.comments(REPOSITORY, number)) == 2  # the command and the sticky


def test_a_single_job_run_that_ends_in_an_error_says_so_in_the_comment(site: Site) -> None:
    config = site.repo / ".github" / "selfheal.yml"
    config.parent.mkdir(exist_ok=True)
    config.write_text("gate:\n  - name: lint\n    run: no-such-linter-xyz\n", encoding="utf-8")
    git(site.repo, "add", "-A")
    git(site.repo, "commit", "-qm", "a gate whose program is not installed")
    sha = site.branch("feature")
    site.fake.add_issue(REPOSITORY, title="first")
    number = site.fake.add_pull(
        REPOSITORY, head="feature", base="main", head_sha=sha, user=MAINTAINER
    )
    event = payload("issue-comment-created-pr", **{"issue.number": number})

    result = site.run("run", "issue_comment", event)
    assert result.code == 2, result.said
    (sticky,) = site.fake.comments(REPOSITORY, number)
    assert "working on it" not in sticky["body"], sticky["body"]
    assert "**selfheal stopped:** the run ended with an error:" in sticky["body"]
    assert "no-such-linter-xyz" in sticky["body"] and RUN_URL in sticky["body"]


def test_ack_then_work_without_a_write_token_then_propose_edits_that_comment(
    site: Site,
) -> None:
    number = site.fake.add_issue(REPOSITORY, title="Clamp is wrong", labels=["selfheal"])
    event = payload("issues-labeled", **{"issue.number": number, "issue.title": "Clamp"})

    ack = site.run("ack", "issues", event)
    assert ack.code == 0, ack.said
    assert site.fake.reactions(REPOSITORY) == [("issue", number, "eyes")]
    (working,) = site.fake.comments(REPOSITORY, number)
    assert "working on it" in working["body"] and RUN_URL in working["body"]
    assert not (site.bundle / "report.json").exists()  # nothing of the project ran

    before = len(site.fake.writes())
    work = site.run("work", "issues", event, token=site.fake.read_token)
    assert work.code == 0, work.said
    assert len(site.fake.writes()) == before  # the work stage has no token to write with

    propose = site.run("propose", "issues", event)
    assert propose.code == 0, propose.said
    (final,) = site.fake.comments(REPOSITORY, number)
    assert final["id"] == working["id"]
    assert "working on it" not in final["body"] and '{"runs": 1}' in final["body"]


def test_stopped_replaces_working_on_it_once_and_never_a_report(site: Site) -> None:
    number = site.fake.add_issue(REPOSITORY, title="Clamp is wrong", labels=["selfheal"])
    event = payload("issues-labeled", **{"issue.number": number, "issue.title": "Clamp"})
    ack = site.run("ack", "issues", event)
    assert ack.code == 0 and ack.outputs["comment-id"], ack.said
    (working,) = site.fake.comments(REPOSITORY, number)
    assert str(working["id"]) == ack.outputs["comment-id"]

    why = "the propose job failed"
    stopped = site.run("stopped", "issues", event, "--why", why)
    assert stopped.code == 0 and stopped.outputs["status"] == "stopped", stopped.said
    (line,) = site.fake.comments(REPOSITORY, number)
    assert line["id"] == working["id"] and "working on it" not in line["body"]
    assert f"**selfheal stopped:** {why}" in line["body"] and RUN_URL in line["body"]
    # Run again (a re-run of the job): the line is not "working on it", so it stays.
    edits = len(site.fake.writes())
    again = site.run("stopped", "issues", event, "--why", why)
    assert again.code == 0 and again.outputs["status"] == "reported", again.said
    assert len(site.fake.writes()) == edits


def test_a_refused_trigger_gets_no_reaction_and_no_comment(site: Site) -> None:
    number = site.fake.add_issue(REPOSITORY, title="t", labels=["selfheal"], state="closed")
    event = payload("issues-labeled", **{"issue.number": number})
    ack = site.run("ack", "issues", event)
    assert ack.code == 0 and ack.outputs["job"] == "skip", ack.said
    assert site.fake.writes() == []


def test_stage_lines_keep_githubs_write_pace_and_a_failed_edit_is_said_once(
    fake: FakeGitHub,
) -> None:
    fake.add_repo(REPOSITORY)
    number = fake.add_issue(REPOSITORY, title="t")
    now = [0.0]
    said: list[str] = []
    with GitHub(REPOSITORY, fake.token, fake.url, write_interval=0, retries=0) as gh:
        sticky = gh.comment(number, "working")
        follow = StageComment(
            gh, sticky.id, runs=0, links=[], interval=5, say=said.append, clock=lambda: now[0]
        )
        for at, line in [(0, "gate red"), (1, "attempt 1"), (6, "verifying"), (7, "healed")]:
            now[0] = at
            follow(line)
        bodies = [c.body["body"] for c in fake.writes() if c.method == "PATCH"]
        assert [b.split("Now: ")[1].splitlines()[0] for b in bodies] == ["gate red", "verifying"]
        fake.fail("PATCH", "/issues/comments/", 500, times=5)
        for at in (20, 30):
            now[0] = at
            follow("attempt 2")
    assert len(said) == 1 and "no longer updated" in said[0]
