"""What every subcommand needs from its arguments: the repo and the configuration."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import BadInput

if TYPE_CHECKING:  # imported where it is used: pydantic is not what `gate` starts with
    from bot.config import Config


def repo_root(path: str | None) -> Path:
    """The --repo argument as an existing directory (default: the current one)."""
    repo = Path(path or ".").resolve()
    if not repo.is_dir():
        raise BadInput(f"--repo {path}: no such directory")
    return repo


def config_from_args(args: argparse.Namespace, repo: Path) -> Config:
    """The layered configuration, with the flags this subcommand has on top."""
    from bot.config import load_config

    preset = getattr(args, "agent_preset", None)
    agent = getattr(args, "agent", None)
    flags = {
        "max_attempts": getattr(args, "max_attempts", None),
        # --agent-preset NAME means --agent command (unless --agent says otherwise: refused)
        "agent": agent if agent is not None or preset is None else "command",
        "agent_command": getattr(args, "agent_command", None),
        "agent_preset": preset,
        "model": getattr(args, "model", None),
    }
    return load_config(repo, Path(args.config) if args.config else None, flags)


def check_gate_programs(config: Config, repo: Path) -> None:
    """BadInput naming the step and the program when a configured step's program is not
    there, before any workspace is made (it would only fail after one, in report.md)."""
    import shutil

    from bot.gate.runner import step_env
    from bot.gate.steps import resolve_executable
    from bot.proc import scrubbed_env

    env = scrubbed_env(allow=config.env_allow)
    for step in config.gate or ():
        if step.requires == "gpu":
            continue  # it runs only on a GPU runner, which may be the only place with it
        search_path = step_env(step, repo, env).get("PATH")
        program = resolve_executable(list(step.run), search_path=search_path)[0]
        if "/" in program:
            path = Path(program) if Path(program).is_absolute() else repo / program
            try:
                found = path.is_file() and os.access(path, os.X_OK)
            except OSError:  # a directory on the way we may not search
                found = False
        else:
            found = shutil.which(program, path=search_path) is not None
        if not found:
            where = "on PATH" if "/" not in program else "an executable file"
            raise BadInput(f"gate step {step.name!r}: {program!r} is not {where}")
