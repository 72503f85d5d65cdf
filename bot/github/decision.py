"""What selfheal would do with one event (Decision), the configuration's rules for deciding
it, and the two checks every event shares: selfheal's own branches, and bots (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.github.access import bot_refusal, own_branch_refusal
from bot.github.comment_command import COMMAND
from bot.github.payload_fields import login_at, skip, text_at

# review: a fork's red pull request gets the deterministic fixers' changes as suggestions.
Job = Literal["implement", "heal", "review", "skip"]


@dataclass(frozen=True)
class Decision:
    """What selfheal would do with one event, and why."""

    job: Job
    reason: str
    issue: int | None = None
    pull_request: int | None = None
    head_branch: str | None = None
    head_sha: str | None = None
    repository: str | None = None
    actor: str | None = None
    command_args: str = ""
    run_id: int | None = None  # workflow_run: the failed run, for its logs
    # Everyone else whose permission is checked through the API (the upstream run's actors).
    other_actors: tuple[str, ...] = ()
    comment_id: int | None = None  # issue_comment: the comment with the command, to react to
    head_repository: str | None = None  # review: the fork the pull request comes from


@dataclass(frozen=True)
class Rules:
    """The configuration an event is decided under."""

    trigger_label: str
    branch_prefix: str
    allowed_bots: frozenset[str]
    trigger_phrase: str = COMMAND


def own_branch(branch: str, rules: Rules) -> None:
    if refusal := own_branch_refusal(branch, rules.branch_prefix):
        skip(refusal)


def no_bot(payload: Mapping[str, Any], where: str, rules: Rules) -> None:
    """A bot that allowed_bots does not list ends the decision (selfheal's own included)."""
    login = login_at(payload, where)
    bot = text_at(payload, f"{where}.type") == "Bot"
    if bot and (refusal := bot_refusal(where, login, rules.allowed_bots)):
        skip(refusal)
