"""Presets for popular CLI agents behind `--agent command`: the exact command each one runs.

Every flag below is one the tool's own documentation describes (the page is in `doc_url`,
and in README.md "CLI agent presets"); nothing is guessed from memory. Each preset keeps the
agent to editing the working tree: selfheal commits, the agent never does.

`env_passthrough` names the variables (the tool's own API key) that are copied from
selfheal's environment into that agent's process only. selfheal scrubs every variable whose
name looks secret from its children, so without this an agent that needs ANTHROPIC_API_KEY
would never get it. The gate's processes still never see these variables.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from types import MappingProxyType

from bot.errors import BadInput

# What the stdin-driven agents are told as their instruction; the prompt itself (task,
# failures, earlier attempts) arrives on stdin as the context for it.
STDIN_INSTRUCTION = (
    "Your task is on standard input. Do it by editing files in this repository. "
    "Do not commit, push, or create branches."
)


@dataclass(frozen=True)
class Preset:
    """One CLI agent: how selfheal runs it, what it may see, and where that is documented."""

    name: str
    command: str  # `{prompt_file}` becomes the prompt's path; without it the prompt is on stdin
    env_passthrough: tuple[str, ...]
    doc_url: str
    note: str
    see_also: tuple[str, ...] = ()

    @property
    def reads_stdin(self) -> bool:
        return "{prompt_file}" not in self.command


_CLAUDE_CODE = Preset(
    name="claude-code",
    command=(
        f"claude -p {shlex.quote(STDIN_INSTRUCTION)} --permission-mode acceptEdits "
        "--disallowedTools Bash --output-format text"
    ),
    env_passthrough=("ANTHROPIC_API_KEY",),
    doc_url="https://docs.anthropic.com/en/docs/claude-code/cli-reference",
    see_also=(
        "https://docs.anthropic.com/en/docs/claude-code/sdk/sdk-headless",
        "https://code.claude.com/docs/en/permission-modes",
    ),
    note=(
        "Claude Code's print mode (-p) with the prompt piped on stdin. acceptEdits lets it "
        "edit files without asking; the Bash tool is disallowed outright, so it cannot commit, "
        "push, or run the repository's code (selfheal's gate checks its work instead)."
    ),
)

_AIDER = Preset(
    name="aider",
    command=(
        "aider --message-file {prompt_file} --yes-always --no-auto-commits --no-dirty-commits "
        "--no-gitignore --no-suggest-shell-commands --no-detect-urls --no-check-update "
        "--no-analytics --no-pretty --map-tokens 0 "
        "--input-history-file {prompt_file}.input-history "
        "--chat-history-file {prompt_file}.chat-history.md"
    ),
    env_passthrough=("OPENAI_API_KEY", "ANTHROPIC_API_KEY"),
    doc_url="https://aider.chat/docs/config/options.html",
    see_also=("https://aider.chat/docs/scripting.html", "https://aider.chat/docs/git.html"),
    note=(
        "aider sends the prompt file as one message and exits. It never commits (no auto or "
        "dirty commits), never edits .gitignore, suggests no shell commands, fetches no URLs "
        "from the prompt, and does not update itself; its history files go next to the "
        "prompt in the report directory, and the repo map is off so no tags cache is written "
        "into the worktree."
    ),
)

_CODEX = Preset(
    name="codex",
    command=f"codex exec --sandbox workspace-write --ephemeral {shlex.quote(STDIN_INSTRUCTION)}",
    env_passthrough=("CODEX_API_KEY",),
    doc_url="https://developers.openai.com/codex/noninteractive",
    see_also=(
        "https://developers.openai.com/codex/agent-approvals-security",
        "https://developers.openai.com/codex/environment-variables",
    ),
    note=(
        "OpenAI Codex CLI's non-interactive mode with the prompt piped on stdin as context. "
        "The workspace-write sandbox allows edits in the workspace only, with the network "
        "off, for Codex and every command it starts; --ephemeral keeps no session files."
    ),
)

PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {p.name: p for p in (_AIDER, _CLAUDE_CODE, _CODEX)}
)


def preset_names() -> list[str]:
    return sorted(PRESETS)


def preset_command(name: str) -> Preset:
    """The preset called `name`; BadInput listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise BadInput(
            f"unknown agent preset {name!r}; choose one of: {', '.join(preset_names())}"
        ) from None
