"""A GitHub event payload -> the job selfheal would do with it (pure).

Anything unexpected in a payload becomes a "skip" with a one-line reason, never an
exception (bot.github.payload_fields reads it). Only what the payload itself shows is
decided here; what needs the API (a pull request's branch, fork or not, the commenter's
permission) is left to the access check that follows (bot.github.trigger). The rules
themselves live in bot.github.access, for both; the run events in bot.github.run_events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.errors import BadInput
from bot.github.access import thread_refusal
from bot.github.comment_command import COMMAND, command_args
from bot.github.decision import Decision, Rules, no_bot
from bot.github.payload_fields import (
    Skip,
    flag_at,
    json_type,
    labels_at,
    login_at,
    number_at,
    object_at,
    quoted,
    run_id_of,
    skip,
    text_at,
    value_at,
)
from bot.github.run_events import REPOSITORY, workflow_dispatch, workflow_run

MAX_COMMENT_CHARS = 65536  # GitHub refuses longer comment bodies


def _open(payload: Mapping[str, Any], kind: str, number: int, /, **known: Any) -> None:
    refusal = thread_refusal(
        kind,
        number,
        state=text_at(payload, "issue.state"),
        locked=flag_at(payload, "issue.locked"),
        labels=labels_at(payload),
    )
    if refusal:
        skip(refusal, **known)


# --- the events -----------------------------------------------------------------------------


def _issues(payload: Mapping[str, Any], base: Decision, rules: Rules) -> Decision:
    action = text_at(payload, "action")
    if action != "labeled":
        skip(f"an issue was {quoted(action)}; selfheal acts when one is labeled")
    issue = object_at(payload, "issue")
    number = number_at(payload, "issue.number")
    label = text_at(payload, "label.name")
    if label.casefold() != rules.trigger_label.casefold():
        skip(
            f"issue #{number} was labeled {quoted(label)}, not the trigger label "
            f"{quoted(rules.trigger_label)}",
            issue=number,
        )
    if issue.get("pull_request") is not None:
        skip(f"#{number} is a pull request, not an issue", pull_request=number)
    _open(payload, "issue", number, issue=number)
    return replace(
        base,
        job="implement",
        reason=f"issue #{number} was labeled {quoted(label)}: implement it",
        issue=number,
    )


def _issue_comment(payload: Mapping[str, Any], base: Decision, rules: Rules) -> Decision:
    action = text_at(payload, "action")
    if action != "created":
        # An edited comment would run its command again; only new comments are commands.
        skip(f"a comment was {quoted(action)}; only new comments can hold a command")
    issue = object_at(payload, "issue")
    number = number_at(payload, "issue.number")
    pull = issue.get("pull_request")
    if pull is not None and not isinstance(pull, Mapping):
        skip(f"the payload's issue.pull_request is {json_type(pull)}, not an object")
    kind, known = (
        ("pull request", {"pull_request": number})
        if pull is not None
        else ("issue", {"issue": number})
    )
    body = value_at(payload, "comment.body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        skip(f"the payload's comment.body is {json_type(body)}, not a string", **known)
    if len(body) > MAX_COMMENT_CHARS:
        skip(f"the comment is longer than GitHub allows ({MAX_COMMENT_CHARS} characters)", **known)
    command = rules.trigger_phrase
    args = command_args(body, command)
    if args is None:
        skip(f"the comment on {kind} #{number} has no line starting with {command}", **known)
    _open(payload, kind, number, **known)
    comment = object_at(payload, "comment")
    base = replace(base, comment_id=run_id_of(comment.get("id")))  # ids are past 2**31 too
    if pull is not None:
        return replace(
            base,
            job="heal",
            reason=f"{command} on pull request #{number}: heal its head branch (which branch "
            "that is, and whether it comes from a fork, is looked up through the API)",
            pull_request=number,
            command_args=args,
        )
    return replace(
        base,
        job="implement",
        reason=f"{command} on issue #{number}: implement it",
        issue=number,
        command_args=args,
    )


_EVENTS = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "workflow_run": workflow_run,
    "workflow_dispatch": workflow_dispatch,
}


def _repository(payload: Mapping[str, Any]) -> str:
    name = text_at(payload, "repository.full_name")
    if not REPOSITORY.fullmatch(name):
        skip(f"the payload's repository.full_name {quoted(name)} is not owner/name")
    return name


def decide(
    event_name: str,
    payload: object,
    *,
    trigger_label: str,
    branch_prefix: str,
    allowed_bots: Sequence[str] = (),
    trigger_phrase: str = COMMAND,
) -> Decision:
    """The job for one event (implement, heal, or skip with the reason), from the payload alone.

    A file that is not a webhook payload at all (not an object, or without the `repository`
    and `sender` objects every payload has) is bad input, not a skip: the workflow hands
    selfheal the wrong file, and exit 0 would hide it."""
    if not isinstance(payload, Mapping):
        raise BadInput(
            f"the event payload is {json_type(payload)}, not an object: not a GitHub webhook payload"
        )
    for part in ("repository", "sender"):
        if not isinstance(payload.get(part), Mapping):
            raise BadInput(
                f"the event payload's {part} is {json_type(payload.get(part))}, not an object: "
                "not a GitHub webhook payload"
            )
    bots = frozenset(b.casefold() for b in allowed_bots)
    rules = Rules(trigger_label, branch_prefix, bots, trigger_phrase)
    base = Decision("skip", "")
    try:
        handler = _EVENTS.get(event_name)
        if handler is None:
            known = ", ".join(_EVENTS)
            skip(f"selfheal does not act on {quoted(event_name)} events (only on {known})")
        base = replace(base, repository=_repository(payload))
        base = replace(base, actor=login_at(payload, "sender"))
        no_bot(payload, "sender", rules)
        return handler(payload, base, rules)
    except Skip as skipped:
        return replace(base, job="skip", reason=skipped.reason, **skipped.known)
