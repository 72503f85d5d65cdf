"""The field benchmark with a real agent: each red build healed once by `selfheal heal --agent
claude` (or `--agent-preset NAME`), exactly as a user runs it, and the figures users compare
agents with: heal rate, attempts, tokens and cost per heal.

The agent is whatever the environment reaches: the Anthropic API with ANTHROPIC_API_KEY, or
any server ANTHROPIC_BASE_URL names (the test points it at the local replay server).
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus
import mutations
import trial

from bot.agent.presets import PRESETS, preset_names

CHOICES = ("claude", *preset_names())
# ruff format heals a formatting red build before any agent is asked: it measures the fixer.
SKIPPED_OPERATORS = ("formatting",)


@dataclass
class AgentHeal:
    """One red build healed by the real agent, with what report.json says it spent."""

    project: str
    operator: str
    what: str
    path: str
    status: str = "error"
    attempts: int = 0
    turns: int = 0
    input_tokens: int = 0  # fresh input, cache writes and cache reads together
    output_tokens: int = 0
    cost_usd: float | None = None  # None: the agent reports no cost (or its model has no price)
    model: str | None = None


def missing(agent: str, env: Mapping[str, str]) -> str | None:
    """Why `agent` cannot run in `env` (one line), or None when it can."""
    if agent == "claude":
        if env.get("ANTHROPIC_API_KEY", "").strip():
            return None
        return (
            "--agent claude needs ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for another server);"
            " the real-agent benchmark was not run"
        )
    preset = PRESETS[agent]
    if not any(env.get(name, "").strip() for name in preset.env_passthrough):
        keys = " or ".join(preset.env_passthrough)
        return f"--agent {agent} needs {keys}; the real-agent benchmark was not run"
    program = shlex.split(preset.command)[0]
    if shutil.which(program, path=env.get("PATH")) is None:
        return f"--agent {agent} runs `{program}`, which is not on PATH; install it first"
    return None


def heal_args(agent: str) -> list[str]:
    """The `selfheal heal` a user runs for this agent, with its default attempt cap."""
    chosen = ["--agent", "claude"] if agent == "claude" else ["--agent-preset", agent]
    return ["heal", "--no-push", *chosen]


def measured(heal: AgentHeal, report: Mapping[str, Any]) -> AgentHeal:
    """What the run's report.json says: its status, attempts, and the agent's spending."""
    totals = report.get("agent_totals") or {}
    usage = totals.get("usage") or {}
    heal.status = str(report.get("status", "error"))
    heal.attempts = len(report.get("attempts") or [])
    heal.turns = int(totals.get("turns") or 0)
    heal.input_tokens = sum(
        int(usage.get(name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    heal.output_tokens = int(usage.get("output_tokens") or 0)
    cost = totals.get("cost_usd")
    heal.cost_usd = float(cost) if isinstance(cost, (int, float)) else None
    heal.model = report.get("model")
    return heal


def mutate_project(
    project: corpus.Project,
    verdict: trial.Verdict,
    agent: str,
    per_operator: int,
    only: tuple[str, ...] = (),
    earlier: Sequence[AgentHeal] = (),
    progress: Callable[[list[AgentHeal]], None] | None = None,
) -> list[AgentHeal]:
    """The project's red builds (the oracle run's, less formatting), each healed once."""
    if not trial.mutable(verdict):
        return []
    with corpus.holding(project):
        site = corpus.setup(project)
        operators = trial.operators_for(site, verdict, only)
        kept = tuple(op for op in operators if op not in SKIPPED_OPERATORS)
        keys = {trial.red_build_key(h) for h in earlier}
        found = trial.find_red_builds(site, kept, per_operator, verdict.own_s, keys)
        with tempfile.TemporaryDirectory(prefix=f"field-{project.name}-{agent}-") as tmp:
            return trial.each_red_build(
                found, earlier, lambda m, n: _heal(site, m, Path(tmp), n, agent), progress
            )


def _heal(site: corpus.Site, mutation: Any, scratch: Path, n: int, agent: str) -> AgentHeal:
    heal = AgentHeal(site.project.name, mutation.operator, mutation.what, mutation.path)
    with trial.red_build(site, mutation, n):
        _, report = trial.selfheal(heal_args(agent), site, scratch / f"heal-{n}-{agent}")
        trial.drop_proposals(site.repo)
    return measured(heal, report)


def _per_heal(total: float, healed: int, unit: str) -> str:
    return f"{total / healed:,.{4 if unit == 'USD' else 0}f} {unit}" if healed else "n/a"


def block(agent: str, heals: list[AgentHeal]) -> str:
    """The real agent's block of the table: rates per operator, then the figures per heal."""
    models = sorted({h.model for h in heals if h.model})
    lines = [f"## Real agent: {agent}" + (f" ({', '.join(models)})" if models else ""), ""]
    if not heals:
        return "\n".join([*lines, "No red builds measured with this agent.", ""])
    lines += ["| operator | red builds | healed | mean attempts (healed) |", "|---|---|---|---|"]
    by_op: dict[str, list[AgentHeal]] = defaultdict(list)
    for heal in heals:
        by_op[heal.operator].append(heal)
    for op in mutations.OPERATORS:
        rows = by_op.get(op, [])
        if rows:
            won = [h for h in rows if h.status == "healed"]
            lines.append(f"| {op} | {len(rows)} | {len(won)} | {_mean_attempts(won)} |")
    won = [h for h in heals if h.status == "healed"]
    priced = [h for h in heals if h.cost_usd is not None]
    cost = sum(h.cost_usd or 0.0 for h in priced)
    inputs = sum(h.input_tokens for h in heals)
    outputs = sum(h.output_tokens for h in heals)
    outcomes = ", ".join(f"{s} {n}" for s, n in Counter(h.status for h in heals).most_common())
    lines += [
        "",
        f"- heal rate: {len(won)}/{len(heals)} ({100 * len(won) / len(heals):.0f}%)",
        f"- mean attempts per heal: {_mean_attempts(won)}",
        # Spending over every red build, failures included, per red build healed: what a heal costs.
        f"- input tokens per heal: {_per_heal(inputs, len(won), 'tokens')}"
        " (fresh, cache writes and cache reads)",
        f"- output tokens per heal: {_per_heal(outputs, len(won), 'tokens')}",
        "- cost per heal: "
        + (f"{_per_heal(cost, len(won), 'USD')} (total {cost:.4f} USD)" if priced else "n/a")
        + (
            f"; {len(heals) - len(priced)} of {len(heals)} runs report no cost"
            " (a command agent, a model without a price, or a run with no report)"
            if len(priced) < len(heals)
            else ""
        ),
        f"- outcomes: {outcomes}",
        f"- model calls: {sum(h.turns for h in heals)}; tokens in all: {inputs + outputs:,}",
    ]
    return "\n".join(lines) + "\n"


def _mean_attempts(won: list[AgentHeal]) -> str:
    return f"{sum(h.attempts for h in won) / len(won):.2f}" if won else "n/a"
