"""Gate steps: which to run for a repo, and the exact argv to run each with.

`prepare` adds only what the bot needs to read results structurally (ruff JSON; for pytest,
selfheal's own plugin, or a junit file when that plugin cannot load); the output a user sees
is rebuilt to read like the tool's own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import DEFAULT_CONFIG_PATH, GateStep
from bot.errors import BadInput

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
        steps.append(GateStep(name="ruff", run=["ruff", "check", "."], kind="ruff"))
        steps.append(
            GateStep(name="ruff format", run=["ruff", "format", "--check", "."], kind="ruff-format")
        )
    if has_tests(repo):
        steps.append(GateStep(name="pytest", run=["pytest"], kind="pytest"))
    return steps


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


# --- argv -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedStep:
    """A step with the argv the bot runs, and where pytest's results will be (pytest only):
    the file selfheal's plugin writes (`results_path`), or a junit file (`junit_path`)."""

    step: GateStep
    argv: list[str]
    junit_path: Path | None
    results_path: Path | None = None


# The pytest plugin (bot/gate/pytest_plugin.py) runs in the project's interpreter, which may
# not have selfheal: a copy under this module name goes into a scratch directory that the
# pytest step alone gets on its PYTHONPATH.
PLUGIN_MODULE = "_selfheal_pytest"
_PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")


def plugin_dir(scratch: Path) -> Path:
    """The directory (under `scratch`) that holds the plugin's copy: put it on PYTHONPATH."""
    return scratch / "pytest-plugin"


def install_plugin(scratch: Path) -> Path:
    """Copy selfheal's pytest plugin into `scratch`; returns `plugin_dir(scratch)`."""
    where = plugin_dir(scratch)
    where.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_PLUGIN_SOURCE, where / f"{PLUGIN_MODULE}.py")
    return where


def plugin_refused(output: str) -> bool:
    """pytest said it could not load selfheal's plugin (a wrapper that drops PYTHONPATH)."""
    return PLUGIN_MODULE in output or "--selfheal-results" in output


def _before_double_dash(argv: list[str], extra: Sequence[str]) -> list[str]:
    """Options added where the tool still reads options: before a `--`, else at the end."""
    if "--" in argv:
        at = argv.index("--")
        return [*argv[:at], *extra, *argv[at:]]
    return [*argv, *extra]


def _without(
    argv: list[str], flags: frozenset[str], valued: frozenset[str] = frozenset()
) -> list[str]:
    """`argv` without `flags`, and without `valued` options together with their values."""
    kept: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if i == 0 or arg == "--" or "--" in kept:
            kept.append(arg)
        elif arg in flags or arg.split("=", 1)[0] in valued:
            skip_next = arg in valued  # "--output-format json": drop the value too
        else:
            kept.append(arg)
    return kept


# Options that would stop ruff printing one JSON diagnostic per problem.
_RUFF_NO_JSON = frozenset({"--statistics", "--silent", "-s", "--show-files", "--show-settings"})
_RUFF_NO_JSON |= frozenset({"--diff", "--watch", "-w"})
# ...and options whose value would send it elsewhere (--output-file writes it to a file).
_RUFF_OUTPUT_OPTS = frozenset({"--output-format", "--format", "--output-file", "-o"})


def _safe_name(name: str) -> str:
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:40]}-{digest}"


# Tools selfheal depends on itself, runnable as `python -m NAME` from its own environment.
_OWN_MODULES = frozenset({"ruff"})


def resolve_executable(argv: list[str], search_path: str | None = None) -> list[str]:
    """Use our own interpreter's copy of a tool that is not on PATH (selfheal's venv not active)."""
    first = argv[0]
    if "/" in first or shutil.which(first, path=search_path) is not None:
        return argv
    ours = Path(sys.executable).parent / first
    if ours.is_file() and os.access(ours, os.X_OK):
        return [str(ours), *argv[1:]]
    if first in _OWN_MODULES and importlib.util.find_spec(first) is not None:
        return [sys.executable, "-m", first, *argv[1:]]  # e.g. ruff from a shared site-packages
    return argv


def prepare(
    step: GateStep,
    scratch: Path,
    selection: Sequence[str] = (),
    *,
    search_path: str | None = None,
    plugin: bool = True,
    deselect_marker: str | None = None,
) -> PreparedStep:
    """The argv to run `step` with (and its results path); `selection` re-runs only those tests.

    `search_path` is the PATH the step will run with (default: ours). pytest steps load
    selfheal's plugin (see `install_plugin`), or with `plugin=False` write a junit file.
    `deselect_marker` leaves out the pytest tests marked with it (`gpu` on a CPU runner).
    """
    argv = list(step.run)
    junit: Path | None = None
    results: Path | None = None
    if step.kind == "ruff":
        argv = _without(argv, _RUFF_NO_JSON, _RUFF_OUTPUT_OPTS)
        argv = _before_double_dash(argv, ["--output-format=json"])
    elif step.kind == "ruff-format":
        # Its own text is what we read (older ruff has no JSON here): keep it on, and plain.
        argv = _without(argv, frozenset({"--silent", "-s"}), frozenset({"--output-format"}))
        if "--check" not in argv:
            argv = _before_double_dash(argv, ["--check"])
    elif step.kind == "pytest":
        if selection:
            argv = apply_selection(argv, selection)
        if plugin:
            # --junitxml would cost pytest an XML element for every passing test; the plugin
            # writes only what failed.
            results = scratch / f"{_safe_name(step.name)}.jsonl"
            extra = ["-p", PLUGIN_MODULE, f"--selfheal-results={results}"]
            if deselect_marker:
                # The plugin and-s it with the final -m, wherever the project gave one.
                extra.append(f"--selfheal-deselect-marker={deselect_marker}")
        else:
            junit = scratch / f"{_safe_name(step.name)}.xml"
            # xunit1 carries file and line; junit_logging=no keeps captured output out of it.
            extra = [f"--junitxml={junit}", "-o", "junit_family=xunit1", "-o", "junit_logging=no"]
            if deselect_marker:
                argv = exclude_marker(argv, deselect_marker)
        argv = _before_double_dash(argv, extra)
    return PreparedStep(
        step=step,
        argv=resolve_executable(argv, search_path),
        junit_path=junit,
        results_path=results,
    )


def fixer_argv(step: GateStep) -> list[str] | None:
    """The deterministic fixer for a step (`ruff check --fix`, `ruff format`), or None.

    Like `prepare`, it falls back to our own interpreter's ruff when PATH has none.
    """
    if step.kind == "ruff":
        # Options that would stop it writing fixes (or stop it at all) are left out.
        argv = _without(list(step.run), _RUFF_NO_JSON | {"--no-fix", "--exit-zero", "-e"})
        if "--fix" not in argv:
            argv = _before_double_dash(argv, ["--fix"])
        return resolve_executable(argv)
    if step.kind == "ruff-format":
        return resolve_executable(_without(list(step.run), frozenset({"--check", "--diff"})))
    return None


# --- pytest selection -------------------------------------------------------------------

# pytest options (and common plugins') that take a separate value: `-k expr`, `--tb short`.
_PYTEST_VALUED_SHORT = frozenset("kmcpoWrn")
_PYTEST_VALUED_LONG = frozenset(
    {
        "--rootdir",
        "--confcutdir",
        "--basetemp",
        "--junitxml",
        "--junit-xml",
        "--junit-prefix",
        "--tb",
        "--durations",
        "--durations-min",
        "--maxfail",
        "--deselect",
        "--ignore",
        "--ignore-glob",
        "--override-ini",
        "--config-file",
        "--import-mode",
        "--capture",
        "--color",
        "--code-highlight",
        "--pastebin",
        "--doctest-glob",
        "--doctest-report",
        "--log-level",
        "--log-format",
        "--log-date-format",
        "--log-cli-level",
        "--log-cli-format",
        "--log-cli-date-format",
        "--log-file",
        "--log-file-level",
        "--log-file-format",
        "--log-file-date-format",
        "--log-file-mode",
        "--show-capture",
        "--assert",
        "--verbosity",
        "--last-failed-no-failures",
        "--lfnf",
        "--cache-show",
        "--debug",
        "--pdbcls",
        "--report-log",
        "--cov",
        "--cov-report",
        "--cov-config",
        "--cov-fail-under",
        "--cov-context",
        "--numprocesses",
        "--dist",
        "--maxprocesses",
        "--max-worker-restart",
        "--tx",
        "--rsyncdir",
        "--timeout",
        "--timeout-method",
        "--reruns",
        "--reruns-delay",
        "--only-rerun",
        "--randomly-seed",
        "--hypothesis-seed",
        "--hypothesis-profile",
        "--html",
        "--json-report-file",
        "--benchmark-json",
        "--benchmark-save",
        "--benchmark-storage",
        "--asyncio-mode",
        "--ds",
        "--dc",
        "--count",
        "--repeat-scope",
        "--splits",
        "--group",
        "--splitting-algorithm",
        "--durations-path",
    }
)
_PYTEST_PROGRAMS = frozenset({"pytest", "py.test"})


def _program_end(argv: list[str]) -> int:
    """Index after the words that start pytest (`pytest`, `python -m pytest`, `uv run pytest`)."""
    for i, arg in enumerate(argv):
        if Path(arg).name in _PYTEST_PROGRAMS:
            return i + 1
        if arg == "-m" and i + 1 < len(argv) and argv[i + 1] in _PYTEST_PROGRAMS:
            return i + 2
    return 1


def _takes_value(arg: str, following: str | None) -> bool:
    """Whether option `arg` consumes the next word as its value."""
    if arg.startswith("--"):
        if "=" in arg:
            return False
        if arg in _PYTEST_VALUED_LONG:
            return True
        # An unknown plugin option followed by a number: a number is never a test path.
        return following is not None and following.isdigit()
    # Short cluster: the first value-taking letter swallows the rest, or the next word.
    for j, letter in enumerate(arg[1:], start=1):
        if letter in _PYTEST_VALUED_SHORT:
            return j == len(arg) - 1
    return False


def apply_selection(argv: Sequence[str], selection: Sequence[str]) -> list[str]:
    """`argv` with its test paths replaced by the node ids in `selection` (options kept)."""
    argv = list(argv)
    start = _program_end(argv)
    kept = argv[:start]
    i = start
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break  # everything after it is a path
        if arg.startswith("-") and arg != "-":
            following = argv[i + 1] if i + 1 < len(argv) else None
            if _takes_value(arg, following) and following is not None:
                kept += [arg, following]
                i += 2
                continue
            kept.append(arg)
        i += 1
    return [*kept, *selection]


def exclude_marker(argv: Sequence[str], marker: str) -> list[str]:
    """`argv` with `-m "not MARKER"` and-ed with the -m it gave (the last, as pytest reads it).

    Only the command line is seen here: a -m in the project's addopts would be replaced.
    selfheal's plugin does this inside pytest instead, where it sees every -m.
    """
    argv = list(argv)
    start = _program_end(argv)
    kept = argv[:start]
    given: str | None = None
    i = start
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            kept += argv[i:]
            break
        if arg == "-m" and i + 1 < len(argv):
            given, i = argv[i + 1], i + 2
            continue
        if arg.startswith("-m") and not arg.startswith("--"):
            given, i = arg[2:].removeprefix("="), i + 1
            continue
        if arg.startswith("-") and arg != "-":
            following = argv[i + 1] if i + 1 < len(argv) else None
            if _takes_value(arg, following) and following is not None:
                kept += [arg, following]
                i += 2
                continue
        kept.append(arg)
        i += 1
    expression = f"({given}) and not {marker}" if given and given.strip() else f"not {marker}"
    return _before_double_dash(kept, ["-m", expression])
