"""Which agent a configuration gets."""

from __future__ import annotations

import pytest

from bot.agent.base import NoAgent
from bot.agent.claude import DEFAULT_MODEL, ClaudeAgent
from bot.agent.select import agent_kind, make_agent
from bot.config import Config
from bot.errors import BadInput


def test_auto_is_claude_only_with_a_key() -> None:
    assert agent_kind(Config(), {"ANTHROPIC_API_KEY": "sk-ant-x"}) == "claude"
    assert agent_kind(Config(), {}) == "none"
    assert agent_kind(Config(agent="none"), {"ANTHROPIC_API_KEY": "sk-ant-x"}) == "none"


def test_auto_without_a_key_is_no_agent() -> None:
    assert isinstance(make_agent(Config(), {}), NoAgent)


def test_claude_without_a_key_is_bad_input() -> None:
    with pytest.raises(BadInput, match="ANTHROPIC_API_KEY"):
        make_agent(Config(agent="claude"), {})


def test_claude_takes_model_budget_and_base_url_from_config() -> None:
    config = Config(agent="claude", budget={"max_usd": 2.5, "max_turns_per_attempt": 7})
    agent = make_agent(
        config, {"ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    )
    assert isinstance(agent, ClaudeAgent)
    assert agent.model == DEFAULT_MODEL
    assert (agent.budget.max_usd, agent.budget.max_turns_per_attempt) == (2.5, 7)
    assert str(agent.client.base_url).startswith("http://127.0.0.1:9")
