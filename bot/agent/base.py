"""What every agent is: given a request and a working tree, edit the tree (never commit).

The request keeps selfheal's rules, the task and the context apart, each piece marked as
selfheal's own words or as untrusted data, so that each agent's renderer (bot.agent.prompt)
builds what it sends from the fields and nothing has to parse text selfheal wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bot.report import Failure


@dataclass(frozen=True)
class Rules:
    """What the agent may and may not do, one sentence each (bot.agent.rules builds them).

    The same for every attempt of a run, so a model's cached system prompt stays valid.
    """

    items: tuple[str, ...]


@dataclass(frozen=True)
class ContextSection:
    """One titled piece of what the agent should know (failures, source, history, ...)."""

    title: str  # selfheal's own words
    text: str
    # Only selfheal's own words are trusted. Anything else (the repository's files, its
    # output, an issue, an earlier agent's summary) is sanitized and delimited where it is
    # rendered, so it reads as data, never as instructions.
    trusted: bool = False
    note: str = ""  # selfheal's own words about an untrusted text, shown before it


@dataclass(frozen=True)
class AgentRequest:
    """One attempt's work order."""

    mode: Literal["heal", "implement"]
    workdir: Path  # the worktree to edit
    rules: Rules
    task: str  # selfheal's own words: what this attempt is to do
    context: Sequence[ContextSection]
    failures: Sequence[Failure]
    attempt: int
    scratch: Path  # where the agent's prompt and failure files go (the report directory)
    env: Mapping[str, str]  # already scrubbed of secrets
    deadline: float | None = None  # time.monotonic() value
    # Runs the gate's own test step on the given ids (all when empty); supplied by the loop.
    run_tests: Callable[[Sequence[str]], str] | None = None


@dataclass(frozen=True)
class AgentOutcome:
    """What the agent said it did; the diff in the worktree is what counts."""

    summary: str = ""
    exit_code: int | None = None
    log: str = ""
    events: list[dict[str, object]] = field(default_factory=list)  # for transcript.jsonl
    # What a model-backed agent spent on this attempt (command agents leave these empty).
    usage: dict[str, int] = field(default_factory=dict)  # the API's usage field names
    cost_usd: float | None = None  # None: no price known for the model
    turns: int = 0  # model calls
    tool_calls: dict[str, int] = field(default_factory=dict)  # tool name -> calls
    budget_hit: str | None = None  # "max_usd=0.5": the budget that stopped the agent
    stop_run: bool = False  # a run-wide budget is spent: no further attempt can use the agent


class Agent(Protocol):
    name: str
    note: str  # shown under the report's status line ("" for none)

    def attempt(self, request: AgentRequest) -> AgentOutcome: ...


class NoAgent:
    """Deterministic fixers only: the agent step does nothing."""

    name = "none"
    note = ""

    def attempt(self, request: AgentRequest) -> AgentOutcome:
        return AgentOutcome(summary="no agent configured (deterministic fixers only)")
