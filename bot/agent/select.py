"""Pick the agent the configuration asks for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.agent.base import Agent, AgentRequest, NoAgent
from bot.agent.command import CommandAgent
from bot.agent.presets import preset_command
from bot.config import Config
from bot.errors import BadInput
from bot.secrets import environment


def agent_kind(config: Config, env: Mapping[str, str]) -> str:
    """`auto` means command with an agent preset, else claude when ANTHROPIC_API_KEY is set, else none."""
    if config.agent != "auto":
        return config.agent
    if config.agent_preset:
        return "command"
    return "claude" if env.get("ANTHROPIC_API_KEY") else "none"


def make_agent(config: Config, env: Mapping[str, str] | None = None) -> Agent:
    """none, command (agent_command or agent_preset), or claude (needs ANTHROPIC_API_KEY).

    BadInput when what the kind needs is missing.
    """
    env = environment() if env is None else env
    kind = agent_kind(config, env)
    if kind == "command":
        if config.agent_preset:
            preset = preset_command(config.agent_preset)
            return CommandAgent(
                preset.command,
                note=f"agent preset {preset.name} ({preset.doc_url})",
                env_passthrough=preset.env_passthrough,
            )
        if not config.agent_command:
            raise BadInput(
                "--agent command needs --agent-command 'CMD {prompt_file}' or --agent-preset NAME "
                "(or agent_command / agent_preset in .github/selfheal.yml)"
            )
        return CommandAgent(config.agent_command)
    if kind == "claude":
        return make_claude(config, env)
    return NoAgent()


def make_claude(
    config: Config, env: Mapping[str, str], *, base_url: str | None = None, note: str = ""
) -> Agent:
    """The Claude agent with repo-confined tools; the key is read here once, before any work."""
    from bot.agent.claude import DEFAULT_MODEL, ClaudeAgent, ClaudeBudget, make_client
    from bot.agent.tools import RepoTools

    key = env.get("ANTHROPIC_API_KEY")
    if not key:
        raise BadInput(
            "--agent claude needs ANTHROPIC_API_KEY in the environment (or use --agent none|command)"
        )
    client = make_client(
        key, base_url=base_url or env.get("ANTHROPIC_BASE_URL"), max_retries=config.api_retries
    )

    def toolbox(request: AgentRequest) -> RepoTools:
        def no_tests(ids: Sequence[str]) -> str:
            return "this gate has no test step to run"

        return RepoTools(
            request.workdir,
            protected=config.protected_paths,
            run_tests=request.run_tests or no_tests,
            env=request.env,
        )

    agent = ClaudeAgent(
        model=config.model or DEFAULT_MODEL,
        toolbox_factory=toolbox,
        budget=ClaudeBudget(
            max_turns_per_attempt=config.budget.max_turns_per_attempt,
            max_total_tokens=config.budget.max_total_tokens,
            max_usd=config.budget.max_usd,
            wall_seconds=config.budget.wall_seconds,
        ),
        client=client,
        prices=config.prices or None,
        max_tokens=config.max_tokens,
    )
    if note:
        agent.note = f"{note} {agent.note}".strip()
    return agent
