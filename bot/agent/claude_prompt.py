"""What the Claude agent sends: the system prompt, the tools and the messages, cache-marked.

The system prompt holds the rules, the first user message the task and the context, each
rendered from the request's fields (bot.agent.prompt).

The stable prefix (tools, then the system prompt) carries cache_control breakpoints, and two
rolling ones sit on the newest message and on the one the previous call ended with, so each
turn reads the turn before it from the cache however many blocks a turn adds (the API looks
back only about 20 blocks for a hit). That is four, the API's maximum.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from bot.agent.base import ContextSection, Rules
from bot.agent.prompt import rules_markdown, task_markdown

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

# Only how this agent works; the rules themselves are bot.agent.rules', rendered after this.
ROLE = """\
You are selfheal's repair agent. You work on a git checkout of a Python project through the
tools you are given, and only through them. When you are done, or cannot get further, call
`finish` with a short summary of what you changed and why."""

CUT_OFF = (
    "Your last reply was cut off at max_tokens. Continue in smaller steps: one tool call at a"
    " time, and short text."
)


def system_text(rules: Rules) -> str:
    """The system prompt: how the agent works, then the run's rules (the same every attempt)."""
    return f"{ROLE}\n\n{rules_markdown(rules)}"


def first_message(task: str, context: Sequence[ContextSection]) -> str:
    """The first user message: the task and the context, untrusted parts delimited."""
    return task_markdown(task, context).strip()


def cached_system(text: str) -> list[dict[str, Any]]:
    """The system prompt as one text block with a cache breakpoint."""
    return [{"type": "text", "text": text, "cache_control": dict(EPHEMERAL)}]


def cached_tools(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the tool definitions with a cache breakpoint on the last one."""
    tools = copy.deepcopy(definitions)
    if tools:
        tools[-1]["cache_control"] = dict(EPHEMERAL)
    return tools


def with_breakpoints(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with rolling breakpoints on the newest user message and the user
    message before it (where the previous call's cache write ended); the stored messages stay
    unmarked."""
    marked = list(messages)
    for index in (len(marked) - 3, len(marked) - 1):
        if index >= 0:
            marked[index] = _with_breakpoint(marked[index])
    return marked


def _with_breakpoint(message: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `message` with a cache breakpoint on its last block."""
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    if blocks:
        blocks[-1] = {**blocks[-1], "cache_control": dict(EPHEMERAL)}
    return {**message, "content": blocks}
