"""`selfheal heal` and `selfheal implement`: the fix loop on a local checkout."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from bot.agent.base import Agent
from bot.agent.select import make_agent
from bot.artifacts import report_dir_for, write_artifacts
from bot.commands.common import check_gate_programs, config_from_args, repo_root
from bot.config import Config
from bot.errors import BadInput, SelfhealError
from bot.fix.loop import Job, Run
from bot.progress import commands_paused, loop_progress, on_actions
from bot.render.console import summary_lines
from bot.report import Issue, Report, Status, StopReason
from bot.transcript import Transcript

MAX_ISSUE_BYTES = 256 * 1024


def read_issue(path: str, number: int | None) -> Issue:
    """An issue from a JSON file (number, title, body) or a Markdown file ('# title' then body)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadInput(f"--issue-file {path}: {exc.strerror}") from exc
    if len(data) > MAX_ISSUE_BYTES:
        raise BadInput(
            f"--issue-file {path}: {len(data)} bytes is more than the {MAX_ISSUE_BYTES} allowed"
        )
    text = data.decode("utf-8", errors="replace")
    if file.suffix == ".json":
        try:
            raw = json.loads(text)
            issue = Issue(
                number=raw.get("number") if number is None else number,
                title=str(raw.get("title") or ""),
                body=str(raw.get("body") or ""),
                url=raw.get("html_url"),
            )
        except (ValueError, AttributeError, TypeError) as exc:
            raise BadInput(
                f"--issue-file {path}: expected a JSON object with title and body: {exc}"
            ) from exc
    else:
        first, _, rest = text.lstrip().partition("\n")
        title = first.lstrip("#").strip() if first.startswith("#") else ""
        issue = Issue(number=number, title=title, body=rest if title else text)
    if not (issue.title or issue.body).strip():
        raise BadInput(f"--issue-file {path}: the issue has no title and no body")
    return issue


def execute(job: Job, *, as_json: bool) -> int:
    """Run the loop, always write the report files, print the outcome; returns the exit code."""
    # Stage lines on stderr (and the step summary, and the caller's), gate steps as they run.
    shown = loop_progress(job.progress, out=sys.stderr if as_json else None)  # stdout: JSON
    job = dataclasses.replace(job, progress=shown)
    transcript = Transcript(job.report_dir / "transcript.jsonl")
    run = Run(job, transcript)
    try:
        with shown.shown():
            report = run.execute()
    except KeyboardInterrupt as exc:  # bot.signals.Interrupted: SIGINT, SIGTERM or SIGHUP
        said = str(exc) or "interrupted (Ctrl-C)"
        _save(
            run,
            Status.INTERRUPTED,
            StopReason.INTERRUPTED,
            f"{said}; the working tree is as it was, the fix so far is in fix.patch",
        )
        raise
    except SelfhealError as exc:
        if run.report.base_sha:  # the workspace opened, so there is a run worth reporting
            _save(run, Status.ERROR, StopReason.CRASHED, str(exc))
        raise
    except Exception as exc:
        _save(run, Status.ERROR, StopReason.CRASHED, f"internal error: {type(exc).__name__}: {exc}")
        raise
    report = write_artifacts(job.report_dir, report, run.patch)
    with commands_paused(on_actions() and not as_json):  # it shows the project's words
        _print(report, as_json=as_json)
    return report.exit_code


def _save(run: Run, status: Status, reason: StopReason, detail: str) -> Report:
    run._end(status, reason, detail)
    return write_artifacts(run.job.report_dir, run.finish(), run.patch)


def _print(report: Report, *, as_json: bool) -> None:
    if as_json:
        print(report.model_dump_json(indent=2))
        for line in summary_lines(report):
            print(line, file=sys.stderr)
    else:
        print("\n".join(summary_lines(report)))


def require_agent(agent: Agent) -> None:
    """Implementing an issue is an agent's job: without one, refuse before any work."""
    if agent.name == "none":
        raise BadInput(
            "implementing an issue needs an agent, and none is configured: set "
            "ANTHROPIC_API_KEY (--agent claude), or give --agent command --agent-command "
            "'CMD {prompt_file}', or --agent-preset NAME"
        )


def check_agent_program(agent: Agent, config: Config) -> None:
    """A command agent (a preset's tool, say) that is not installed is said before any work."""
    from bot.agent.command import CommandAgent
    from bot.proc import scrubbed_env

    if isinstance(agent, CommandAgent):
        agent.check_installed(scrubbed_env(allow=config.env_allow).get("PATH"))


def build_job(
    args: argparse.Namespace, mode: str, agent: Agent | None = None, issue: Issue | None = None
) -> Job:
    repo = repo_root(args.repo)
    config = config_from_args(args, repo)
    check_gate_programs(config, repo)
    agent = agent or make_agent(config)
    if mode == "implement":
        require_agent(agent)
    check_agent_program(agent, config)
    return Job(
        mode="implement" if mode == "implement" else "heal",
        repo=repo,
        config=config,
        agent=agent,
        report_dir=report_dir_for(repo, Path(args.report_dir) if args.report_dir else None),
        push=not args.no_push,
        issue=issue,
        failing_tests=tuple(getattr(args, "tests", None) or ()),
    )


def heal(args: argparse.Namespace) -> int:
    return execute(build_job(args, "heal"), as_json=args.json)


def implement(args: argparse.Namespace) -> int:
    issue = read_issue(args.issue_file, args.issue_number)
    return execute(build_job(args, "implement", issue=issue), as_json=args.json)
