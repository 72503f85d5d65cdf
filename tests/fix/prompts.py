"""The prompt file a command agent would read, from build_brief's arguments (for tests)."""

from __future__ import annotations

from typing import Any

from bot.agent.prompt import markdown_prompt
from bot.config import Config
from bot.fix.context import build_brief


def prompt_markdown(*, token_budget: int, max_attempts: int = 1, **arguments: Any) -> str:
    """build_brief with a configuration of this budget and attempt cap, rendered as Markdown."""
    config = Config(digest_tokens=token_budget, max_attempts=max_attempts)
    return markdown_prompt(*build_brief(config, **arguments))
