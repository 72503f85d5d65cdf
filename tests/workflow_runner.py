"""Run a caller workflow and selfheal's reusable workflow the way GitHub does, in-process,
for tests: jobs in `needs` order, each on a fresh "runner" (its own workspace and
RUNNER_TEMP), composite action steps through `action_runner.run_action`.

What is emulated, and nothing more (anything else raises UnsupportedAction):

- the caller: `on:` must list the event; each job `uses:` selfheal-reusable.yml, either
  `OWNER/selfheal/.github/workflows/selfheal-reusable.yml@<sha>` or `$/...` (both mean the
  file in `root`); `permissions:` is the most any called job may have; `secrets:` maps the
  repository's secrets by name; `with:` gives inputs.
- the called workflow: `workflow_call` inputs (declared, with defaults) and secrets; per job
  `needs`, `if:` (the expression subset of action_runner plus `needs.<job>.outputs.<name>`,
  `needs.<job>.result`, `inputs.*`, `secrets.*`), `permissions:` (which must be within the
  caller's grant; any `write` gets the write token, else the read token), `runs-on:` (recorded;
  `fromJSON(...)` read as JSON), `outputs:`, and the workflow's `outputs:`.
- steps: `actions/checkout` (a whole clone of `origin` at `ref`, or its default branch, also for
  a `sparse-checkout:`; only with
  `persist-credentials: false`), `$/` (action.yml of `root`, run by run_action),
  `actions/upload-artifact` and `actions/download-artifact` (a folder per artifact name).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.action_runner import (
    _TEMPLATE,
    STATUS_FUNCTIONS,
    ActionRun,
    UnsupportedAction,
    Value,
    _Parser,
    _truthy,
    _uses_status_function,
    as_string,
    preinstall_venv,
    run_action,
)

REUSABLE = ".github/workflows/selfheal-reusable.yml"
_CALL = re.compile(
    r"^(?:[A-Za-z0-9-]+/selfheal/|\$/)" + re.escape(REUSABLE) + r"(?:@[0-9a-f]{40})?$"
)
_FROM_JSON = re.compile(r"^\$\{\{\s*fromJSON\((?P<inner>.+)\)\s*\}\}$")


@dataclass
class JobRun:
    name: str
    result: str  # success | failure | skipped
    token: str | None = None
    runs_on: object = None
    secrets: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    actions: list[ActionRun] = field(default_factory=list)


@dataclass
class WorkflowRun:
    jobs: dict[str, JobRun]
    outputs: dict[str, str]


def _on(workflow: Mapping[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def _order(jobs: Mapping[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [n for n, j in jobs.items() if n not in done and set(_needs(j)) <= set(done)]
        if not ready:
            raise UnsupportedAction("a cycle in needs:")
        done += ready
    return done


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


@dataclass
class _Context:
    inputs: dict[str, str]
    secrets: dict[str, str]
    done: dict[str, JobRun]
    runner_temp: Path | None = None
    steps: dict[str, ActionRun | dict[str, str]] = field(default_factory=dict)
    failed: bool = False
    cancelled: bool = False

    def lookup(self, path: list[str]) -> Value:
        head, rest = path[0], path[1:]
        if head in ("inputs", "secrets") and len(rest) == 1:
            values = self.inputs if head == "inputs" else self.secrets
            return values.get(rest[0])
        if head in ("needs", "jobs") and len(rest) >= 2 and rest[0] in self.done:
            job = self.done[rest[0]]
            if rest[1] == "result":
                return job.result
            if rest[1] == "outputs" and len(rest) == 3:
                return job.outputs.get(rest[2], "")
        if head == "steps" and len(rest) == 3 and rest[1] == "outputs":
            step = self.steps.get(rest[0])
            outputs = step.outputs if isinstance(step, ActionRun) else (step or {})
            return outputs.get(rest[2], "")
        if path == ["runner", "temp"] and self.runner_temp is not None:
            return str(self.runner_temp)
        raise UnsupportedAction(f"the context {'.'.join(path)} is not emulated here")

    def status(self, name: str) -> bool:
        if name not in STATUS_FUNCTIONS:
            raise UnsupportedAction(f"{name}()")
        if name == "cancelled":
            return self.cancelled
        if self.cancelled and name == "success":
            return False
        return {"success": not self.failed, "failure": self.failed}.get(name, name == "always")

    def render(self, value: object) -> str:
        text = "true" if value is True else "false" if value is False else str(value)
        whole = _TEMPLATE.fullmatch(text.strip())
        if whole:
            return as_string(_Parser(whole["expr"], self.lookup, self.status).parse())
        out = _TEMPLATE.sub(
            lambda m: as_string(_Parser(m["expr"], self.lookup, self.status).parse()), text
        )
        if "${{" in out:
            raise UnsupportedAction(f"cannot read {text!r}")
        return out

    def condition(self, value: object) -> bool:
        if value is None:
            return self.status("success")
        text = str(value).strip()
        whole = _TEMPLATE.fullmatch(text)
        expression = whole["expr"] if whole else text
        if not _uses_status_function(expression):
            expression = f"success() && ({expression})"
        return _truthy(_Parser(expression, self.lookup, self.status).parse())


def _checkout(origin: Path, workspace: Path, with_: Mapping[str, str], branch: str) -> None:
    if with_.get("persist-credentials") != "false":
        raise UnsupportedAction("actions/checkout is emulated only with persist-credentials: false")
    shutil.rmtree(workspace, ignore_errors=True)
    clone = ["git", "clone", "-q", "--branch", branch, str(origin), str(workspace)]
    subprocess.run(clone, check=True)
    if ref := with_.get("ref"):
        # A fork's pull request commit is in the repository only under refs/pull/N/head,
        # which a clone does not fetch; actions/checkout fetches the commit by its sha.
        subprocess.run(
            ["git", "-C", str(workspace), "fetch", "-q", "origin", "+refs/pull/*:refs/pull/*"],
            check=True,
        )
        subprocess.run(["git", "-C", str(workspace), "checkout", "-q", ref], check=True)


def run_workflow(
    caller: Path,
    *,
    root: Path,
    origin: Path,
    event_name: str,
    event: Mapping[str, Any],
    env: Mapping[str, str],
    tokens: tuple[str, str],
    repo_secrets: Mapping[str, str],
    python: str,
    tmp: Path,
    default_branch: str = "main",
    dies: Mapping[str, str] | None = None,
) -> WorkflowRun:
    """Run `caller` for one event; `tokens` is (write token, read-only token). `dies` names
    jobs that end without running their steps, as "failure" (a lost runner, a timeout) or
    "cancelled" (someone cancelled the run: later jobs see cancelled())."""
    workflow = yaml.safe_load(caller.read_text(encoding="utf-8"))
    if event_name not in (_on(workflow) or {}):
        raise UnsupportedAction(f"{caller.name} does not run on {event_name}")
    ((name, job),) = workflow["jobs"].items()
    if not _CALL.match(str(job.get("uses", ""))):
        raise UnsupportedAction(f"{name}: uses {job.get('uses')!r}")
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    called = yaml.safe_load((root / REUSABLE).read_text(encoding="utf-8"))
    call = _on(called)["workflow_call"]
    outer = _Context({}, dict(repo_secrets), {})
    secrets = {key: outer.render(value) for key, value in (job.get("secrets") or {}).items()}
    inputs = {k: str(spec.get("default", "")) for k, spec in (call.get("inputs") or {}).items()}
    for key, value in (job.get("with") or {}).items():
        if key not in inputs:
            raise UnsupportedAction(f"input {key} is not declared")
        inputs[key] = outer.render(value)
    grant: dict[str, str] = job.get("permissions") or {}
    done: dict[str, JobRun] = {}
    artifacts = tmp / "artifacts"
    for job_name in _order(called["jobs"]):
        spec = called["jobs"][job_name]
        context = _Context(inputs, secrets, done)
        context.failed = any(done[n].result != "success" for n in _needs(spec))
        context.cancelled = any(job.result == "cancelled" for job in done.values())
        if not context.condition(spec.get("if")):
            done[job_name] = JobRun(job_name, "skipped")
            continue
        if dies and job_name in dies:
            done[job_name] = JobRun(job_name, dies[job_name])
            continue
        # Inside a job that runs, success() and failure() are about its own steps: a job that
        # runs on `always()` after a failed or cancelled one runs its steps.
        context.failed = context.cancelled = False
        wanted: dict[str, str] = spec.get("permissions") or {}
        for scope, level in wanted.items():
            if (level == "write" and grant.get(scope) != "write") or scope not in grant:
                raise UnsupportedAction(f"{job_name}: {scope}: {level} is beyond the caller's")
        write = "write" in wanted.values()
        run = JobRun(job_name, "success", token=tokens[0] if write else tokens[1])
        runs_on = str(spec.get("runs-on"))
        match = _FROM_JSON.match(runs_on)
        run.runs_on = (
            json.loads(context.render(f"${{{{ {match['inner']} }}}}")) if match else runs_on
        )
        context.runner_temp = tmp / f"{job_name}-temp"
        workspace = tmp / f"{job_name}-workspace"
        workspace.mkdir()
        preinstall_venv(root, runner_temp=context.runner_temp, python=python)
        job_env = {
            **env,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_JOB": job_name,
        }
        for index, step in enumerate(spec.get("steps") or []):
            step_id = str(step.get("id", f"_{index}"))
            if not context.condition(step.get("if")):
                continue
            uses = str(step.get("uses", ""))
            with_ = {key: context.render(value) for key, value in (step.get("with") or {}).items()}
            run.secrets.update({k: v for k, v in with_.items() if v and v in secrets.values()})
            if uses.startswith("actions/checkout@"):
                _checkout(origin, workspace, with_, default_branch)
                context.steps[step_id] = {}
            elif uses == "$/":
                action = run_action(
                    root,
                    inputs=with_,
                    env=job_env,
                    workdir=workspace,
                    runner_temp=context.runner_temp,
                    python=python,
                    github_token=run.token or "",
                )
                run.actions.append(action)
                context.steps[step_id] = action
                if action.returncode != 0:
                    context.failed = True
                    run.result = "failure"
            elif uses.startswith("actions/upload-artifact@"):
                source, target = Path(with_["path"]), artifacts / with_["name"]
                uploaded = source.is_dir() and any(source.iterdir())
                if uploaded:
                    shutil.copytree(source, target)
                context.steps[step_id] = {"artifact-id": "1" if uploaded else ""}
            elif uses.startswith("actions/download-artifact@"):
                shutil.copytree(artifacts / with_["name"], Path(with_["path"]), dirs_exist_ok=True)
                context.steps[step_id] = {}
            else:
                raise UnsupportedAction(f"{job_name}: uses {uses!r}")
        run.outputs = {k: context.render(v) for k, v in (spec.get("outputs") or {}).items()}
        done[job_name] = run
    final = _Context(inputs, secrets, done)
    outputs = {
        key: final.render(value["value"]) for key, value in (call.get("outputs") or {}).items()
    }
    return WorkflowRun(done, outputs)
