"""A GitHub event payload -> the job selfheal would do with it (pure).

Anything unexpected in a payload becomes a "skip" with a one-line reason, never an
exception (bot.github.payload_fields reads it). Only what the payload itself shows is
decided here; what needs the API (a pull request's branch, fork or not, the commenter's
permission) is left to the access check that follows (bot.github.trigger). The rules
themselves live in bot.github.access, for both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot.errors import BadInput
from bot.github.access import (
    bot_refusal,
    fork_refusal,
    is_allowed_bot,
    own_branch_refusal,
    thread_refusal,
)
from bot.github.comment_command import COMMAND, command_args
from bot.github.payload_fields import (
    Skip,
    branch_from,
    flag_at,
    json_type,
    labels_at,
    login_at,
    number_at,
    object_at,
    positive_number,
    quoted,
    run_id_of,
    sha_from,
    skip,
    text_at,
    value_at,
)

# review: a fork's red pull request gets the deterministic fixers' changes as suggestions.
Job = Literal["implement", "heal", "review", "skip"]

MAX_COMMENT_CHARS = 65536  # GitHub refuses longer comment bodies

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9._-]{1,100}")


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
class _Rules:
    trigger_label: str
    branch_prefix: str
    allowed_bots: frozenset[str]
    trigger_phrase: str = COMMAND


def _own_branch(branch: str, rules: _Rules) -> None:
    if refusal := own_branch_refusal(branch, rules.branch_prefix):
        skip(refusal)


def _no_bot(payload: Mapping[str, Any], where: str, rules: _Rules) -> None:
    """A bot that allowed_bots does not list ends the decision (selfheal's own included)."""
    login = login_at(payload, where)
    bot = text_at(payload, f"{where}.type") == "Bot"
    if bot and (refusal := bot_refusal(where, login, rules.allowed_bots)):
        skip(refusal)


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


def _issues(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
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


def _issue_comment(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
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


def _bot_commit(commit: Mapping[str, Any], rules: _Rules) -> None:
    """A failing commit made by a bot (selfheal's own included) is not healed: no loops."""
    for role in ("author", "committer"):
        person = commit.get(role)
        if not isinstance(person, Mapping):
            continue
        name, email = person.get("name"), person.get("email")
        name = name if isinstance(name, str) else ""
        email = email if isinstance(email, str) else ""
        if name.endswith("[bot]") or email.endswith("[bot]@users.noreply.github.com"):
            login = name if name.endswith("[bot]") else email.split("+")[-1].split("@")[0]
            if not is_allowed_bot(login, rules.allowed_bots):
                skip(f"the failing commit's {role} {quoted(login)} is a bot (no bot loops)")


def _workflow_run(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    action = text_at(payload, "action")
    if action != "completed":
        skip(f"a workflow run was {quoted(action)}; selfheal acts when one completes")
    run = object_at(payload, "workflow_run")
    conclusion = value_at(payload, "workflow_run.conclusion")
    if conclusion != "failure":
        shown = quoted(conclusion) if isinstance(conclusion, str) else json_type(conclusion)
        skip(f"the workflow run's conclusion is {shown}: nothing to heal")
    head_repository = text_at(payload, "workflow_run.head_repository.full_name")
    fork = fork_refusal(head_repository, base.repository or "", "the run")
    if fork and not _REPOSITORY.fullmatch(head_repository):
        skip(fork)
    branch = branch_from(value_at(payload, "workflow_run.head_branch"), "workflow_run.head_branch")
    if fork:
        return _fork_review(payload, base, rules, head_repository, branch)
    _own_branch(branch, rules)
    sha = sha_from(value_at(payload, "workflow_run.head_sha"), "workflow_run.head_sha")
    others: list[str] = []
    for role in ("actor", "triggering_actor"):  # older payloads have neither
        if isinstance(run.get(role), Mapping):
            _no_bot(payload, f"workflow_run.{role}", rules)
            login = login_at(payload, f"workflow_run.{role}")
            if login not in others and login != base.actor:
                others.append(login)
    if isinstance(commit := run.get("head_commit"), Mapping):
        _bot_commit(commit, rules)
    # Same-repository pull requests for this branch; GitHub lists none for forks.
    pulls = run.get("pull_requests")
    first = pulls[0] if isinstance(pulls, list) and pulls else None
    return replace(
        base,
        job="heal",
        reason=f"the workflow run on {quoted(branch)} failed: heal {sha[:12]}",
        pull_request=positive_number(first.get("number")) if isinstance(first, Mapping) else None,
        head_branch=branch,
        head_sha=sha,
        run_id=run_id_of(run.get("id")),
        other_actors=tuple(others),
    )


def _fork_review(
    payload: Mapping[str, Any], base: Decision, rules: _Rules, fork: str, branch: str
) -> Decision:
    """A red run on a fork's branch: only the safe part. The deterministic fixers run on the
    fork's code with no secret and no agent, and their changes become review suggestions on
    its pull request (found through the API); nothing is pushed anywhere."""
    sha = sha_from(value_at(payload, "workflow_run.head_sha"), "workflow_run.head_sha")
    run = object_at(payload, "workflow_run")
    for role in ("actor", "triggering_actor"):
        if isinstance(run.get(role), Mapping):
            _no_bot(payload, f"workflow_run.{role}", rules)
    return replace(
        base,
        job="review",
        reason=f"the run on the fork {quoted(fork)}'s branch {quoted(branch)} failed: its pull "
        "request gets the deterministic fixers' changes as suggestions (code from forks is "
        "never healed or pushed with this repository's credentials)",
        head_repository=fork,
        head_branch=branch,
        head_sha=sha,
        run_id=run_id_of(run.get("id")),
    )


def _input(inputs: Mapping[str, Any], name: str) -> str | int | None:
    value = inputs.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        skip(f"the workflow_dispatch input {name} is {json_type(value)}")
    return value.strip() if isinstance(value, str) else value


def _workflow_dispatch(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    inputs = payload.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        skip(f"the payload's inputs is {json_type(inputs)}, not an object")
    job, issue = _input(inputs, "job"), _input(inputs, "issue")
    if job is None and issue is not None:
        job = "implement"
    if job == "implement":
        # Inputs reach the payload as strings, whatever the input's type in the workflow.
        # (int() of a long enough digit string raises, hence the length check first.)
        if isinstance(issue, str):
            digits = issue.isascii() and issue.isdigit() and len(issue) <= 10
            issue = int(issue) if digits else None
        number = positive_number(issue)
        if number is None:
            skip("workflow_dispatch asks to implement, but its issue input is not an issue number")
        return replace(
            base,
            job="implement",
            reason=f"workflow_dispatch asks to implement issue #{number} (its state and labels "
            "are checked through the API)",
            issue=number,
        )
    if job == "heal":
        branch_input = _input(inputs, "branch")
        if branch_input is None:
            ref = text_at(payload, "ref")
            if not ref.startswith("refs/heads/"):
                skip(f"workflow_dispatch ran on {quoted(ref)}, which is not a branch")
            branch_input = ref.removeprefix("refs/heads/")
        branch = branch_from(branch_input, "inputs.branch")
        _own_branch(branch, rules)
        return replace(
            base,
            job="heal",
            reason=f"workflow_dispatch asks to heal {quoted(branch)}",
            head_branch=branch,
        )
    if job is None:
        skip(
            "workflow_dispatch without a job input (implement or heal) or an issue input: "
            "nothing to do"
        )
    raise Skip(f"the workflow_dispatch input job is {quoted(str(job))}, not implement or heal")


_EVENTS = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "workflow_run": _workflow_run,
    "workflow_dispatch": _workflow_dispatch,
}


def _repository(payload: Mapping[str, Any]) -> str:
    name = text_at(payload, "repository.full_name")
    if not _REPOSITORY.fullmatch(name):
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
    rules = _Rules(trigger_label, branch_prefix, bots, trigger_phrase)
    base = Decision("skip", "")
    try:
        handler = _EVENTS.get(event_name)
        if handler is None:
            known = ", ".join(_EVENTS)
            skip(f"selfheal does not act on {quoted(event_name)} events (only on {known})")
        base = replace(base, repository=_repository(payload))
        base = replace(base, actor=login_at(payload, "sender"))
        _no_bot(payload, "sender", rules)
        return handler(payload, base, rules)
    except Skip as skipped:
        return replace(base, job="skip", reason=skipped.reason, **skipped.known)
