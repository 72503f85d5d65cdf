"""What every agent is: given a prompt and a working tree, edit the tree (never commit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bot.report import Failure


@dataclass(frozen=True)
class AgentRequest:
    """One attempt's work order."""

    mode: Literal["heal", "implement"]
    workdir: Path  # the worktree to edit
    prompt: str  # Markdown, see bot.fix.context.build_prompt
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
