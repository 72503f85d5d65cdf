"""`selfheal run`, `selfheal work`, `selfheal propose`: the GitHub Actions entry points.

run = work then propose, in one process. The red-build workflow runs them as two jobs:
`work` (the loop; project code and the agent run; no write token) writes a bundle, and
`propose` (write token; no project code) re-decides, re-checks and proposes it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.agent.select import make_agent
from bot.artifacts import report_dir_for, write_artifacts
from bot.commands.common import check_gate_programs, config_from_args, repo_root
from bot.commands.loop import check_agent_program, execute, require_agent
from bot.config import Config
from bot.errors import BadInput, SelfhealError
from bot.fix.loop import Job
from bot.forge import git
from bot.forge.github import DEFAULT_API_URL, GitHub
from bot.github.acknowledge import acknowledged
from bot.github.actions import Runner, usage_outputs
from bot.github.bundle import BundleMeta, read_bundle, write_meta
from bot.github.events import Decision, decide
from bot.github.trigger import Refused, Target, resolve
from bot.render.markdown import render_markdown
from bot.render.text import md_text
from bot.report import Report, load_report
from bot.secrets import environment, secret

if TYPE_CHECKING:
    from bot.github.publish import Push

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's cap on webhook payloads


def _setting(flag_value: str | None, variable: str, flag: str) -> str:
    value = flag_value if flag_value is not None else environment().get(variable, "")
    if not value:
        raise BadInput(f"{variable} is not set (GitHub Actions sets it); or pass {flag}")
    return value


def read_event(path: Path) -> object:
    """The JSON in an event file; a missing, oversized or non-JSON file raises BadInput."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_EVENT_BYTES + 1)  # a pipe or device may not say its size
    except OSError as exc:
        raise BadInput(f"cannot read the event file {path}: {exc.strerror}") from exc
    if len(data) > MAX_EVENT_BYTES:
        raise BadInput(f"the event file {path} is over 25 MB, GitHub's cap on payloads: refused")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"the event file {path} is not UTF-8: {exc.reason}") from exc
    except (
        ValueError,
        RecursionError,
    ) as exc:  # RecursionError: nesting deeper than Python's stack
        raise BadInput(f"the event file {path} is not JSON: {exc}") from exc


@dataclass(frozen=True)
class Context:
    """One invocation on a runner: the repo, its configuration, the event's decision."""

    repo: Path
    config: Config
    decision: Decision
    runner: Runner
    bundle: Path


def decision_for(args: argparse.Namespace, config: Config) -> Decision:
    event_name = _setting(args.event_name, "GITHUB_EVENT_NAME", "--event-name NAME")
    event_path = Path(_setting(args.event_path, "GITHUB_EVENT_PATH", "--event-path FILE"))
    decision = decide(
        event_name,
        read_event(event_path),
        trigger_label=config.trigger_label,
        branch_prefix=config.branch_prefix,
        allowed_bots=config.allowed_bots,
        trigger_phrase=config.trigger_phrase,
    )
    mode = getattr(args, "mode", None) or "auto"
    if decision.job != "skip" and mode not in ("auto", decision.job):
        return Decision("skip", f"the event asks to {decision.job}, but mode is {mode}")
    return decision


def _context(args: argparse.Namespace) -> Context:
    repo = repo_root(args.repo or os.environ.get("GITHUB_WORKSPACE"))
    config = config_from_args(args, repo)
    runner = Runner()
    for name in ("GITHUB_TOKEN", "ANTHROPIC_API_KEY"):
        runner.mask(secret(name) or "")
    if args.bundle:
        bundle = Path(args.bundle)
    elif os.environ.get("RUNNER_TEMP"):
        bundle = Path(os.environ["RUNNER_TEMP"]) / "selfheal-bundle"
    else:
        bundle = repo / ".selfheal"
    return Context(repo, config, decision_for(args, config), runner, bundle)


def github_client(config: Config, decision: Decision | None = None) -> GitHub:
    """The API client for $GITHUB_REPOSITORY, which must be the repository of the event."""
    repository = _setting(None, "GITHUB_REPOSITORY", "GITHUB_REPOSITORY=owner/name")
    said = decision.repository if decision is not None else None
    if said and said.casefold() != repository.casefold():
        raise BadInput(f"the event is for {said} but GITHUB_REPOSITORY is {repository}: refused")
    token = _setting(None, "GITHUB_TOKEN", "GITHUB_TOKEN (the action's github-token input)")
    api_url = os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    return GitHub(repository, token, api_url, write_interval=config.api_write_interval)


def _skip(ctx: Context, reason: str) -> int:
    print(f"selfheal: nothing to do: {reason}")
    ctx.runner.set_outputs(
        {"job": "skip", "status": "skipped", "reason": reason, "needs-gpu": "false"}
    )
    ctx.runner.summary(f"**selfheal: skipped** - {md_text(reason, 1000)}\n")
    return 0


def _outputs(ctx: Context, report: Report, job: str) -> None:
    proposal = report.proposal
    ctx.runner.set_outputs(
        {
            "job": job,
            "status": report.status.value,
            "reason": report.detail,
            "attempts": str(len(report.attempts)),
            "branch": proposal.branch if proposal and proposal.pushed else "",
            "pr-url": (proposal.pr_url or "") if proposal else "",
            "report-path": str(ctx.bundle / "report.json"),
            "needs-gpu": "true" if report.needs_gpu else "false",
            **usage_outputs(report.agent_totals),
        }
    )


def _target(ctx: Context, github: GitHub, *, read_logs: bool) -> Target:
    return resolve(
        github, ctx.decision, ctx.config, checkout_sha=git.head_sha(ctx.repo), read_logs=read_logs
    )


def _work(
    ctx: Context, target: Target, token: str, progress: Callable[[str], None] | None = None
) -> Report:
    check_gate_programs(ctx.config, ctx.repo)
    git.ensure_commit(ctx.repo, target.sha, token=token)
    for note in target.notes:
        print(f"selfheal: {note}")
    agent = make_agent(ctx.config)
    if target.job == "implement":
        require_agent(agent)
    check_agent_program(agent, ctx.config)
    job = Job(
        mode=target.job,
        repo=ctx.repo,
        config=ctx.config,
        agent=agent,
        report_dir=report_dir_for(ctx.repo, ctx.bundle),
        push=False,
        local_branch=False,  # the propose stage rebuilds the commit from the patch and pushes
        issue=target.issue,
        ci_log=target.ci_log,
        base=target.sha,
        progress=progress,
    )
    execute(job, as_json=False)
    write_meta(
        ctx.bundle,
        BundleMeta(
            job=target.job,
            repository=ctx.decision.repository or "",
            sha=target.sha,
            into=target.into,
            issue=target.issue.number if target.issue else None,
            thread=target.thread,
        ),
    )
    return load_report(ctx.bundle / "report.json")


def _run_url() -> str | None:
    """This workflow run's page, from the variables every runner sets."""
    server, repository, run_id = (
        os.environ.get(name, "")
        for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repository and run_id.isdigit()):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"


def _push(config: Config, repository: str, token: str) -> Push:
    """The URL selfheal pushes to: its own setting, else the server's URL for the repository;
    the token goes only to the server's host."""
    from bot.github.publish import Push

    server = os.environ.get("GITHUB_SERVER_URL", "") or "https://github.com"
    url = config.push_url or f"{server.rstrip('/')}/{repository}.git"
    return Push(url=url, token=token or None, token_host=urlsplit(server).hostname)


def _propose(ctx: Context, github: GitHub, target: Target, token: str) -> int:
    from bot.github.publish import publish

    meta, report, patch = read_bundle(ctx.bundle)
    claims = (meta.job, meta.sha, meta.into, meta.issue)
    own = (target.job, target.sha, target.into, target.issue.number if target.issue else None)
    if claims != own:
        raise BadInput(
            f"the bundle in {ctx.bundle} is for {claims}, but this event resolves to {own}: "
            "refused (was the bundle from another run?)"
        )
    # What the PR says it fixes, and which guards apply, come from this stage's own decision:
    # the bundle was written where untrusted code ran.
    report = report.model_copy(update={"mode": target.job, "issue": target.issue})
    git.ensure_commit(ctx.repo, target.sha, token=token)
    done = publish(
        github,
        ctx.runner,
        target,
        report,
        patch,
        repo=ctx.repo,
        config=ctx.config,
        push=_push(ctx.config, ctx.decision.repository or "", token),
        run_url=_run_url(),
    )
    report = write_artifacts(ctx.bundle, done.report, patch)
    if done.pull is not None:
        print(f"selfheal: pull request {done.pull.html_url}")
    if done.comment_url:
        print(f"selfheal: report {done.comment_url}")
    ctx.runner.summary(render_markdown(report))
    _outputs(ctx, report, target.job)
    return done.exit_code


def _guarded(ctx: Context, stage: str, body: Callable[[], int]) -> int:
    """Run a stage; a known error also becomes an ::error:: line and a summary line."""
    try:
        return body()
    except SelfhealError as exc:
        ctx.runner.error(f"selfheal {stage}: {exc}")
        ctx.runner.summary(f"**selfheal: error** - {stage}: {md_text(str(exc), 2000)}\n")
        ctx.runner.set_outputs({"status": "error", "reason": str(exc)})
        raise


def _stage(args: argparse.Namespace, stage: str) -> int:
    ctx = _context(args)
    if ctx.decision.job == "skip":
        return _skip(ctx, ctx.decision.reason)

    def body() -> int:
        github = github_client(ctx.config, ctx.decision)
        token = secret("GITHUB_TOKEN") or ""
        try:
            target = _target(ctx, github, read_logs=stage != "propose")
        except Refused as refusal:
            return _skip(ctx, refusal.reason)
        if stage == "ack":  # seen in seconds; runs no project code
            acknowledged(github, ctx.decision, target, ctx.config, _run_url())
            outputs = {"job": target.job, "status": "acknowledged", "sha": target.sha}
            ctx.runner.set_outputs({**outputs, "reason": ctx.decision.reason})
            return 0
        if stage in ("run", "work"):
            progress = None
            if stage == "run":  # one job holds the write token: acknowledge, then follow
                target, progress = acknowledged(
                    github, ctx.decision, target, ctx.config, _run_url()
                )
            report = _work(ctx, target, token, progress)
            if stage == "work":
                ctx.runner.summary(render_markdown(report))
                _outputs(ctx, report, target.job)
                return 0  # the propose job reports the outcome, also when the loop gave up
        return _propose(ctx, github, target, token)

    return _guarded(ctx, stage, body)


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        config = config_from_args(args, repo_root(args.repo))
        print(json.dumps(asdict(decision_for(args, config)), indent=2))
        return 0
    return _stage(args, "run")


def ack(args: argparse.Namespace) -> int:
    return _stage(args, "ack")


def work(args: argparse.Namespace) -> int:
    return _stage(args, "work")


def propose(args: argparse.Namespace) -> int:
    return _stage(args, "propose")
