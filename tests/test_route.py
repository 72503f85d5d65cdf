"""`selfheal route` and the GPU-aware red-build workflow: which runner heals a failure."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_runner import preinstall_venv, run_action
from tests.cli import selfheal
from tests.conftest import FIXTURES, MakeRepo
from tests.fakes.github_api import FakeGitHub
from tests.github_env import MAINTAINER, REPOSITORY, payload, read_outputs

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "workflows" / "selfheal-gpu.yml"
GPU = ["self-hosted", "gpu", "linux", "cuda-12"]
CPU = ["ubuntu-latest"]


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "api" / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize(
    ("name", "runs_on"), [("jobs-gpu-failure", GPU), ("jobs-cpu-failure", CPU)]
)
def test_route_reads_a_recorded_jobs_response(
    name: str, runs_on: list[str], tmp_path: Path
) -> None:
    output = tmp_path / "output"
    done = selfheal(
        "route",
        "--jobs-file",
        str(FIXTURES / "api" / f"{name}.json"),
        env={"GITHUB_OUTPUT": str(output)},
    )
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said["runs-on"] == runs_on
    assert said["gpu"] is (runs_on == GPU)
    assert [j["name"] for j in said["failed_jobs"]] == [
        j["name"] for j in recorded(name)["jobs"] if j["conclusion"] == "failure"
    ]
    assert json.loads(read_outputs(output)["runs-on"]) == runs_on


def test_route_refuses_a_file_that_is_not_a_jobs_response(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.json"
    bad.write_text('{"jobs": [{"id": "x"}]}')
    done = selfheal("route", "--jobs-file", str(bad))
    assert done.returncode == 2
    assert "not a jobs API response" in done.stderr


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub() as server:
        server.add_repo(REPOSITORY)
        yield server


def _seed(fake: FakeGitHub, name: str) -> int:
    """The recorded response, served by the fake for a failed run."""
    jobs = [
        {
            "name": job["name"],
            "conclusion": job["conclusion"],
            "labels": job["labels"],
            "runner_name": job["runner_name"],
            "steps": [
                {k: step[k] for k in ("name", "conclusion", "number")} for step in job["steps"]
            ],
        }
        for job in recorded(name)["jobs"]
    ]
    return fake.add_workflow_run(
        REPOSITORY, head_branch="main", head_sha="a" * 40, actor=MAINTAINER, jobs=jobs
    )


@pytest.mark.parametrize(
    ("name", "runs_on"), [("jobs-gpu-failure", GPU), ("jobs-cpu-failure", CPU)]
)
def test_the_gpu_workflow_routes_the_work_job(
    name: str, runs_on: list[str], fake: FakeGitHub, tmp_path: Path, make_repo: MakeRepo
) -> None:
    """The workflow's route job (the action, stage route) -> the work job's runs-on."""
    run_id = _seed(fake, name)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            payload(
                "workflow-run-completed-failure",
                **{
                    "workflow_run.id": run_id,
                    "workflow_run.head_branch": "main",
                    "workflow_run.head_sha": "a" * 40,
                    "workflow_run.head_repository.full_name": REPOSITORY,
                },
            )
        )
    )
    workflow = yaml.safe_load(WORKFLOW.read_text())
    route_job = workflow["jobs"]["route"]
    (step,) = [s for s in route_job["steps"] if s.get("id") == "route"]
    runner_temp = tmp_path / "runner-temp"
    preinstall_venv(ROOT, runner_temp=runner_temp, python=sys.executable)
    workspace = make_repo({"README.md": "x\n"}, origin=False)
    run = run_action(
        ROOT,
        inputs=step["with"],
        env={
            "GITHUB_EVENT_NAME": "workflow_run",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": fake.url,
        },
        workdir=workspace,
        runner_temp=runner_temp,
        python=sys.executable,
        github_token=fake.read_token,  # the route job can only read
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # route job output -> needs.route.outputs.runs-on -> fromJSON in the work job
    assert route_job["outputs"]["runs-on"] == "${{ steps.route.outputs.runs-on }}"
    assert workflow["jobs"]["work"]["runs-on"] == "${{ fromJSON(needs.route.outputs.runs-on) }}"
    assert json.loads(run.outputs["runs-on"]) == runs_on
    assert fake.writes() == []
    assert workflow["jobs"]["propose"]["runs-on"] == "ubuntu-latest"
