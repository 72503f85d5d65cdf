"""Who may make selfheal act, and when it must not (pure; the facts come from the API).

The event payload already ruled out bots, closed items and selfheal's own branches
(bot.events); these are the checks that need what only the API knows.
"""

from __future__ import annotations

from collections.abc import Mapping

# GitHub's repository roles that may push; triage and read may not.
WRITE_ROLES = frozenset({"admin", "maintain", "write"})


def permission_refusal(roles: Mapping[str, str]) -> str | None:
    """Why the first login without write access is refused, or None when all have it."""
    for login, role in roles.items():
        if role not in WRITE_ROLES:
            return (
                f"{login} has {role or 'no'} permission on this repository; selfheal acts only "
                "for people with write, maintain or admin permission"
            )
    return None


def fork_refusal(head_repository: str | None, repository: str, number: int) -> str | None:
    """A pull request whose head lives elsewhere (a fork, or a deleted repository)."""
    if head_repository is None:
        return f"pull request #{number}'s head repository is gone: nothing to heal"
    if head_repository.casefold() != repository.casefold():
        return (
            f"pull request #{number} comes from the fork {head_repository}: code from forks is "
            "not healed with this repository's credentials"
        )
    return None


def run_cap_refusal(runs: int, max_runs: int, where: str) -> str | None:
    """Too many runs on one issue or pull request (the count lives in the sticky comment)."""
    if runs >= max_runs:
        return (
            f"selfheal has run {runs} time(s) on {where}, the max_runs limit ({max_runs}); "
            "raise max_runs in .github/selfheal.yml or take it over by hand"
        )
    return None
