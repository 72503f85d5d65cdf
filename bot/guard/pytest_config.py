"""pytest settings before and after a change, compared for what they collect and select (pure).

pytest reads one of several files (pytest.toml, pytest.ini, pyproject.toml, tox.ini,
setup.cfg), from the directory of the paths it is given upwards, so a section added to any of
them, anywhere, can replace the project's own settings. Options that only change how results
are shown pass; anything that picks tests, skips them or decides outcomes is a finding.
"""

from __future__ import annotations

import configparser
import shlex
from collections import Counter
from pathlib import PurePosixPath
from typing import Any

from bot import toml

# file name -> where its pytest section is ("toml"/"ini", path to the table or section name)
_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pytest.toml": ("toml", ("pytest",)),
    ".pytest.toml": ("toml", ("pytest",)),
    "pyproject.toml": ("toml", ("tool", "pytest")),
    "pytest.ini": ("ini", ("pytest",)),
    ".pytest.ini": ("ini", ("pytest",)),
    "tox.ini": ("ini", ("pytest",)),
    "setup.cfg": ("ini", ("tool:pytest",)),
}
CONFIG_FILES = tuple(_SECTIONS)
_SELECTION_KEYS = frozenset(
    {
        "testpaths",
        "python_files",
        "python_classes",
        "python_functions",
        "norecursedirs",
        "collect_ignore",
        "markers",
        "xfail_strict",
        "strict_xfail",
        "filterwarnings",
        "pythonpath",
        "required_plugins",
        "usefixtures",
        "empty_parameter_set_mark",
        "confcutdir",
        "rootdir",
        "env",
        "consider_namespace_packages",
        "python_classes_glob",
        "doctest_optionflags",
        "doctest_encoding",
    }
)
# addopts that change only what is shown; a value in the next word for the first set.
_SHOWN_WITH_VALUE = frozenset({"--tb", "-r", "--durations", "--color", "--capture"})
_SHOWN = frozenset(
    {"-v", "-vv", "-vvv", "--verbose", "-q", "--quiet", "-l", "--showlocals", "-s", "--no-header"}
    | {"--no-summary", "--strict-markers", "--strict-config", "--strict", "-ra", "-rA", "-rs"}
)
ENV_NAMES = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


def is_pytest_config(path: str) -> bool:
    return PurePosixPath(path).name in _SECTIONS


class Unreadable(ValueError):
    """A configuration file that its own parser rejects."""


def pytest_section(path: str, data: bytes | None) -> dict[str, Any] | None:
    """The pytest settings `path` holds (None: no section or no file); Unreadable if broken."""
    if data is None:
        return None
    kind, where = _SECTIONS[PurePosixPath(path).name]
    try:
        text = data.decode("utf-8")
        if kind == "toml":
            table: Any = toml.loads(text)
            for key in where:
                table = table.get(key) if isinstance(table, dict) else None
            if isinstance(table, dict) and isinstance(table.get("ini_options"), dict):
                table = {**table, **table["ini_options"]}
                del table["ini_options"]
            return dict(table) if isinstance(table, dict) and table else None
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.read_string(text)
    except (UnicodeDecodeError, toml.TOMLDecodeError, configparser.Error) as exc:
        raise Unreadable(f"{path} cannot be parsed ({str(exc).splitlines()[0][:120]})") from exc
    if not parser.has_section(where[0]):
        return None
    return dict(parser.items(where[0]))


def _words(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _meaningful(addopts: Any) -> Counter[str]:
    """The addopts words that select tests or decide outcomes."""
    words, kept = _words(addopts), Counter[str]()
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word in _SHOWN_WITH_VALUE:
            skip_next = True
        elif word in _SHOWN or word.split("=", 1)[0] in _SHOWN_WITH_VALUE:
            continue
        elif word.startswith("-r") and len(word) > 2 and word[2:].isalpha():
            continue  # -rfE and the like: which outcomes the summary lists
        else:
            kept[word] += 1
    return kept


def _doctest_options(addopts: Any) -> Counter[str]:
    """`--doctest-modules` and each `--doctest-glob=PATTERN` in addopts: what collects doctests."""
    words, found = _words(addopts), Counter[str]()
    for i, word in enumerate(words):
        if word == "--doctest-modules":
            found[word] += 1
        elif word == "--doctest-glob" and i + 1 < len(words):
            found[f"--doctest-glob={words[i + 1]}"] += 1
        elif word.startswith("--doctest-glob="):
            found[word] += 1
    return found


def doctest_globs(section: dict[str, Any] | None) -> list[str]:
    """The --doctest-glob patterns a pytest section's addopts sets."""
    options = _doctest_options(section.get("addopts", "")) if section else Counter[str]()
    return [word.split("=", 1)[1] for word in options if word.startswith("--doctest-glob=")]


def compare_settings(
    path: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[str]:
    """What the change to `path`'s pytest section does to collection and selection, in words."""
    if before is None and after is None:
        return []
    if before is None:
        return [f"{path}: adds a pytest configuration, which may replace the project's own"]
    if after is None:
        return [f"{path}: removes the pytest configuration"]
    found = []
    added = _meaningful(after.get("addopts", "")) - _meaningful(before.get("addopts", ""))
    if added:
        words = " ".join(sorted(added))[:80]
        found.append(f"{path}: adds `{words}` to addopts, which changes which tests run or how")
    dropped = _doctest_options(before.get("addopts", "")) - _doctest_options(
        after.get("addopts", "")
    )
    if dropped:
        words = " ".join(sorted(dropped))[:80]
        found.append(f"{path}: removes `{words}` from addopts, so doctests no longer run")
    for key in sorted(_SELECTION_KEYS & (set(before) | set(after))):
        if _words(before.get(key, "")) != _words(after.get(key, "")):
            found.append(f"{path}: changes the pytest setting {key}")
    return found
