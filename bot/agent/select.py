"""Pick the agent the configuration asks for."""

from __future__ import annotations

from bot.agent.base import Agent, NoAgent
from bot.agent.command import CommandAgent
from bot.config import Config
from bot.errors import BadInput


def make_agent(config: Config) -> Agent:
    """`none` or `command`; a command agent needs `agent_command`."""
    if config.agent == "command":
        if not config.agent_command:
            raise BadInput(
                "--agent command needs --agent-command 'CMD {prompt_file}' "
                "(or agent_command in .github/selfheal.yml)"
            )
        return CommandAgent(config.agent_command)
    return NoAgent()
