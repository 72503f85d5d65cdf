"""The Claude agent: one tool-use loop per attempt on the Messages API, through the anthropic SDK.

What each request holds, cache breakpoints included, is bot.agent.claude_prompt's; what a
failed call means is bot.agent.claude_errors'. Usage and cost are summed per attempt and for
the run; budgets stop the loop cleanly. Every request body, response, tool call and result
goes into the transcript, with secret values redacted; headers (where the API key travels)
are never recorded.
"""

from __future__ import annotations

import json
import os
import re
import time
import typing
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import anthropic

from bot.agent.base import AgentOutcome, AgentRequest
from bot.agent.claude_errors import CallError, service_error, setup_error
from bot.agent.claude_prompt import (
    CUT_OFF,
    cached_system,
    cached_tools,
    first_message,
    system_text,
    with_breakpoints,
)
from bot.agent.pricing import (
    ModelPrice,
    TokenUsage,
    cost_decimal,
    parse_prices,
    price_for,
    unpriced_note,
)
from bot.errors import BadInput, SelfhealError
from bot.proc import redact, redact_data, secret_values
from bot.secrets import secret

# The newest Sonnet in the installed SDK's `anthropic.types.Model` list (anthropic 2.11.0), pinned
# rather than computed so that a run is reproducible and always has a price; a test checks it
# against the SDK (`newest_model("sonnet")` in claude_errors), so an SDK upgrade that adds a
# newer one says so.
DEFAULT_MODEL = "claude-sonnet-5-5"
DEFAULT_MAX_TOKENS = 4096  # non-streaming calls must stay below ~21k (the SDK refuses more)
SUMMARY_CAP = 300


class Toolbox(Protocol):
    """What the agent needs from its tools (bot.agent.tools.RepoTools)."""

    @property
    def finished(self) -> str | None:
        """The summary the `finish` tool was given; None until it is called."""

    @property
    def calls(self) -> Counter[str]: ...

    def definitions(self) -> list[dict[str, Any]]: ...

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutput: ...


class ToolOutput(Protocol):
    @property
    def content(self) -> str: ...

    @property
    def is_error(self) -> bool: ...


@dataclass(frozen=True)
class ClaudeBudget:
    """Limits on the agent; None means no limit. Tokens count input, cache and output."""

    max_turns_per_attempt: int = 30  # model calls in one attempt (ends that attempt only)
    max_total_tokens: int | None = None  # for the run
    max_usd: float | None = None  # for the run
    wall_seconds: float | None = None  # the run's wall budget, named when its deadline passes


class BudgetExceeded(Exception):
    """A budget was reached; `name` and `limit` say which (e.g. max_usd=0.5)."""

    def __init__(self, name: str, limit: float | str, spent: str, *, run_wide: bool) -> None:
        self.name = name
        self.limit = limit
        self.spent = spent
        self.run_wide = run_wide
        super().__init__(f"budget {self.label} reached ({spent})")

    @property
    def label(self) -> str:
        limit = f"{self.limit:g}" if isinstance(self.limit, float) else str(self.limit)
        return f"{self.name}={limit}"


@dataclass
class ClaudeTotals:
    """What the agent spent over the whole run (all attempts)."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    cost: Decimal | None = Decimal(0)  # None once a call could not be priced
    turns: int = 0
    attempts: int = 0
    tool_calls: Counter[str] = field(default_factory=Counter)

    @property
    def cost_usd(self) -> float | None:
        return None if self.cost is None else float(self.cost)

    def as_dict(self) -> dict[str, object]:
        return {
            "usage": self.usage.as_dict(),
            "total_tokens": self.usage.total,
            "cost_usd": self.cost_usd,
            "turns": self.turns,
            "attempts": self.attempts,
            "tool_calls": dict(self.tool_calls),
        }


def make_client(
    api_key: str | None,
    *,
    base_url: str | None = None,
    max_retries: int = 2,
    timeout: float | None = None,
) -> anthropic.Anthropic:
    """An SDK client for `api_key` (given explicitly: the environment is not searched for keys).

    `base_url` defaults to ANTHROPIC_BASE_URL, then Anthropic's API. The SDK retries
    connection errors, 408, 409, 429 and 5xx (529 overloaded included) `max_retries` times
    with backoff, honouring retry-after.
    """
    if not api_key or not api_key.strip():
        raise BadInput(
            "--agent claude needs an Anthropic API key: set ANTHROPIC_API_KEY"
            " (a repository or organisation secret in GitHub Actions)"
        )
    url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise BadInput(f"ANTHROPIC_BASE_URL must be an http(s) URL, not {url!r}")
    return anthropic.Anthropic(
        api_key=api_key.strip(),
        base_url=url,
        max_retries=max_retries,
        timeout=anthropic.NOT_GIVEN if timeout is None else timeout,
    )


class ClaudeAgent:
    """Implements the Agent protocol with a tool-use loop per attempt."""

    name = "claude"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        toolbox_factory: Callable[[AgentRequest], Toolbox],
        budget: ClaudeBudget | None = None,
        client: anthropic.Anthropic | None = None,
        prices: Mapping[str, Any] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        """`prices`: config's rows over pricing.PRICES. Raises BadInput (ConfigError) early."""
        self.model = model
        self.toolbox_factory = toolbox_factory
        self.budget = budget or ClaudeBudget()
        self.client = client or make_client(secret("ANTHROPIC_API_KEY"))
        self.prices = parse_prices(prices)
        self.max_tokens = max_tokens
        self.totals = ClaudeTotals()
        self.note = ""
        # The attempt in progress's events, for a caller unwinding Ctrl-C mid-attempt.
        self.current_events: list[dict[str, object]] = []
        if max_tokens < 1:
            raise BadInput(f"max_tokens must be at least 1, not {max_tokens}")
        if self.budget.max_turns_per_attempt < 1:
            raise BadInput("budget max_turns_per_attempt must be at least 1")
        if price_for(model, self.prices) is None:
            self.note = unpriced_note(model)
            if self.budget.max_usd is not None:
                raise BadInput(f"budget max_usd is set, but there is {self.note}")
        keys = [self.client.api_key or "", self.client.auth_token or ""]
        self.secrets = sorted(
            {*secret_values(), *(k for k in keys if len(k) >= 6)}, key=len, reverse=True
        )

    def attempt(self, request: AgentRequest) -> AgentOutcome:
        """One tool-use loop: until the model finishes, ends its turn, or a budget is hit."""
        self.totals.attempts += 1
        return _Session(self, request).run()

    def price(self, model: str) -> ModelPrice | None:
        return price_for(model, self.prices) or price_for(self.model, self.prices)

    def exhausted(self, deadline: float | None) -> BudgetExceeded | None:
        """The run-wide budget that is spent already, if any."""
        budget, totals = self.budget, self.totals
        cost = totals.cost
        if budget.max_usd is not None and cost is not None and cost >= Decimal(str(budget.max_usd)):
            return BudgetExceeded("max_usd", budget.max_usd, f"${cost:.4f} spent", run_wide=True)
        if budget.max_total_tokens is not None and totals.usage.total >= budget.max_total_tokens:
            return BudgetExceeded(
                "max_total_tokens",
                budget.max_total_tokens,
                f"{totals.usage.total} tokens used",
                run_wide=True,
            )
        if deadline is not None and time.monotonic() >= deadline:
            limit: float | str = (
                float(budget.wall_seconds) if budget.wall_seconds is not None else "deadline"
            )
            return BudgetExceeded("wall_seconds", limit, "the run's deadline passed", run_wide=True)
        return None


class _Session:
    """One attempt's conversation; every event it records is redacted first."""

    def __init__(self, agent: ClaudeAgent, request: AgentRequest) -> None:
        self.agent = agent
        self.request = request
        self.events: list[dict[str, object]] = []
        self.usage = TokenUsage()
        self.cost: Decimal | None = Decimal(0)
        self.turns = 0
        self.tool_calls: Counter[str] = Counter()
        self.log: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.sent = 0  # messages already recorded in an earlier request
        agent.current_events = self.events

    def run(self) -> AgentOutcome:
        spent = self.agent.exhausted(self.request.deadline)
        if spent is not None:
            return self._stopped(spent)
        toolbox = self.agent.toolbox_factory(self.request)
        request = self.request
        # Rules in the cached system prompt, the same bytes every attempt; task and context,
        # which change, in the first message.
        system = cached_system(self._clean(system_text(request.rules)))
        tools = cached_tools(toolbox.definitions())
        task = self._clean(first_message(request.task, request.context))
        self.messages = [{"role": "user", "content": [{"type": "text", "text": task}]}]
        try:
            while True:
                self._check_budgets()
                message = self._call(system, tools)
                content = [block.to_dict(mode="json") for block in message.content]
                self.messages.append({"role": "assistant", "content": content})
                uses = [b for b in content if b.get("type") == "tool_use"]
                if uses:
                    self.messages.append(
                        {"role": "user", "content": self._run_tools(toolbox, uses)}
                    )
                    if toolbox.finished is not None:
                        return self._done("finish", toolbox.finished)
                elif message.stop_reason == "max_tokens":
                    self.messages.append(
                        {"role": "user", "content": [{"type": "text", "text": CUT_OFF}]}
                    )
                else:
                    return self._done(str(message.stop_reason), _last_text(content))
        except BudgetExceeded as hit:
            return self._stopped(hit)

    # -- one model call -----------------------------------------------------------

    def _call(
        self, system: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> anthropic.types.Message:
        agent = self.agent
        messages = with_breakpoints(self.messages)
        body: dict[str, Any] = {
            "model": agent.model,
            "max_tokens": agent.max_tokens,
            "system": system,
            "tools": tools,
            "messages": messages,
        }
        self.turns += 1
        self._record_request(body)
        try:
            message = agent.client.messages.create(
                model=agent.model,
                max_tokens=agent.max_tokens,
                system=typing.cast(Any, system),
                tools=typing.cast(Any, tools) if tools else anthropic.omit,
                messages=typing.cast(Any, messages),
                timeout=self._timeout(),
            )
        except anthropic.APIError as exc:
            raise self._failure(exc) from exc
        self._count(message)
        return message

    def _timeout(self) -> float | anthropic.NotGiven:
        deadline = self.request.deadline
        if deadline is None:
            return anthropic.NOT_GIVEN
        left = deadline - time.monotonic()
        return max(left, 1.0) if left < 600 else anthropic.NOT_GIVEN

    def _count(self, message: anthropic.types.Message) -> None:
        agent, totals = self.agent, self.agent.totals
        usage = TokenUsage.of(message.usage)
        price = agent.price(message.model)
        cost = None if price is None else cost_decimal(price, usage)
        self.usage += usage
        totals.usage += usage
        totals.turns += 1
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        totals.cost = None if cost is None or totals.cost is None else totals.cost + cost
        self._event(
            {
                "event": "claude_response",
                "turn": self.turns,
                "request_id": message._request_id,
                "response": message.to_dict(mode="json"),
                "usage": usage.as_dict(),
                "cost_usd": None if cost is None else float(cost),
            }
        )

    def _record_request(self, body: Mapping[str, Any]) -> None:
        # The first request of an attempt is recorded whole; later ones repeat the same
        # system prompt and tools and only add messages, so those carry the new messages only.
        if self.turns == 1:
            request: dict[str, Any] = dict(body)
        else:
            request = {
                "model": body["model"],
                "max_tokens": body["max_tokens"],
                "messages_before": self.sent,
                "messages": body["messages"][self.sent :],
            }
        self.sent = len(body["messages"])
        self._event({"event": "claude_request", "turn": self.turns, "request": request})

    def _failure(self, exc: anthropic.APIError) -> SelfhealError | BudgetExceeded:
        agent = self.agent
        base_url = str(agent.client.base_url).rstrip("/")
        failed = CallError.of(exc, self._clean)
        self._event(
            {
                "event": "claude_error",
                "turn": self.turns,
                "status": failed.status,
                "type": failed.kind,
                "message": failed.detail,
                "request_id": failed.request_id,
            }
        )
        setup = setup_error(exc, failed, model=agent.model, base_url=base_url, events=self.events)
        if setup is not None:
            return setup
        deadline = self.request.deadline
        if isinstance(exc, anthropic.APITimeoutError) and deadline and time.monotonic() >= deadline:
            hit = agent.exhausted(deadline)
            if hit is not None:
                return hit
        return service_error(
            exc, failed, base_url=base_url, retries=agent.client.max_retries, events=self.events
        )

    # -- tools ----------------------------------------------------------------------

    def _run_tools(self, toolbox: Toolbox, uses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for use in uses:
            name, tool_id = str(use.get("name")), str(use.get("id"))
            given = use.get("input")
            arguments: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
            self._event(
                {
                    "event": "tool_call",
                    "turn": self.turns,
                    "id": tool_id,
                    "name": name,
                    "input": arguments,
                }
            )
            try:
                output = toolbox.call(name, dict(arguments))
                content, is_error = self._clean(output.content), output.is_error
            except (TypeError, ValueError, KeyError, OSError) as exc:
                content, is_error = self._clean(f"{name} failed: {exc}"), True
            self.tool_calls[name] += 1
            self.agent.totals.tool_calls[name] += 1
            self._event(
                {
                    "event": "tool_result",
                    "turn": self.turns,
                    "id": tool_id,
                    "name": name,
                    "is_error": is_error,
                    "content": content,
                }
            )
            shown = self._clean(json.dumps(arguments, ensure_ascii=False))[:120]
            self.log.append(
                f"{name} {shown} -> {'error' if is_error else 'ok'} ({len(content)} chars)"
            )
            result: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": tool_id,
                "content": content,
            }
            if is_error:
                result["is_error"] = True
            results.append(result)
        return results

    # -- budgets and endings ----------------------------------------------------------

    def _check_budgets(self) -> None:
        hit = self.agent.exhausted(self.request.deadline)
        if hit is not None:
            raise hit
        limit = self.agent.budget.max_turns_per_attempt
        if self.turns >= limit:
            raise BudgetExceeded(
                "max_turns_per_attempt", limit, f"{self.turns} model calls made", run_wide=False
            )

    def _stopped(self, hit: BudgetExceeded) -> AgentOutcome:
        return self._outcome(
            "budget", f"stopped: budget {hit.label} reached ({hit.spent})", hit=hit
        )

    def _done(self, reason: str, said: str) -> AgentOutcome:
        summary = said or f"the model ended its turn ({reason}) without calling finish"
        return self._outcome(reason, summary)

    def _outcome(
        self, reason: str, summary: str, hit: BudgetExceeded | None = None
    ) -> AgentOutcome:
        summary = " ".join(self._clean(summary).split())[:SUMMARY_CAP]
        cost = None if self.cost is None else float(self.cost)
        self._event(
            {
                "event": "claude_stop",
                "reason": reason,
                "summary": summary,
                "budget": hit.label if hit else None,
                "turns": self.turns,
                "usage": self.usage.as_dict(),
                "cost_usd": cost,
                "tool_calls": dict(self.tool_calls),
                "totals": self.agent.totals.as_dict(),
            }
        )
        return AgentOutcome(
            summary=summary,
            log="\n".join(self.log),
            events=self.events,
            usage=self.usage.as_dict(),
            cost_usd=cost,
            turns=self.turns,
            tool_calls=dict(self.tool_calls),
            budget_hit=hit.label if hit else None,
            stop_run=bool(hit and hit.run_wide),
        )

    # -- redaction ----------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        return redact(text, self.agent.secrets)

    def _event(self, event: dict[str, object]) -> None:
        clean = redact_data({"agent": self.agent.name, **event}, self.agent.secrets)
        self.events.append(typing.cast("dict[str, object]", clean))


def _last_text(content: Sequence[Mapping[str, Any]]) -> str:
    texts = [str(b.get("text") or "").strip() for b in content if b.get("type") == "text"]
    said = [text for text in texts if text]
    return said[-1] if said else ""
