"""Propose on GitHub: re-check the patch, commit, push, open or update the pull request,
then report (sticky comment, check run, step summary). Runs no project code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.errors import ProposalError
from bot.fix import proposal
from bot.fix.proposal import commit_message
from bot.forge import git
from bot.forge.github import ForgeError, GitHub, Pull
from bot.github.actions import Runner
from bot.github.trigger import Target
from bot.render.comment import find_sticky, render_comment
from bot.render.markdown import render_markdown
from bot.render.pull_request import failure_annotations, pull_body, pull_title
from bot.report import Proposal, Report, Status, StopReason

CHECK_NAME = "selfheal"
_CONCLUSION = {
    Status.GREEN: "success",
    Status.HEALED: "neutral",  # the commit itself still fails; the fix is in a pull request
    Status.PROPOSED: "success",
    Status.FLAKY: "neutral",
    Status.GAVE_UP: "failure",
    Status.REFUSED: "failure",
    Status.NOT_PROPOSED: "failure",
    Status.NOT_REPRODUCED: "neutral",
    Status.INTERRUPTED: "cancelled",
    Status.ERROR: "failure",
}


@dataclass(frozen=True)
class Push:
    """Where the proposal goes: a URL from selfheal's settings (never the checkout's remote
    configuration), and the token, sent only to `token_host`."""

    url: str
    token: str | None = None
    token_host: str | None = None


@dataclass(frozen=True)
class Published:
    report: Report
    pull: Pull | None
    comment_url: str | None
    exit_code: int


def _commit(
    repo: Path, target: Target, report: Report, patch: str, *, config: Config, push: Push
) -> Report:
    """Rebuild the patch on the target commit (guards re-checked, the verified tree matched)
    and push it: the same path a local heal takes."""
    verified = report.gate_after.tree if report.gate_after is not None else None
    mode = target.job
    assert mode != "review"  # a fork review never commits or pushes
    with git.open_workspace(repo, target.sha) as ws:
        try:
            built = proposal.build(
                ws,
                patch,
                mode=mode,
                config=config,
                message=commit_message(report),
                verified_tree=verified,
            )
        except ProposalError as exc:
            return _not_proposed(report, str(exc), None)
        if built.commit is None:
            return report.model_copy(
                update={
                    "status": Status.REFUSED,
                    "stop_reason": StopReason.REFUSED,
                    "detail": "the patch failed the guards when re-checked before proposing: "
                    f"{built.refusal}",
                    "proposal": None,
                }
            )
        done = proposal.deliver(
            ws,
            built.commit,
            target.branch,
            url=push.url,
            local=False,
            token=push.token,
            token_host=push.token_host,
        )
    done = done.model_copy(update={"base": target.into})
    if done.push_error:
        return _not_proposed(report, done.push_error, done)
    return report.model_copy(update={"proposal": done})


def _not_proposed(report: Report, why: str, done: Proposal | None) -> Report:
    return report.model_copy(
        update={
            "status": Status.NOT_PROPOSED,
            "stop_reason": StopReason.NOT_PROPOSED,
            "detail": f"the gate is green on the fix, but it was not proposed: {why}",
            "proposal": done,
        }
    )


def _open_or_update(
    github: GitHub, target: Target, report: Report, config: Config, run_url: str | None
) -> Pull:
    title = pull_title(report)
    body = pull_body(report, into=target.into, report_url=run_url)
    existing = github.find_pull(target.branch, base=target.into)
    if existing is not None:
        return github.update_pull(existing.number, title=title, body=body)
    pull = github.open_pull(
        head=target.branch, base=target.into, title=title, body=body, draft=config.draft
    )
    if config.pr_labels:
        github.add_labels(pull.number, config.pr_labels)
    if target.reviewer and not target.reviewer.endswith("[bot]"):
        github.request_reviewers(pull.number, [target.reviewer])
    return pull


def _check_run(
    github: GitHub, runner: Runner, target: Target, report: Report, run_url: str | None
) -> None:
    """The `selfheal` check: on the failing commit for a heal (annotations at its failures),
    on the proposed commit for an implementation; ::error:: lines when the token can't."""
    failures = report.gate_before.failures if report.gate_before else report.failures
    annotations = failure_annotations(failures)
    summary = render_markdown(report, max_chars=60_000)
    sha = target.sha
    if target.job == "implement" and report.proposal is not None and report.proposal.pushed:
        sha = report.proposal.commit
    try:
        check = github.create_check_run(name=CHECK_NAME, head_sha=sha, details_url=run_url)
        github.complete_check_run(
            check,
            conclusion=_CONCLUSION[report.status],
            title=f"selfheal: {report.status.value.replace('_', ' ')}",
            summary=summary,
            annotations=annotations,
        )
    except ForgeError as exc:
        if exc.status not in (403, 404):
            raise
        runner.notice(f"no check run ({exc}); the failures follow as annotations")
        for a in annotations:
            runner.error(a.message, file=a.path, line=a.start_line)


def publish(
    github: GitHub,
    runner: Runner,
    target: Target,
    report: Report,
    patch: str,
    *,
    repo: Path,
    config: Config,
    push: Push,
    run_url: str | None = None,
) -> Published:
    """Propose the fix (when there is one) and write every report; returns what was done.

    `run_url` is the workflow run's page, linked from the pull request and the comment."""
    pull: Pull | None = None
    if report.status in (Status.HEALED, Status.PROPOSED):
        report = _commit(repo, target, report, patch, config=config, push=push)
    if report.proposal is not None and report.proposal.pushed:
        pull = _open_or_update(github, target, report, config, run_url)
        linked = report.proposal.model_copy(
            update={"pr_number": pull.number, "pr_url": pull.html_url}
        )
        report = report.model_copy(update={"proposal": linked})
    exit_code = report.exit_code
    thread = target.thread or (pull.number if pull is not None else None)
    comment_url = None
    if thread is not None:
        links = [f"Pull request: {pull.html_url}"] if pull is not None else []
        links += [f"Workflow run: {run_url}"] if run_url else []
        body = render_comment(report, runs=target.runs + 1, links=links)
        sticky_id = target.sticky_id if thread == target.thread else None
        if sticky_id is None:
            found = find_sticky(github.comments(thread))
            sticky_id = found.id if found is not None else None
        if sticky_id is None:
            comment_url = github.comment(thread, body).html_url
        else:
            comment_url = github.edit_comment(sticky_id, body).html_url
    _check_run(github, runner, target, report, run_url)
    return Published(report=report, pull=pull, comment_url=comment_url, exit_code=exit_code)
