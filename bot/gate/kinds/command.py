"""Any other command (mypy, a build, a training run): exit 0 passes; its output says why not."""

from __future__ import annotations

from bot.gate.kinds.base import StepKind


class Command(StepKind):
    name = "command"
