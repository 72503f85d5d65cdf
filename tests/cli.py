"""Running the real `selfheal` command line in tests, and reading what it left behind."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import git


def selfheal(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def heal(
    repo: Path, agent: str | None, *extra: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`selfheal heal --repo REPO` with a command agent (or none) and extra flags."""
    args = ["heal", "--repo", str(repo)]
    if agent is not None:
        args += ["--agent", "command", "--agent-command", agent]
    return selfheal(*args, *extra, **kwargs)


def scripted(tmp_path: Path, *attempts: dict) -> str:
    """An --agent-command that replays the given attempts (see bot/agent/scripted.py)."""
    script = tmp_path / f"agent-{len(list(tmp_path.glob('agent-*.json')))}.json"
    script.write_text(json.dumps({"attempts": list(attempts)}), encoding="utf-8")
    return shlex.join([sys.executable, "-m", "bot.agent.scripted", str(script)]) + " {prompt_file}"


def state(repo: Path) -> tuple[str, str, str, str]:
    """Everything about the user's checkout that selfheal must leave alone."""
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "status", "--porcelain", "--untracked-files=all", "--", ".", ":!.selfheal"),
        git(repo, "worktree", "list", "--porcelain").count("worktree "),
    )


def origin_branches(repo: Path) -> list[str]:
    origin = git(repo, "remote", "get-url", "origin").strip()
    return git(Path(origin), "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()


def load(repo: Path) -> dict:
    return json.loads((repo / ".selfheal" / "report.json").read_text())
