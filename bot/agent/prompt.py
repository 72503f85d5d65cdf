"""An agent request as Markdown: the whole prompt file of a command agent, and the pieces the
Claude agent puts into its system prompt and first message. Pure.

Everything is rendered from the request's fields. Text that is not selfheal's own is
sanitized and put between BEGIN/END lines whose nonce it cannot contain, here and only here,
so no caller can forget it and nothing it says can end its block early.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.agent.base import ContextSection, Rules
from bot.guard.sanitize import sanitize, untrusted_block
from bot.render.text import close_fences, one_line

TASK_HEADING = "# Task"
RULES_HEADING = "## Rules"


def rules_markdown(rules: Rules) -> str:
    """The rules as a `## Rules` section: one bullet each."""
    bullets = "\n".join(f"- {item}" for item in rules.items)
    return f"{RULES_HEADING}\n\n{bullets}"


def section_markdown(section: ContextSection) -> str:
    """One context section; untrusted text sanitized and delimited, after selfheal's note."""
    heading = f"## {one_line(section.title, 200)}"
    if section.trusted:
        return f"{heading}\n\n{section.text}"
    # Sanitized before its fences are closed: a comment left open would swallow the closing.
    block = untrusted_block(section.title, close_fences(sanitize(section.text)))
    return "\n\n".join(part for part in (heading, section.note, block) if part)


def task_markdown(task: str, context: Sequence[ContextSection]) -> str:
    """The task, then every context section, in order: what changes from attempt to attempt."""
    parts = [f"{TASK_HEADING}\n\n{task}", *(section_markdown(s) for s in context)]
    return "\n\n".join(parts) + "\n"


def markdown_prompt(rules: Rules, task: str, context: Sequence[ContextSection]) -> str:
    """The prompt file a command agent reads: the task, the rules, then the context."""
    parts = [f"{TASK_HEADING}\n\n{task}", rules_markdown(rules)]
    parts += [section_markdown(s) for s in context]
    return "\n\n".join(parts) + "\n"
