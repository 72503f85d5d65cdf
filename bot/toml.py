"""TOML reading: the standard library's tomllib, or on Python 3.10 its backport (tomli)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError, loads
else:  # pragma: no cover - the suite runs on 3.11+; CI's 3.10 job runs it
    from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]
