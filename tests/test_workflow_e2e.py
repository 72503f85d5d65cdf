"""The 14-line caller in examples/ runs the whole flow through the reusable workflow, in the
Actions runner emulation, against the fake GitHub: acknowledged before the work, the work
job with a read-only token and the only one with the API key, the fix proposed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.agent.replay import ReplayServer
from tests.conftest import MakeRepo, git
from tests.fakes.github_api import FakeGitHub
from tests.github_env import REPOSITORY, Site, open_site
from tests.test_claude_e2e import SESSION, SPENT
from tests.test_github_e2e import red_branch, workflow_run_event
from tests.workflow_runner import WorkflowRun, run_workflow

ROOT = Path(__file__).resolve().parent.parent
CALLER = ROOT / "examples" / "workflows" / "selfheal.yml"
API_KEY = "sk-ant-canary-0123456789"
pytestmark = pytest.mark.slow


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        yield server


def run_caller(
    site: Site,
    fake: FakeGitHub,
    tmp_path: Path,
    event: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    dies: Mapping[str, str] | None = None,
) -> WorkflowRun:
    """The example caller on one workflow_run event, against the fake GitHub."""
    flow = tmp_path / "flow"
    flow.mkdir()
    return run_workflow(
        CALLER,
        root=ROOT,
        origin=site.origin,
        event_name="workflow_run",
        event=event,
        env={
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": fake.url,
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": "4242",
            "SELFHEAL_API_WRITE_INTERVAL": "0",
            **(env or {}),
        },
        tokens=(fake.token, fake.read_token),
        repo_secrets={"ANTHROPIC_API_KEY": API_KEY},
        python=sys.executable,
        tmp=flow,
        dies=dies,
    )


def test_the_example_caller_heals_a_red_build_through_the_reusable_workflow(
    make_repo: MakeRepo, tmp_path: Path, fake: FakeGitHub
) -> None:
    assert len(CALLER.read_text(encoding="utf-8").splitlines()) <= 15
    site = open_site(make_repo, tmp_path, fake)
    sha, pr, run_id = red_branch(site)
    with ReplayServer(SESSION) as claude:
        env = {
            "SELFHEAL_PUSH_URL": str(site.origin),
            "ANTHROPIC_BASE_URL": claude.base_url,  # the Messages API, replayed
        }
        run = run_caller(site, fake, tmp_path, workflow_run_event(sha, run_id), env)
    jobs = run.jobs
    said = "".join(a.stdout + a.stderr for job in jobs.values() for a in job.actions)
    assert {name: job.result for name, job in jobs.items()} == {
        **dict.fromkeys(("acknowledge", "route", "work", "propose"), "success"),
        # the report replaced "working on it"; the fork path is for forks only
        **dict.fromkeys(("stopped", "fixers", "suggest"), "skipped"),
    }, said
    # the work job has a read-only token and is the only one given the API key
    assert jobs["work"].token == fake.read_token
    assert {name for name, job in jobs.items() if API_KEY in job.secrets.values()} == {"work"}
    assert not [c for c in fake.writes() if c.token == fake.read_token]
    assert jobs["work"].runs_on == ["ubuntu-latest"]  # route: no GPU job failed
    assert jobs["acknowledge"].outputs["sha"] == sha
    # acknowledged first: the sticky comment existed before the work job wrote its report
    (comment,) = fake.comments(REPOSITORY, pr)
    first = next(c for c in fake.writes() if c.path.endswith(f"/issues/{pr}/comments"))
    assert "working on it" in first.body["body"]
    assert "working on it" not in comment["body"] and '{"runs": 1}' in comment["body"]
    # the workflow's outputs, spelled as report.json spells them
    assert run.outputs["status"] == "healed"
    assert run.outputs["pr-url"].endswith("/pull/3")
    fresh = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    assert run.outputs["input-tokens"] == str(sum(s[f] for s in SPENT for f in fresh))
    assert run.outputs["output-tokens"] == str(sum(s["output_tokens"] for s in SPENT))
    report = json.loads(
        (tmp_path / "flow" / "work-temp" / "selfheal-bundle" / "report.json").read_text()
    )
    assert run.outputs["cost-usd"] == f"{report['agent_totals']['cost_usd']:.4f}"
    branch = f"selfheal/heal-{sha[:7]}"
    assert git(site.origin, "rev-parse", f"{branch}^").strip() == sha


@pytest.mark.parametrize(
    ("result", "why"),
    [("failure", "the work job failed"), ("cancelled", "the work job was cancelled")],
)
def test_a_work_job_that_dies_leaves_a_stopped_line_not_working_on_it(
    make_repo: MakeRepo, tmp_path: Path, fake: FakeGitHub, result: str, why: str
) -> None:
    site = open_site(make_repo, tmp_path, fake)
    sha, pr, run_id = red_branch(site)
    event = workflow_run_event(sha, run_id)
    run = run_caller(site, fake, tmp_path, event, dies={"work": result})
    jobs = run.jobs
    said = "".join(a.stdout + a.stderr for job in jobs.values() for a in job.actions)
    assert (jobs["work"].result, jobs["propose"].result) == (result, "skipped")
    assert jobs["stopped"].result == "success", said
    assert jobs["stopped"].secrets == {}  # writes one line; gets no API key
    (comment,) = fake.comments(REPOSITORY, pr)
    assert "working on it" not in comment["body"], said
    assert f"**selfheal stopped:** {why}; no report was written." in comment["body"]
    assert "https://github.test/octo-org/octo-repo/actions/runs/4242" in comment["body"]
    assert '{"runs": 1}' in comment["body"]  # a run that died counts toward max_runs
    assert run.outputs["status"] == "stopped"
