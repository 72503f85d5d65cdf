"""Who may make selfheal act, and when it must not: every such rule, once (pure).

The facts come from two places, the event payload (bot.github.events, before any API call)
and the API (bot.github.trigger, for what the payload does not show); both ask the functions
here, so a rule reads the same, and says the same, whichever place found the facts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.github.payload_fields import quoted

# GitHub's repository roles that may push; triage and read may not.
WRITE_ROLES = frozenset({"admin", "maintain", "write"})

# A label that stops selfheal on one issue or pull request (the maintainer's off switch).
KILL_SWITCH_LABEL = "selfheal:off"


def thread_refusal(
    kind: str, number: int, *, state: str, locked: bool, labels: Iterable[str]
) -> str | None:
    """Closed, locked, or kill-switched issues and pull requests are left alone."""
    if state != "open":
        return f"{kind} #{number} is {quoted(state)}, not open"
    if locked:
        return f"{kind} #{number} is locked"
    if KILL_SWITCH_LABEL in (name.casefold() for name in labels):
        return f"{kind} #{number} has the {KILL_SWITCH_LABEL} label"
    return None


def permission_refusal(roles: Mapping[str, str]) -> str | None:
    """Why the first login without write access is refused, or None when all have it."""
    for login, role in roles.items():
        if role not in WRITE_ROLES:
            return (
                f"{login} has {role or 'no'} permission on this repository; selfheal acts only "
                "for people with write, maintain or admin permission"
            )
    return None


def is_fork(head_repository: str, repository: str) -> bool:
    """Whether code comes from another repository than this one (GitHub names are case-blind)."""
    return head_repository.casefold() != repository.casefold()


def fork_refusal(head_repository: str | None, repository: str, what: str) -> str | None:
    """Code whose head lives elsewhere (a fork, or a deleted repository) gets no credentials;
    `what` names it ("pull request #3", "the run")."""
    if head_repository is None:
        return f"{what}'s head repository is gone: nothing to heal"
    if is_fork(head_repository, repository):
        return (
            f"{what} comes from the fork {quoted(head_repository)}: code from forks is not "
            "healed with this repository's credentials"
        )
    return None


def own_branch_refusal(branch: str, prefix: str) -> str | None:
    """selfheal's own branches are never healed: a fix of a fix could loop."""
    if prefix and branch.startswith(prefix):
        return (
            f"branch {quoted(branch)} is one of selfheal's own (prefix {quoted(prefix)}): "
            "healing it could loop"
        )
    return None


def is_allowed_bot(login: str, allowed_bots: frozenset[str]) -> bool:
    """A bot login the configuration lets trigger runs (`name` or `name[bot]`, any case)."""
    name = login.casefold()
    return name in allowed_bots or name.removesuffix("[bot]") in allowed_bots


def bot_refusal(who: str, login: str, allowed_bots: frozenset[str]) -> str | None:
    """A bot that allowed_bots does not list (selfheal's own included) starts nothing."""
    if is_allowed_bot(login, allowed_bots):
        return None
    return f"{who} {login} is a bot that allowed_bots does not list (no bot loops)"


def run_cap_refusal(runs: int, max_runs: int, where: str) -> str | None:
    """Too many runs on one issue or pull request (the count lives in the sticky comment)."""
    if runs >= max_runs:
        return (
            f"selfheal has run {runs} time(s) on {where}, the max_runs limit ({max_runs}); "
            "raise max_runs in .github/selfheal.yml or take it over by hand"
        )
    return None
