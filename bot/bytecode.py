"""Where gate steps keep compiled bytecode and tool caches: outside the repository, warm
where nothing untrusted could have written them, fresh where something could.

Python reads and writes every .pyc under PYTHONPYCACHEPREFIX (the project's, the
interpreter's and its packages'), and pytest puts its assertion-rewritten test modules there
too (`_pytest.assertion.rewrite.get_cache_dir` follows `sys.pycache_prefix`); ruff keeps its
cache under RUFF_CACHE_DIR. So nothing compiled lands in the work tree, and a cache that
lives from run to run spares every run the compiling.

Trust: a timestamp pyc is taken as long as the source's mtime and size match its header,
and an agent (same user) can write the header it likes. Hash-based pycs do not help: the
header holds a hash of the *source*, which the agent can read, and the code after it is
never checked. So no check on a cache's contents makes it safe; only who could write it can:

- `selfheal gate` on the user's checkout: the user's own cache (like their __pycache__),
  kept from run to run: `user_cache_dir()`.
- heal and implement: no cache at all (`without_bytecode_cache`), as before. The work tree
  is new each run, so a cache would start cold for the project's files anyway, and a cold
  prefix also recompiles the interpreter's and pytest's modules (their own __pycache__ is
  not read under a prefix): measured, that cost more than it saved. The final gate then
  reads no pyc the agent could have written (reset_to removes the work tree's __pycache__).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PREFIX = "PYTHONPYCACHEPREFIX"
RUFF_CACHE = "RUFF_CACHE_DIR"


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """selfheal's cache for this user: $XDG_CACHE_HOME/selfheal, else ~/.cache/selfheal."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or "~") / ".cache")
    return Path(base).expanduser() / "selfheal"


def bytecode_env(env: Mapping[str, str], cache: Path, repo: Path) -> dict[str, str]:
    """`env` with bytecode and ruff's cache under `cache`. A cache inside `repo` (or one
    that can't be made) is not used: the steps then write no bytecode at all, as before."""
    out = dict(env)
    try:
        cache = cache.resolve()
        if cache.is_relative_to(repo.resolve()):
            raise OSError("inside the repository")
        (cache / "pycache").mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        out.pop(PREFIX, None)
        out["PYTHONDONTWRITEBYTECODE"] = "1"
        return out
    out[PREFIX] = str(cache / "pycache")
    out[RUFF_CACHE] = str(cache / "ruff")
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def without_bytecode_cache(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with no bytecode cache to read or write (a PYTHONPYCACHEPREFIX selfheal's own
    environment had would be one the agent can write to)."""
    out = {k: v for k, v in env.items() if k not in (PREFIX, RUFF_CACHE)}
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    return out
