"""`selfheal run`: the GitHub Actions entry point; reads the event and decides the job.

Only `--dry-run` exists so far: it prints the decision from the payload and the
configuration alone, with no network call.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from bot.commands.common import config_from_args, repo_root
from bot.errors import BadInput
from bot.events import decide

MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's cap on webhook payloads


def _setting(flag_value: str | None, variable: str, flag: str) -> str:
    value = flag_value if flag_value is not None else os.environ.get(variable, "")
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


def run(args: argparse.Namespace) -> int:
    if not args.dry_run:
        raise BadInput(
            "`selfheal run` without --dry-run is not available yet (it would act on GitHub); "
            "`selfheal run --dry-run` shows what it would do, and `selfheal heal` or "
            "`selfheal implement --issue-file FILE` work on a local checkout"
        )
    event_name = _setting(args.event_name, "GITHUB_EVENT_NAME", "--event-name NAME")
    event_path = Path(_setting(args.event_path, "GITHUB_EVENT_PATH", "--event-path FILE"))
    payload = read_event(event_path)
    config = config_from_args(args, repo_root(args.repo))
    decision = decide(
        event_name,
        payload,
        trigger_label=config.trigger_label,
        branch_prefix=config.branch_prefix,
        allowed_bots=config.allowed_bots,
    )
    print(json.dumps(asdict(decision), indent=2))
    return 0
