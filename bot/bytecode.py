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
never checked. So no check on a cache's contents can make it safe; only who could write it
can. Hence three scopes:

- `selfheal gate` on the user's checkout: the user's own cache (like their __pycache__),
  kept from run to run: `user_cache_dir()`.
- a heal's runs while an agent works (baseline, re-runs, the agent's run_tests): one cache
  for the run, in a temp dir that goes with it, so nothing planted outlives the run.
- the final gate on the candidate commit: a new, empty cache, so its verdict depends on the
  commit's bytes and the environment alone, never on anything the agent left.
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
