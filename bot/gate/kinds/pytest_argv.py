"""pytest's command line, read without pytest: where its options end and its paths begin.

Used where selfheal's plugin cannot be: the junit fallback re-runs tests by naming their
ids on the command line (`apply_selection`) and leaves out gpu tests with `-m`
(`exclude_marker`); and the report shows a re-run as the user's command with the ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.gate.kinds.base import before_double_dash

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


def _options(argv: list[str]) -> Iterator[list[str]]:
    """The words after the program, grouped: an option with its value, a path, and at `--`
    one group of everything left (all of it paths)."""
    i = _program_end(argv)
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            yield argv[i:]
            return
        following = argv[i + 1] if i + 1 < len(argv) else None
        valued = following is not None and (_takes_value(arg, following) or arg == "-m")
        if arg.startswith("-") and arg != "-" and valued:
            assert following is not None  # for the type checker: `valued` says so
            yield [arg, following]
            i += 2
            continue
        yield [arg]
        i += 1


def turns_off(argv: Sequence[str], plugin: str) -> bool:
    """Whether the command line `argv` turns pytest's `plugin` off (`-p no:NAME` or
    `-pno:NAME`), read as pytest reads `-p` before anything else
    (PytestPluginManager.consider_preparse): every word after the program, `--` too."""
    words = list(argv)[_program_end(list(argv)) :]
    i = 0
    while i < len(words):
        word, i = words[i], i + 1
        if word == "-p":
            if i == len(words):
                return False
            value, i = words[i], i + 1
        elif word.startswith("-p"):
            value = word[2:]
        else:
            continue
        if value.strip() == f"no:{plugin}":
            return True
    return False


def _is_path(words: list[str]) -> bool:
    return words[0] == "--" or not words[0].startswith("-") or words[0] == "-"


def _marker_of(words: list[str]) -> str | None:
    """The expression of a `-m EXPR`, `-mEXPR` or `-m=EXPR` group; None for anything else."""
    if words[0] == "-m" and len(words) == 2:
        return words[1]
    if words[0].startswith("-m") and len(words) == 1:
        return words[0][2:].removeprefix("=")
    return None


def apply_selection(argv: Sequence[str], selection: Sequence[str]) -> list[str]:
    """`argv` with its test paths replaced by the node ids in `selection` (options kept)."""
    argv = list(argv)
    kept = argv[: _program_end(argv)]
    for words in _options(argv):
        if not _is_path(words):
            kept += words
    return [*kept, *selection]


def exclude_marker(argv: Sequence[str], marker: str) -> list[str]:
    """`argv` with `-m "not MARKER"` and-ed with the -m it gave (the last, as pytest reads it).

    Only the command line is seen here: a -m in the project's addopts would be replaced.
    selfheal's plugin does this inside pytest instead, where it sees every -m.
    """
    argv = list(argv)
    kept = argv[: _program_end(argv)]
    given: str | None = None
    for words in _options(argv):
        expression = _marker_of(words)
        if expression is None:
            kept += words
        else:
            given = expression
    expression = f"({given}) and not {marker}" if given and given.strip() else f"not {marker}"
    return before_double_dash(kept, ["-m", expression])
