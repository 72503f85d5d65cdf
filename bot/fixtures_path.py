"""Where the bundled fixtures are, in a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path


def fixtures_dir() -> Path:
    """The directory holding demo/ and demo-agent.json."""
    here = Path(__file__).resolve().parent
    source = here.parent / "fixtures"  # a checkout, or an editable install
    if (source / "demo").is_dir():
        return source
    return here / "_fixtures"  # a wheel: pyproject maps fixtures/ to bot._fixtures
