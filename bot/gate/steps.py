"""Gate steps: which to run for a repo, and the exact argv to run each with.

`prepare` asks the step's kind (bot/gate/kinds/), which adds only what the bot needs to read
results structurally (ruff JSON; for pytest, selfheal's own plugin, or a junit file when that
plugin cannot load); the output a user sees is rebuilt to read like the tool's own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.config import DEFAULT_CONFIG_PATH, GateStep
from bot.errors import BadInput
from bot.gate.kinds import Options, PreparedStep, kind_for
from bot.gate.kinds.base import resolve_executable
from bot.gate.kinds.pytest import PLUGIN_MODULE, install_plugin, plugin_dir, plugin_refused
from bot.gate.kinds.pytest_argv import apply_selection, exclude_marker
from bot.gate.toolpins import pre_commit_hooks

__all__ = [
    "PLUGIN_MODULE",
    "PreparedStep",
    "apply_selection",
    "default_gate",
    "exclude_marker",
    "fixer_argv",
    "install_plugin",
    "plugin_dir",
    "plugin_refused",
    "prepare",
    "resolve_executable",
    "resolve_gate",
]

# Directories that never hold the project's own tests.
_SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "env", ".tox", ".nox", "node_modules", "build", "dist", "__pycache__"}
)
_RUFF_SECTION = re.compile(r"^\s*\[tool\.ruff(?:\.[^\]]*)?\]", re.MULTILINE)
_PYTEST_SECTIONS = {
    "pyproject.toml": re.compile(r"^\s*\[tool\.pytest(?:\.ini_options)?\]", re.MULTILINE),
    "setup.cfg": re.compile(r"^\s*\[tool:pytest\]", re.MULTILINE),
    "tox.ini": re.compile(r"^\s*\[pytest\]", re.MULTILINE),
}
_PYTEST_FILES = ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def uses_ruff(repo: Path) -> bool:
    """The repo configures ruff (a ruff.toml, or a [tool.ruff] table in pyproject.toml)."""
    if (repo / "ruff.toml").is_file() or (repo / ".ruff.toml").is_file():
        return True
    return bool(_RUFF_SECTION.search(_read(repo / "pyproject.toml")))


def _walk_files(repo: Path) -> Iterator[str]:
    for _root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        yield from files


def has_tests(repo: Path) -> bool:
    """The repo has pytest tests or pytest configuration."""
    if (repo / "tests").is_dir() or (repo / "test").is_dir():
        return True
    if any((repo / name).is_file() for name in _PYTEST_FILES):
        return True
    for name, section in _PYTEST_SECTIONS.items():
        if section.search(_read(repo / name)):
            return True
    return any(
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
        for name in _walk_files(repo)
    )


def default_gate(repo: Path) -> list[GateStep]:
    """The gate for a repo that configures none: ruff if it uses ruff, pytest if it has tests."""
    steps = []
    if uses_ruff(repo):
        # Where pre-commit runs ruff, its hooks say which of the two the project's CI runs
        # (many lint with ruff and format with black).
        hooks = pre_commit_hooks(repo)
        if hooks is None or hooks & {"ruff", "ruff-check"}:
            steps.append(GateStep(name="ruff", run=["ruff", "check", "."], kind="ruff"))
        if hooks is None or "ruff-format" in hooks:
            steps.append(
                GateStep(
                    name="ruff format", run=["ruff", "format", "--check", "."], kind="ruff-format"
                )
            )
    if has_tests(repo):
        steps.append(GateStep(name="pytest", run=["pytest"], kind="pytest"))
    return steps


def detection_notes(repo: Path) -> list[str]:
    """Why each step the zero-config gate knows is run or left out: one line each."""
    if not uses_ruff(repo):
        notes = ["ruff, ruff format: skipped (no ruff.toml, .ruff.toml or [tool.ruff])"]
    elif (hooks := pre_commit_hooks(repo)) is None:
        notes = ["ruff, ruff format: run (the repository configures ruff)"]
    else:
        notes = [
            f"{name}: run (a pre-commit hook runs it)"
            if hooks & ids
            else f"{name}: skipped (ruff is configured, but no pre-commit hook runs it)"
            for name, ids in (("ruff", {"ruff", "ruff-check"}), ("ruff format", {"ruff-format"}))
        ]
    notes.append(
        "pytest: run (tests or pytest configuration found)"
        if has_tests(repo)
        else "pytest: skipped (no tests/ or test/, no test_*.py, no pytest configuration)"
    )
    return notes


_CONFIGURE_HINT = f"""\
Configure it in {DEFAULT_CONFIG_PATH}, for example:

gate:
  - name: tests
    run: pytest -q
    kind: pytest
  - name: types
    run: mypy src
"""


def resolve_gate(steps: list[GateStep] | None, repo: Path) -> list[GateStep]:
    """The configured steps, or the detected ones; BadInput when that leaves nothing to run."""
    if steps is None:
        resolved = default_gate(repo)
        if not resolved:
            raise BadInput(
                "no gate to run: the repository configures no ruff and has no tests, and no "
                f"gate is configured. {_CONFIGURE_HINT}"
            )
        return resolved
    if not steps:
        raise BadInput(
            f"the configured gate is empty: it needs at least one step. {_CONFIGURE_HINT}"
        )
    names = [s.name for s in steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInput(f"gate step names must be unique; repeated: {', '.join(duplicates)}")
    return list(steps)


# --- argv: each kind's own (bot/gate/kinds/) ---------------------------------------------


def prepare(
    step: GateStep,
    scratch: Path,
    selection: Sequence[str] = (),
    *,
    search_path: str | None = None,
    plugin: bool = True,
    deselect_marker: str | None = None,
    watch: Sequence[str] = (),
) -> PreparedStep:
    """The argv to run `step` with (and its results path); `selection` re-runs only those tests.

    `search_path` is the PATH the step will run with (default: ours). pytest steps load
    selfheal's plugin (see `install_plugin`), or with `plugin=False` write a junit file.
    `deselect_marker` leaves out the pytest tests marked with it (`gpu` on a CPU runner);
    `watch` names tests whose outcome a full run reports.
    """
    kind = kind_for(step)
    if not kind.selects_tests:
        selection, watch, deselect_marker = (), (), None
    options = Options(
        selection=selection,
        watch=watch,
        search_path=search_path,
        plugin=plugin,
        deselect_marker=deselect_marker,
    )
    return kind.prepare(step, scratch, options)


def fixer_argv(step: GateStep) -> list[str] | None:
    """The deterministic fixer for a step (`ruff check --fix`, `ruff format`), or None.

    Like `prepare`, it falls back to our own interpreter's ruff when PATH has none.
    """
    return kind_for(step).fixer_argv(step)
