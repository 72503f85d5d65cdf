from __future__ import annotations

import pytest

from bot.github.access import (
    KILL_SWITCH_LABEL,
    bot_refusal,
    fork_refusal,
    own_branch_refusal,
    permission_refusal,
    run_cap_refusal,
    thread_refusal,
)


@pytest.mark.parametrize("role", ["admin", "maintain", "write"])
def test_write_roles_pass(role: str) -> None:
    assert permission_refusal({"a": role, "b": "write"}) is None


@pytest.mark.parametrize("role", ["triage", "read", "none", ""])
def test_other_roles_are_refused_by_name(role: str) -> None:
    reason = permission_refusal({"ok": "admin", "eve": role})
    assert reason is not None and reason.startswith("eve has ")


def test_fork_and_deleted_heads() -> None:
    what = "pull request #3"
    assert fork_refusal("Octo/Repo", "octo/repo", what) is None  # GitHub names are case-blind
    said = fork_refusal("evil/repo", "octo/repo", what) or ""
    assert said.startswith("pull request #3 comes from the fork 'evil/repo'")
    assert "gone" in (fork_refusal(None, "octo/repo", what) or "")


def test_a_fork_name_cannot_break_the_line() -> None:
    said = fork_refusal("evil/x\n::error::owned" + "x" * 200, "octo/repo", "the run") or ""
    assert "\n" not in said and len(said) < 250


@pytest.mark.parametrize(
    ("state", "locked", "labels", "said"),
    [
        ("open", False, ["bug"], None),
        ("closed", False, [], "issue #7 is 'closed', not open"),
        ("open", True, [], "issue #7 is locked"),
        # The label is case-blind whether the payload or the API shows it.
        ("open", False, ["Selfheal:OFF"], f"issue #7 has the {KILL_SWITCH_LABEL} label"),
    ],
)
def test_thread_rules(state: str, locked: bool, labels: list[str], said: str | None) -> None:
    assert thread_refusal("issue", 7, state=state, locked=locked, labels=labels) == said


def test_own_branches_and_bots() -> None:
    assert own_branch_refusal("feature/x", "selfheal/") is None
    assert "selfheal's own" in (own_branch_refusal("selfheal/heal-1", "selfheal/") or "")
    assert own_branch_refusal("selfheal/heal-1", "") is None  # no prefix: nothing is ours
    allowed = frozenset({"renovate"})
    assert bot_refusal("sender", "Renovate[bot]", allowed) is None
    assert "no bot loops" in (bot_refusal("sender", "selfheal[bot]", allowed) or "")


def test_run_cap() -> None:
    assert run_cap_refusal(4, 5, "#1") is None
    assert "max_runs limit (5)" in (run_cap_refusal(5, 5, "#1") or "")
