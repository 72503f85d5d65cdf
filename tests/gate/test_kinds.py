"""The step kind registry: one module per kind, and nothing else asks what kind a step is."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import GateStep
from bot.fix.fixers import fixers_for
from bot.gate import kinds
from bot.report import Category, Failure

RUFF = GateStep(name="lint", run=["ruff", "check", "."], kind="ruff")
FORMAT = GateStep(name="fmt", run=["ruff", "format", "--check", "."], kind="ruff-format")
PYTEST = GateStep(name="tests", run=["pytest"], kind="pytest")
MYPY = GateStep(name="types", run=["mypy", "src"])
BOT = Path(__file__).resolve().parents[2] / "bot"


def test_each_kind_has_its_module_and_says_what_it_can_do() -> None:
    assert [kinds.kind_for(s).name for s in (RUFF, FORMAT, PYTEST, MYPY)] == [
        "ruff",
        "ruff-format",
        "pytest",
        "command",
    ]
    assert [kinds.has_fixer(s) for s in (RUFF, FORMAT, PYTEST, MYPY)] == [
        True,
        True,
        False,
        False,
    ]
    assert [kinds.selects_tests(s) for s in (RUFF, FORMAT, PYTEST, MYPY)] == [
        False,
        False,
        True,
        False,
    ]
    assert kinds.kind_named("something-new").name == "command"


def test_fixers_run_lint_before_format_and_format_after_any_fix() -> None:
    lint = Failure(step="lint", category=Category.LINT, message="F401", signature="s")
    chosen = fixers_for([lint], [FORMAT, PYTEST, RUFF])
    assert [s.name for s in chosen] == ["lint", "fmt"]
    assert [kinds.kind_for(s).fixer_name for s in chosen] == ["ruff check --fix", "ruff format"]


def test_no_module_outside_the_kinds_asks_a_steps_kind() -> None:
    names = r"[\"'](?:ruff|ruff-format|pytest|command)[\"']"
    asks = re.compile(rf"\.kind\s*(?:==|!=)\s*{names}|\.kind\s+(?:not\s+)?in\s*[\(\[{{]\s*{names}")
    found = [
        f"{path.relative_to(BOT)}:{n}"
        for path in BOT.rglob("*.py")
        if "kinds" not in path.relative_to(BOT).parts
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if asks.search(line)
    ]
    assert found == []
