"""A GitHub event payload -> the job selfheal would do with it (pure).

Payloads are hostile input: anyone who can comment can shape part of one, and a file named
by GITHUB_EVENT_PATH can hold anything. So every field is checked for type and shape here,
and anything unexpected becomes a "skip" with a one-line reason, never an exception.
Only what the payload itself shows is decided here; what needs the API (a pull request's
branch, fork or not, the commenter's permission) is left to the access check that follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NoReturn

from bot.comment_command import COMMAND, command_args
from bot.errors import BadInput
from bot.refs import branch_name_problem

Job = Literal["implement", "heal", "skip"]

KILL_SWITCH_LABEL = "selfheal:off"
MAX_COMMENT_CHARS = 65536  # GitHub refuses longer comment bodies
_MAX_NUMBER = 2**31 - 1

_SHA = re.compile(r"[0-9a-fA-F]{40}")
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")
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


@dataclass(frozen=True)
class _Rules:
    trigger_label: str
    branch_prefix: str
    allowed_bots: frozenset[str]
    trigger_phrase: str = COMMAND


class _Skip(Exception):
    """Ends a decision early: the reason, and the fields already known (an issue number)."""

    def __init__(self, reason: str, **known: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.known = known


def _skip(reason: str, **known: Any) -> NoReturn:
    raise _Skip(reason, **known)


# --- reading a payload ----------------------------------------------------------------------


def _shown(text: str, limit: int = 80) -> str:
    """Untrusted text quoted for a one-line reason: escaped, and cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def _at(obj: Mapping[str, Any], path: str) -> object:
    """The value at a dotted path such as `workflow_run.head_repository.full_name`."""
    value: object = obj
    walked: list[str] = []
    for key in path.split("."):
        if not isinstance(value, Mapping):
            where = ".".join(walked)
            _skip(f"the payload's {where} is {_json_type(value)}, not an object")
        walked.append(key)
        if key not in value:
            _skip(f"the payload has no {path}")
        value = value[key]
    return value


def _mapping(obj: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    value = _at(obj, path)
    if not isinstance(value, Mapping):
        _skip(f"the payload's {path} is {_json_type(value)}, not an object")
    return value


def _text(obj: Mapping[str, Any], path: str) -> str:
    value = _at(obj, path)
    if not isinstance(value, str):
        _skip(f"the payload's {path} is {_json_type(value)}, not a string")
    return value


def _flag(obj: Mapping[str, Any], path: str) -> bool:
    value = _at(obj, path)
    if not isinstance(value, bool):
        _skip(f"the payload's {path} is {_json_type(value)}, not a boolean")
    return value


def _positive(value: object) -> int | None:
    """An issue or pull request number (JSON's true is not 1), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_NUMBER:
        return None
    return value


def _run_id(value: object) -> int | None:
    """A workflow run id: unlike issue numbers, these are past 2**31 already."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        return None
    return value


def _number(obj: Mapping[str, Any], path: str) -> int:
    number = _positive(_at(obj, path))
    if number is None:
        _skip(f"the payload's {path} is not an issue or pull request number")
    return number


# --- names ----------------------------------------------------------------------------------


def _branch(value: object, where: str) -> str:
    if not isinstance(value, str):
        _skip(f"the payload's {where} is {_json_type(value)}, not a branch name")
    problem = branch_name_problem(value)
    if problem is not None:
        _skip(f"branch {_shown(value)} {problem}")
    return value


def _sha(value: object, where: str) -> str:
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        shown = _shown(value) if isinstance(value, str) else _json_type(value)
        _skip(f"the payload's {where} ({shown}) is not a 40-digit commit SHA")
    return value.lower()


def _own_branch(branch: str, rules: _Rules) -> None:
    if rules.branch_prefix and branch.startswith(rules.branch_prefix):
        _skip(
            f"branch {_shown(branch)} is one of selfheal's own (prefix "
            f"{_shown(rules.branch_prefix)}): healing it could loop"
        )


def _is_allowed_bot(login: str, rules: _Rules) -> bool:
    name = login.casefold()
    return name in rules.allowed_bots or name.removesuffix("[bot]") in rules.allowed_bots


def _login(payload: Mapping[str, Any], where: str) -> str:
    login = _text(payload, f"{where}.login")
    if not _LOGIN.fullmatch(login):
        _skip(f"the payload's {where}.login {_shown(login)} is not a GitHub login")
    return login


def _no_bot(payload: Mapping[str, Any], where: str, rules: _Rules) -> None:
    """A bot that allowed_bots does not list ends the decision (selfheal's own included)."""
    login = _login(payload, where)
    if _text(payload, f"{where}.type") == "Bot" and not _is_allowed_bot(login, rules):
        _skip(f"{where} {login} is a bot that allowed_bots does not list (no bot loops)")


def _labels(payload: Mapping[str, Any]) -> list[str]:
    labels = _at(payload, "issue.labels")
    if not isinstance(labels, list):
        _skip(f"the payload's issue.labels is {_json_type(labels)}, not an array")
    names = []
    for label in labels:
        if not isinstance(label, Mapping) or not isinstance(label.get("name"), str):
            _skip("the payload's issue.labels holds an entry without a name")
        names.append(label["name"])
    return names


def _open(payload: Mapping[str, Any], kind: str, number: int, /, **known: Any) -> None:
    """Closed, locked, or kill-switched issues and pull requests are left alone."""
    state = _text(payload, "issue.state")
    if state != "open":
        _skip(f"{kind} #{number} is {_shown(state)}, not open", **known)
    if _flag(payload, "issue.locked"):
        _skip(f"{kind} #{number} is locked", **known)
    if KILL_SWITCH_LABEL in (name.casefold() for name in _labels(payload)):
        _skip(f"{kind} #{number} has the {KILL_SWITCH_LABEL} label", **known)


# --- the events -----------------------------------------------------------------------------


def _issues(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    action = _text(payload, "action")
    if action != "labeled":
        _skip(f"an issue was {_shown(action)}; selfheal acts when one is labeled")
    issue = _mapping(payload, "issue")
    number = _number(payload, "issue.number")
    label = _text(payload, "label.name")
    if label.casefold() != rules.trigger_label.casefold():
        _skip(
            f"issue #{number} was labeled {_shown(label)}, not the trigger label "
            f"{_shown(rules.trigger_label)}",
            issue=number,
        )
    if issue.get("pull_request") is not None:
        _skip(f"#{number} is a pull request, not an issue", pull_request=number)
    _open(payload, "issue", number, issue=number)
    return replace(
        base,
        job="implement",
        reason=f"issue #{number} was labeled {_shown(label)}: implement it",
        issue=number,
    )


def _issue_comment(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    action = _text(payload, "action")
    if action != "created":
        # An edited comment would run its command again; only new comments are commands.
        _skip(f"a comment was {_shown(action)}; only new comments can hold a command")
    issue = _mapping(payload, "issue")
    number = _number(payload, "issue.number")
    pull = issue.get("pull_request")
    if pull is not None and not isinstance(pull, Mapping):
        _skip(f"the payload's issue.pull_request is {_json_type(pull)}, not an object")
    kind, known = (
        ("pull request", {"pull_request": number})
        if pull is not None
        else ("issue", {"issue": number})
    )
    body = _at(payload, "comment.body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        _skip(f"the payload's comment.body is {_json_type(body)}, not a string", **known)
    if len(body) > MAX_COMMENT_CHARS:
        _skip(f"the comment is longer than GitHub allows ({MAX_COMMENT_CHARS} characters)", **known)
    command = rules.trigger_phrase
    args = command_args(body, command)
    if args is None:
        _skip(f"the comment on {kind} #{number} has no line starting with {command}", **known)
    _open(payload, kind, number, **known)
    comment = _mapping(payload, "comment")
    base = replace(base, comment_id=_run_id(comment.get("id")))  # ids are past 2**31 too
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
            if not _is_allowed_bot(login, rules):
                _skip(f"the failing commit's {role} {_shown(login)} is a bot (no bot loops)")


def _workflow_run(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    action = _text(payload, "action")
    if action != "completed":
        _skip(f"a workflow run was {_shown(action)}; selfheal acts when one completes")
    run = _mapping(payload, "workflow_run")
    conclusion = _at(payload, "workflow_run.conclusion")
    if conclusion != "failure":
        shown = _shown(conclusion) if isinstance(conclusion, str) else _json_type(conclusion)
        _skip(f"the workflow run's conclusion is {shown}: nothing to heal")
    head_repository = _text(payload, "workflow_run.head_repository.full_name")
    if head_repository != base.repository:
        _skip(
            f"the run is for a fork ({_shown(head_repository)}): code from forks is not "
            "healed with this repository's credentials"
        )
    branch = _branch(_at(payload, "workflow_run.head_branch"), "workflow_run.head_branch")
    _own_branch(branch, rules)
    sha = _sha(_at(payload, "workflow_run.head_sha"), "workflow_run.head_sha")
    others: list[str] = []
    for role in ("actor", "triggering_actor"):  # older payloads have neither
        if isinstance(run.get(role), Mapping):
            _no_bot(payload, f"workflow_run.{role}", rules)
            login = _login(payload, f"workflow_run.{role}")
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
        reason=f"the workflow run on {_shown(branch)} failed: heal {sha[:12]}",
        pull_request=_positive(first.get("number")) if isinstance(first, Mapping) else None,
        head_branch=branch,
        head_sha=sha,
        run_id=_run_id(run.get("id")),
        other_actors=tuple(others),
    )


def _input(inputs: Mapping[str, Any], name: str) -> str | int | None:
    value = inputs.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        _skip(f"the workflow_dispatch input {name} is {_json_type(value)}")
    return value.strip() if isinstance(value, str) else value


def _workflow_dispatch(payload: Mapping[str, Any], base: Decision, rules: _Rules) -> Decision:
    inputs = payload.get("inputs")
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        _skip(f"the payload's inputs is {_json_type(inputs)}, not an object")
    job, issue = _input(inputs, "job"), _input(inputs, "issue")
    if job is None and issue is not None:
        job = "implement"
    if job == "implement":
        # Inputs reach the payload as strings, whatever the input's type in the workflow.
        # (int() of a long enough digit string raises, hence the length check first.)
        if isinstance(issue, str):
            digits = issue.isascii() and issue.isdigit() and len(issue) <= 10
            issue = int(issue) if digits else None
        number = _positive(issue)
        if number is None:
            _skip("workflow_dispatch asks to implement, but its issue input is not an issue number")
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
            ref = _text(payload, "ref")
            if not ref.startswith("refs/heads/"):
                _skip(f"workflow_dispatch ran on {_shown(ref)}, which is not a branch")
            branch_input = ref.removeprefix("refs/heads/")
        branch = _branch(branch_input, "inputs.branch")
        _own_branch(branch, rules)
        return replace(
            base,
            job="heal",
            reason=f"workflow_dispatch asks to heal {_shown(branch)}",
            head_branch=branch,
        )
    if job is None:
        _skip(
            "workflow_dispatch without a job input (implement or heal) or an issue input: "
            "nothing to do"
        )
    _skip(f"the workflow_dispatch input job is {_shown(str(job))}, not implement or heal")


_EVENTS = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "workflow_run": _workflow_run,
    "workflow_dispatch": _workflow_dispatch,
}


def _repository(payload: Mapping[str, Any]) -> str:
    name = _text(payload, "repository.full_name")
    if not _REPOSITORY.fullmatch(name):
        _skip(f"the payload's repository.full_name {_shown(name)} is not owner/name")
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
            f"the event payload is {_json_type(payload)}, not an object: not a GitHub webhook payload"
        )
    for part in ("repository", "sender"):
        if not isinstance(payload.get(part), Mapping):
            raise BadInput(
                f"the event payload's {part} is {_json_type(payload.get(part))}, not an object: "
                "not a GitHub webhook payload"
            )
    bots = frozenset(b.casefold() for b in allowed_bots)
    rules = _Rules(trigger_label, branch_prefix, bots, trigger_phrase)
    base = Decision("skip", "")
    try:
        handler = _EVENTS.get(event_name)
        if handler is None:
            known = ", ".join(_EVENTS)
            _skip(f"selfheal does not act on {_shown(event_name)} events (only on {known})")
        base = replace(base, repository=_repository(payload))
        base = replace(base, actor=_login(payload, "sender"))
        _no_bot(payload, "sender", rules)
        return handler(payload, base, rules)
    except _Skip as skip:
        return replace(base, job="skip", reason=skip.reason, **skip.known)
