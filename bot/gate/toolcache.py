"""The project's pinned ruff, installed on demand into a cache outside any repository.

`pinned_argv` turns a ruff argv into one that runs the version the project pins (see
toolpins.py), and says which ruff ran and why, for the report. A pin that cannot be
installed (no registry, no such release, a release too old to read) falls back to the
ruff selfheal would have used, and the label says so: the user learns why lint may differ.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.gate.toolpins import ToolPin, find_pin
from bot.proc import run_process

CACHE_VARIABLE = "SELFHEAL_TOOL_CACHE"
# ruff older than this has neither `ruff format` nor `--output-format=json`: its output
# could not be read, so the gate would fail on the reading, not the code.
OLDEST_RUFF = (0, 1, 2)
_INSTALL_TIMEOUT = 300.0
_RETRY_AFTER_S = 3600.0  # a failed install is not tried again by every gate run for an hour
_VERSION_OUT = re.compile(r"ruff (\d+(?:\.\d+)+)")


# A label for the report: its text, or what gives its text once asked (`label_text`)
Label = str | Callable[[], str]


@dataclass(frozen=True)
class ToolChoice:
    """Which ruff to run: `argv0` replaces the executable (None: keep it), `label` says why."""

    argv0: tuple[str, ...] | None
    label: str


def cache_root() -> Path:
    """Where pinned tools are installed: $SELFHEAL_TOOL_CACHE, else the user's cache dir."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selfheal" / "tools"


def is_ruff(argv: list[str]) -> int:
    """How many leading words of `argv` name ruff (`ruff`, a path to it, `python -m ruff`)."""
    if argv and Path(argv[0]).name == "ruff":
        return 1
    if len(argv) >= 3 and argv[1:3] == ["-m", "ruff"]:
        return 3
    return 0


def pinned_argv(
    argv: list[str], repo: Path | None, search_path: str | None = None
) -> tuple[list[str], Label]:
    """`argv` with ruff replaced by the project's pinned version, and a label for the report.

    `search_path` is the PATH the step runs with: the ruff it would find is the one asked
    for its version. With no pin, the version is only the label's, so the label is one to
    ask once the step has run (`label_text`): the question (`ruff --version`, a second
    interpreter for `python -m ruff`: about 40 ms) is off the way to the steps' start."""
    head = is_ruff(argv)
    if not head:
        return argv, ""
    pin = find_pin(repo) if repo is not None else None
    default = argv[:head]
    if head == 1 and "/" not in default[0]:
        default = [shutil.which(default[0], path=search_path) or default[0]]
    if pin is None:
        return argv, functools.partial(_unpinned_label, tuple(default))
    choice = _choose(tuple(default), pin, str(cache_root()))
    if choice.argv0 is None:
        return argv, choice.label
    return [*choice.argv0, *argv[head:]], choice.label


def label_text(label: Label) -> str:
    """What a label from `pinned_argv` says."""
    return label if isinstance(label, str) else label()


def _shown(version: str) -> str:
    return f"ruff {version}" if version else "ruff (version unknown)"


def _unpinned_label(default: tuple[str, ...]) -> str:
    return f"{_shown(version_of(default))} (the project pins none)"


@functools.lru_cache(maxsize=64)
def _choose(default: tuple[str, ...], pin: ToolPin, cache: str) -> ToolChoice:
    # Cached per process: heal runs the gate several times, and installs at most once.
    current = version_of(default)
    shown = _shown(current)
    where = f"pinned in {pin.source}"
    if current == pin.version:
        return ToolChoice(None, f"{shown} ({where})")
    if tuple(int(p) for p in pin.version.split(".")) < OLDEST_RUFF:
        oldest = ".".join(map(str, OLDEST_RUFF))
        why = f"older than {oldest}, whose output selfheal cannot read"
        return ToolChoice(None, f"{shown} (ruff {pin.version} {where} is {why})")
    executable, problem = install_ruff(pin.version, Path(cache))
    if executable is None:
        return ToolChoice(
            None, f"{shown} (ruff {pin.version} {where} could not be installed: {problem})"
        )
    return ToolChoice((str(executable),), f"ruff {pin.version} ({where})")


def version_of(argv0: tuple[str, ...]) -> str:
    """The version `argv0 --version` prints, or "" when it does not run. Asked once a
    process: the gate's ruff steps read their labels at once, each from a thread of its own."""
    with _ASKING:
        return _version_of(argv0)


_ASKING = threading.Lock()


@functools.lru_cache(maxsize=16)
def _version_of(argv0: tuple[str, ...]) -> str:
    result = run_process([*argv0, "--version"], Path.cwd(), timeout=30)
    found = _VERSION_OUT.search(result.stdout)
    return found.group(1) if found and result.returncode == 0 else ""


def install_ruff(version: str, cache: Path) -> tuple[Path | None, str]:
    """ruff `version` from the cache, installed there first if it is not; else why not."""
    home = cache / f"ruff-{version}"
    executable = home / "bin" / "ruff"
    if executable.is_file():
        return executable, ""
    failed = cache / f"ruff-{version}.failed"
    recent = _recent_failure(failed)
    if recent:
        return None, recent
    cache.mkdir(parents=True, exist_ok=True)
    # Installed beside its final place, then moved there in one step: two gates installing
    # the same version at once both end with one complete copy.
    staging = Path(tempfile.mkdtemp(prefix=f".ruff-{version}-", dir=cache))
    try:
        problem = _pip_install(version, staging)
        if not problem and version_of((str(staging / "bin" / "ruff"),)) != version:
            problem = "the installed ruff did not report that version"
        if problem:
            failed.write_text(problem, encoding="utf-8")
            return None, problem
        try:
            staging.rename(home)
        except OSError:
            if not executable.is_file():
                raise
        return executable, ""
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pip_install(version: str, target: Path) -> str:
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    argv += ["--no-deps", "--only-binary", ":all:", "--timeout", "20", "--retries", "1"]
    argv += ["--target", str(target), f"ruff=={version}"]
    result = run_process(argv, target, timeout=_INSTALL_TIMEOUT)
    if result.returncode == 0:
        return ""
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    said = (errors or lines or [f"pip exited {result.returncode}"])[-1]
    return said[:200]


def _recent_failure(marker: Path) -> str:
    try:
        if time.time() - marker.stat().st_mtime < _RETRY_AFTER_S:
            return marker.read_text(encoding="utf-8", errors="replace")[:200]
    except OSError:
        pass
    return ""
