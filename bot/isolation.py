"""How far what selfheal runs (gate steps, command agents) is kept from selfheal itself,
said in the report.

Today: selfheal is non-dumpable (processes of its own user cannot read its environment or
memory) and holds its secrets outside its environment. Running the gate and the agent as a
throwaway user without sudo, where selfheal could (as root, or with passwordless sudo as on
GitHub-hosted runners), is not built yet; `isolation: user` is refused until it is.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Literal

IsolationSetting = Literal["auto", "user", "none"]
SAME_USER = "process: non-dumpable, same user"
SAME_USER_DUMPABLE = "process: same user (this platform cannot make selfheal non-dumpable)"
USER_NOT_BUILT = (
    "a separate user for the gate and agents is not built yet; use `auto` (selfheal "
    "non-dumpable, the same user) or `none`"
)

_non_dumpable = False


def record_non_dumpable(done: bool) -> None:
    """What `bot.reaper.make_non_dumpable` achieved, for the report."""
    global _non_dumpable  # noqa: PLW0603 - one fact about this process, set once at start
    _non_dumpable = done


@functools.cache
def could_switch_user() -> str | None:
    """Why a separate user would be possible here (root, passwordless sudo), or None."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "running as root"
    sudo = shutil.which("sudo")
    if sudo is None:
        return None
    try:
        done = subprocess.run(
            [sudo, "-n", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=5,
            check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "passwordless sudo" if done.returncode == 0 else None


def describe() -> str:
    """The report's `isolation` line for this process."""
    used = SAME_USER if _non_dumpable else SAME_USER_DUMPABLE
    possible = could_switch_user()
    if possible is not None:
        used += f"; a separate user was possible ({possible}) but is not built yet"
    return used
