"""`selfheal route`: where the heal job of a red build should run (GPU runner or hosted).

The first job of the GPU workflow runs this on a hosted runner with a read-only token; the
work job then runs on `${{ fromJSON(needs.route.outputs.runs-on) }}`.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bot.commands.common import config_from_args, repo_root
from bot.errors import BadInput
from bot.forge.github import CPU_RUNS_ON, WorkflowJob, jobs_from_json, runs_on_for
from bot.github.actions import Runner
from bot.github.context import decision_for, github_client
from bot.secrets import secret

MAX_JOBS_FILE_BYTES = 10 * 1024 * 1024


def _jobs_file(path: Path) -> list[WorkflowJob]:
    try:
        data = path.read_bytes()[: MAX_JOBS_FILE_BYTES + 1]
    except OSError as exc:
        raise BadInput(f"--jobs-file {path}: {exc.strerror}") from exc
    if len(data) > MAX_JOBS_FILE_BYTES:
        raise BadInput(f"--jobs-file {path}: over {MAX_JOBS_FILE_BYTES} bytes")
    try:
        return jobs_from_json(json.loads(data))
    except ValueError as exc:
        raise BadInput(f"--jobs-file {path}: not a jobs API response: {exc}") from exc


def route(args: argparse.Namespace) -> int:
    runner = Runner()
    runner.mask(secret("GITHUB_TOKEN") or "")
    job = "heal"
    reason = ""
    if args.jobs_file:
        jobs = _jobs_file(Path(args.jobs_file))
    else:
        config = config_from_args(args, repo_root(args.repo or os.environ.get("GITHUB_WORKSPACE")))
        decision = decision_for(args, config)
        if decision.job != "heal" or decision.run_id is None:
            job = decision.job
            reason = decision.reason if decision.job == "skip" else "not a failed workflow run"
            jobs = []
        else:
            jobs = github_client(config, decision).jobs(decision.run_id)
    runs_on = runs_on_for(jobs) if jobs else list(CPU_RUNS_ON)
    failed = [j for j in jobs if j.conclusion == "failure"]
    gpu = runs_on != list(CPU_RUNS_ON)
    runner.set_outputs({"runs-on": json.dumps(runs_on), "gpu": str(gpu).lower(), "job": job})
    print(
        json.dumps(
            {
                "runs-on": runs_on,
                "gpu": gpu,
                "job": job,
                "reason": reason,
                "failed_jobs": [{"name": j.name, "labels": list(j.labels)} for j in failed],
            },
            indent=2,
        )
    )
    return 0
