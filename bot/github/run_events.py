"""The run events: a failed workflow run (heal, or for a fork only review) and a manual
dispatch (heal a branch or implement an issue), from the payload alone (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.github.access import fork_refusal, is_allowed_bot
from bot.github.decision import Decision, Rules, no_bot, own_branch
from bot.github.payload_fields import (
    Skip,
    branch_from,
    json_type,
    login_at,
    object_at,
    positive_number,
    quoted,
    run_id_of,
    sha_from,
    skip,
    text_at,
    value_at,
)

REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9._-]{1,100}")


def _bot_commit(commit: Mapping[str, Any], rules: Rules) -> None:
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


def workflow_run(payload: Mapping[str, Any], base: Decision, rules: Rules) -> Decision:
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
    if fork and not REPOSITORY.fullmatch(head_repository):
        skip(fork)
    branch = branch_from(value_at(payload, "workflow_run.head_branch"), "workflow_run.head_branch")
    if fork:
        return _fork_review(payload, base, rules, head_repository, branch)
    own_branch(branch, rules)
    sha = sha_from(value_at(payload, "workflow_run.head_sha"), "workflow_run.head_sha")
    others: list[str] = []
    for role in ("actor", "triggering_actor"):  # older payloads have neither
        if isinstance(run.get(role), Mapping):
            no_bot(payload, f"workflow_run.{role}", rules)
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
    payload: Mapping[str, Any], base: Decision, rules: Rules, fork: str, branch: str
) -> Decision:
    """A red run on a fork's branch: only the safe part. The deterministic fixers run on the
    fork's code with no secret and no agent, and their changes become review suggestions on
    its pull request (found through the API); nothing is pushed anywhere."""
    sha = sha_from(value_at(payload, "workflow_run.head_sha"), "workflow_run.head_sha")
    run = object_at(payload, "workflow_run")
    for role in ("actor", "triggering_actor"):
        if isinstance(run.get(role), Mapping):
            no_bot(payload, f"workflow_run.{role}", rules)
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


def workflow_dispatch(payload: Mapping[str, Any], base: Decision, rules: Rules) -> Decision:
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
        own_branch(branch, rules)
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
