"""The rules name what is actually configured: protected paths and the guards' limits."""

from __future__ import annotations

from bot.agent.prompt import rules_markdown
from bot.agent.rules import agent_rules
from bot.config import Config


def test_the_rules_name_the_configured_paths_and_limits() -> None:
    config = Config(
        protected_paths=["docs/locked/**", "migrations/"], max_diff_lines=321, max_file_bytes=4567
    )
    text = rules_markdown(agent_rules(config, "heal"))
    assert "(`docs/locked/**`, `migrations/`, gitignore patterns)" in text
    assert ".github" not in text
    assert "at most 321 lines" in text
    assert "each at most 4567 bytes" in text
    default = rules_markdown(agent_rules(Config(), "heal"))
    assert "(`.github/**`, gitignore patterns)" in default
    assert "at most 2000 lines" in default and "each at most 1000000 bytes" in default


def test_no_protected_paths_configured_is_said_plainly() -> None:
    text = rules_markdown(agent_rules(Config(protected_paths=[]), "implement"))
    assert "No paths are protected by this project's configuration" in text
    assert "protected paths (" not in text


def test_changing_the_specification_is_refused_in_heal_mode_unless_allowed() -> None:
    refused = rules_markdown(agent_rules(Config(), "heal"))
    allowed = rules_markdown(agent_rules(Config(allow_spec_changes=True), "heal"))
    assert "do not change an existing test's expected values" in refused
    assert "expected values" not in allowed and "allow_spec_changes" in allowed
    # Weakening is refused either way, and in both modes.
    for mode in ("heal", "implement"):
        for config in (Config(), Config(allow_spec_changes=True)):
            text = rules_markdown(agent_rules(config, mode))
            assert "no skip, xfail or exit by any name" in text
            assert "no early `return` in a test" in text
    implement = rules_markdown(agent_rules(Config(), "implement"))
    assert implement.startswith("## Rules\n\n- Add tests for the new behaviour")
    assert "Every existing test must still be collected and run" in implement


def test_the_rules_are_one_bullet_each_and_the_same_for_the_same_configuration() -> None:
    rules = agent_rules(Config(), "heal")
    assert rules == agent_rules(Config(), "heal")
    assert all("\n" not in item for item in rules.items)
    assert rules_markdown(rules).count("\n- ") == len(rules.items)
