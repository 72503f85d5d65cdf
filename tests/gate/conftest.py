"""Fixtures for the gate tests: captured tool output, and an environment that finds our tools."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.proc import scrubbed_env

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_ROOT = "/tmp/sample"  # where the captured runs happened (see samples/README.md)


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """A stand-in for the repo the samples were captured in (its top-level names matter)."""
    root = tmp_path / "sample"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests").mkdir()
    return root


Sample = Callable[[str], str]


@pytest.fixture
def sample(sample_repo: Path) -> Sample:
    """sample(name) -> a captured output, with the capture's repo path moved to `sample_repo`."""

    def _load(name: str) -> str:
        text = (SAMPLES / name).read_text(encoding="utf-8")
        return text.replace(SAMPLE_ROOT, str(sample_repo))

    return _load


@pytest.fixture
def gate_env() -> dict[str, str]:
    """Our environment with this interpreter's scripts first, as in an activated venv."""
    bindir = str(Path(sys.executable).parent)
    return scrubbed_env(extra={"PATH": bindir + os.pathsep + os.environ.get("PATH", "")})
