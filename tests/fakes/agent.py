"""An in-process agent for the fix loop's tests: each attempt applies the next scripted edit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.agent.base import AgentOutcome, AgentRequest

# One attempt: path -> new text (None deletes), or a callable that edits the work tree.
Edit = dict[str, str | None] | Callable[[Path], None]


@dataclass
class FakeAgent:
    """Plays `attempts` in order (the last one repeats); records every request it got."""

    attempts: Sequence[Edit]
    name: str = "fake"
    note: str = ""
    stop_run_after: int | None = None  # say a run-wide budget is spent after this attempt
    requests: list[AgentRequest] = field(default_factory=list)

    def attempt(self, request: AgentRequest) -> AgentOutcome:
        self.requests.append(request)
        edit = self.attempts[min(len(self.requests), len(self.attempts)) - 1]
        if callable(edit):
            edit(request.workdir)
        else:
            for rel, text in edit.items():
                path = request.workdir / rel
                if text is None:
                    path.unlink(missing_ok=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text, encoding="utf-8")
        spent = self.stop_run_after is not None and len(self.requests) >= self.stop_run_after
        return AgentOutcome(
            summary=f"fake attempt {len(self.requests)}",
            budget_hit="max_usd=0.01" if spent else None,
            stop_run=spent,
        )
