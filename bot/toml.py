"""TOML reading: the standard library's tomllib, or on Python 3.10 its backport (tomli)."""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - the suite runs on 3.11+; CI's 3.10 job runs it
    import tomli as _toml

TOMLDecodeError: type[ValueError] = _toml.TOMLDecodeError


def loads(text: str) -> dict[str, Any]:
    """The document's top table; TOMLDecodeError (a ValueError) if it is not TOML."""
    table: dict[str, Any] = _toml.loads(text)
    return table
