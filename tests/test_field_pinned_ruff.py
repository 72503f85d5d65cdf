"""The gate runs the ruff the project pins, installed on demand, and the report says which.

The fixture's code is formatted as ruff 0.4.10 wants it but not as selfheal's own (newer)
ruff does (0.9 joins implicit string concatenations), so the verdict shows which one ran.
"""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path

import pytest

from bot.gate.toolcache import CACHE_VARIABLE
from tests.cli import selfheal
from tests.conftest import MakeRepo

PINNED = "0.4.10"
# Outside the test's temp dirs, so the wheel is downloaded once per machine, not per run.
CACHE = Path(tempfile.gettempdir()) / "selfheal-test-tool-cache"

_PRE_COMMIT = """\
repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: 3b1ae2e5e5ff0b5a1aa1a0c8f6e5e8f3b0a1c2d3  # frozen: v{version}
    hooks:
      - id: ruff
      - id: ruff-format
"""
_FILES = {
    "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
    "greeting.py": 'GREETING = "hello, " "world"\n',
}


@pytest.fixture
def registry_or_cache() -> None:
    if (CACHE / f"ruff-{PINNED}" / "bin" / "ruff").is_file():
        return
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError as exc:
        pytest.skip(f"ruff {PINNED} is not cached and PyPI is not reachable: {exc}")


def _gate(repo: Path, tmp_path: Path) -> tuple[int, dict[str, str], dict[str, str]]:
    """Exit code, each step's status, and each step's tool label."""
    report_dir = tmp_path / f"report-{repo.name}"
    done = selfheal(
        "gate",
        "--repo",
        str(repo),
        "--report-dir",
        str(report_dir),
        env={CACHE_VARIABLE: str(CACHE)},
        timeout=600,
    )
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    steps = report["gate_before"]["steps"]
    return (
        done.returncode,
        {s["name"]: s["status"] for s in steps},
        {s["name"]: s["tool"] for s in steps},
    )


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.usefixtures("registry_or_cache")
def test_the_pinned_ruff_runs_and_is_named(make_repo: MakeRepo, tmp_path: Path) -> None:
    pinned = make_repo({**_FILES, ".pre-commit-config.yaml": _PRE_COMMIT.format(version=PINNED)})
    code, status, tool = _gate(pinned, tmp_path)
    assert (code, status) == (0, {"ruff": "passed", "ruff format": "passed"})
    label = f"ruff {PINNED} (pinned in .pre-commit-config.yaml)"
    assert tool == {"ruff": label, "ruff format": label}
    assert (CACHE / f"ruff-{PINNED}" / "bin" / "ruff").is_file()

    # The same code without the pin: selfheal's own ruff formats it differently.
    unpinned = make_repo(_FILES)
    code, status, tool = _gate(unpinned, tmp_path)
    assert (code, status["ruff format"]) == (1, "failed")
    assert tool["ruff format"].endswith("(the project pins none)")
    assert not tool["ruff format"].startswith(f"ruff {PINNED} ")


@pytest.mark.slow
def test_a_pin_that_cannot_be_installed_says_so(make_repo: MakeRepo, tmp_path: Path) -> None:
    # No such release (and offline, no registry): the bundled ruff runs, and the label says why.
    cache = tmp_path / "tools"
    repo = make_repo({**_FILES, ".pre-commit-config.yaml": _PRE_COMMIT.format(version="0.99.99")})
    done = selfheal(
        "gate",
        "--repo",
        str(repo),
        "--report-dir",
        str(tmp_path / "report"),
        env={CACHE_VARIABLE: str(cache)},
        timeout=600,
    )
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    tool = {s["name"]: s["tool"] for s in report["gate_before"]["steps"]}
    said = "(ruff 0.99.99 pinned in .pre-commit-config.yaml could not be installed: "
    assert said in tool["ruff"], tool
    assert done.returncode == 1  # selfheal's own ruff judged it: the joined strings
    assert (cache / "ruff-0.99.99.failed").is_file()
    assert not (cache / "ruff-0.99.99").exists()
