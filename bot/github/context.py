"""One Actions invocation's context: the event read and decided, the API client for the
event's repository, the runner's files, and this run's page. Every stage starts here.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.errors import BadInput
from bot.forge.github import DEFAULT_API_URL, GitHub
from bot.github.actions import Runner
from bot.github.decision import Decision
from bot.github.events import decide
from bot.secrets import environment

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's cap on webhook payloads


def setting(flag_value: str | None, variable: str, flag: str) -> str:
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
    event_name = setting(args.event_name, "GITHUB_EVENT_NAME", "--event-name NAME")
    event_path = Path(setting(args.event_path, "GITHUB_EVENT_PATH", "--event-path FILE"))
    decision = decide(
        event_name,
        read_event(event_path),
        trigger_label=config.trigger_label,
        branch_prefix=config.branch_prefix,
        allowed_bots=config.allowed_bots,
        trigger_phrase=config.trigger_phrase,
    )
    mode = getattr(args, "mode", None) or "auto"
    wanted = "heal" if decision.job == "review" else decision.job  # a review heals, safely
    if decision.job != "skip" and mode not in ("auto", wanted):
        return Decision("skip", f"the event asks to {decision.job}, but mode is {mode}")
    return decision


def github_client(config: Config, decision: Decision | None = None) -> GitHub:
    """The API client for $GITHUB_REPOSITORY, which must be the repository of the event."""
    repository = setting(None, "GITHUB_REPOSITORY", "GITHUB_REPOSITORY=owner/name")
    said = decision.repository if decision is not None else None
    if said and said.casefold() != repository.casefold():
        raise BadInput(f"the event is for {said} but GITHUB_REPOSITORY is {repository}: refused")
    token = setting(None, "GITHUB_TOKEN", "GITHUB_TOKEN (the action's github-token input)")
    api_url = os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    return GitHub(repository, token, api_url, write_interval=config.api_write_interval)


def run_url() -> str | None:
    """This workflow run's page, from the variables every runner sets."""
    server, repository, run_id = (
        os.environ.get(name, "")
        for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repository and run_id.isdigit()):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}"
