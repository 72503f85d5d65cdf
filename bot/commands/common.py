"""What every subcommand needs from its arguments: the repo and the configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.config import Config, load_config
from bot.errors import BadInput


def repo_root(path: str | None) -> Path:
    """The --repo argument as an existing directory (default: the current one)."""
    repo = Path(path or ".").resolve()
    if not repo.is_dir():
        raise BadInput(f"--repo {path}: no such directory")
    return repo


def config_from_args(args: argparse.Namespace, repo: Path) -> Config:
    """The layered configuration, with the flags this subcommand has on top."""
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
