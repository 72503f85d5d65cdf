from __future__ import annotations

import pytest

from bot.guard.access import fork_refusal, permission_refusal, run_cap_refusal


@pytest.mark.parametrize("role", ["admin", "maintain", "write"])
def test_write_roles_pass(role: str) -> None:
    assert permission_refusal({"a": role, "b": "write"}) is None


@pytest.mark.parametrize("role", ["triage", "read", "none", ""])
def test_other_roles_are_refused_by_name(role: str) -> None:
    reason = permission_refusal({"ok": "admin", "eve": role})
    assert reason is not None and reason.startswith("eve has ")


def test_fork_and_deleted_heads() -> None:
    assert fork_refusal("Octo/Repo", "octo/repo", 3) is None  # GitHub names are case-blind
    assert "fork evil/repo" in (fork_refusal("evil/repo", "octo/repo", 3) or "")
    assert "gone" in (fork_refusal(None, "octo/repo", 3) or "")


def test_run_cap() -> None:
    assert run_cap_refusal(4, 5, "#1") is None
    assert "max_runs limit (5)" in (run_cap_refusal(5, 5, "#1") or "")
