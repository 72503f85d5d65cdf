"""`selfheal run`, `ack`, `work`, `propose`, `stopped`: the GitHub Actions entry points.

run = ack, work then propose, in one process. The reusable workflow runs them as jobs:
`ack` (write token; no project code) says "working on it", `work` (the loop; project code
and the agent run; no write token) writes a bundle, `propose` (write token; no project code)
re-decides, re-checks and proposes it, and `stopped` replaces "working on it" when a job
died before the report. A fork's red pull request takes the review path instead
(bot/commands/review.py).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from dataclasses import asdict
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
from bot.forge.github import ForgeError, GitHub
from bot.github.acknowledge import acknowledged, links_for
from bot.github.actions import Runner, usage_outputs
from bot.github.bundle import BundleMeta, read_bundle, write_meta
from bot.github.context import Context, decision_for, github_client, run_url
from bot.github.trigger import Refused, Target, resolve
from bot.render.comment import find_sticky, render_stopped, runs_so_far, still_working
from bot.render.markdown import render_markdown
from bot.render.text import md_text
from bot.report import Report, load_report
from bot.secrets import secret

if TYPE_CHECKING:
    from bot.github.publish import Push


def context_for(args: argparse.Namespace) -> Context:
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
    mode = target.job
    assert mode != "review"  # the review path never runs the loop
    check_gate_programs(ctx.config, ctx.repo)
    git.ensure_commit(ctx.repo, target.sha, token=token)
    for note in target.notes:
        print(f"selfheal: {note}")
    agent = make_agent(ctx.config)
    if target.job == "implement":
        require_agent(agent)
    check_agent_program(agent, ctx.config)
    job = Job(
        mode=mode,
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
        run_url=run_url(),
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


def _stopped(ctx: Context, github: GitHub, target: Target, why: str) -> int:
    """A job died before the report: the sticky comment that still says "working on it"
    says that it stopped, and why, instead (a report already there is left alone)."""
    if target.thread is None:
        return 0
    sticky = find_sticky(github.comments(target.thread))
    if sticky is None or not still_working(sticky.body):
        print("selfheal: no 'working on it' comment left to replace")
        ctx.runner.set_outputs({"status": "reported"})
        return 0
    runs = runs_so_far(sticky.body) + 1  # a run that died still counts toward max_runs
    body = render_stopped(runs=runs, why=why, links=links_for(run_url()))
    print(f"selfheal: {github.edit_comment(sticky.id, body).html_url} says it stopped: {why}")
    ctx.runner.set_outputs({"status": "stopped", "reason": why})
    return 0


def _stage(args: argparse.Namespace, stage: str) -> int:
    ctx = context_for(args)
    if ctx.decision.job == "skip":
        return _skip(ctx, ctx.decision.reason)
    if ctx.decision.job == "review" and stage != "stopped":
        from bot.commands.review import review_stage

        return _guarded(ctx, stage, lambda: review_stage(ctx, stage))

    def body() -> int:
        github = github_client(ctx.config, ctx.decision)
        token = secret("GITHUB_TOKEN") or ""
        try:
            target = _target(ctx, github, read_logs=stage not in ("propose", "stopped"))
        except Refused as refusal:
            return _skip(ctx, refusal.reason)
        if stage == "stopped":
            return _stopped(ctx, github, target, args.why)
        if stage == "ack":  # seen in seconds; runs no project code
            target, _ = acknowledged(github, ctx.decision, target, ctx.config, run_url())
            outputs = {"job": target.job, "status": "acknowledged", "sha": target.sha}
            outputs["comment-id"] = str(target.sticky_id or "")
            ctx.runner.set_outputs({**outputs, "reason": ctx.decision.reason})
            return 0
        if stage in ("run", "work"):
            progress = None
            if stage == "run":  # one job holds the write token: acknowledge, then follow
                target, progress = acknowledged(github, ctx.decision, target, ctx.config, run_url())
            try:
                report = _work(ctx, target, token, progress)
            except SelfhealError as exc:
                if stage == "run" and target.sticky_id is not None:
                    # One job: nobody else will replace "working on it" when this one ends.
                    why = f"the run ended with an error: {exc}"
                    body = render_stopped(runs=target.runs + 1, why=why, links=links_for(run_url()))
                    try:
                        github.edit_comment(target.sticky_id, body)
                    except ForgeError as failed:  # the error above is the one to report
                        print(f"selfheal: the comment still says working on it: {failed}")
                raise
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


def stopped(args: argparse.Namespace) -> int:
    return _stage(args, "stopped")
