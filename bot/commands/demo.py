"""`selfheal demo`: copy the bundled broken repo to a temp dir and heal it end to end."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bot.agent.replay import ReplayServer, load_script
from bot.agent.select import make_claude
from bot.artifacts import report_dir_for
from bot.commands.loop import execute
from bot.config import GateStep, GitIdentity, load_config
from bot.errors import BadInput, GitError
from bot.fix.loop import Job
from bot.fixtures_path import fixtures_dir
from bot.forge.git import seed_repo
from bot.secrets import environment, secret

SCRIPTED_NOTE = (
    "The model's answers in this demo are scripted: the real Claude agent code runs through the "
    "anthropic SDK against a local replay of fixtures/demo-claude.json, not a language model. "
    "Use `selfheal demo --live` with ANTHROPIC_API_KEY set for the real API."
)
REPLAY_KEY = "selfheal-demo-replay"  # the replay server's key; not a credential
DEMO_IDENTITY = GitIdentity(name="selfheal demo", email="demo@selfheal.invalid")


def make_demo_repo(parent: Path) -> Path:
    """A fresh git repo holding the broken demo package, with a bare `origin` beside it."""
    repo = parent / "calc"
    shutil.copytree(
        fixtures_dir() / "demo",
        repo,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache"),
    )
    try:
        seed_repo(repo, parent / "origin.git", DEMO_IDENTITY, "calc: the broken demo package")
    except GitError as exc:
        raise GitError(f"demo set-up failed: {exc}") from exc
    return repo


def demo_gate() -> list[GateStep]:
    # The demo runs ruff and pytest from selfheal's own environment, so it works whether or
    # not that environment is activated.
    python = sys.executable
    return [
        GateStep(name="ruff", kind="ruff", run=[python, "-m", "ruff", "check", "."]),
        GateStep(
            name="ruff format",
            kind="ruff-format",
            run=[python, "-m", "ruff", "format", "--check", "."],
        ),
        GateStep(name="pytest", kind="pytest", run=[python, "-m", "pytest"]),
    ]


def demo(args: argparse.Namespace) -> int:
    parent = (
        Path(args.dir).resolve() if args.dir else Path(tempfile.mkdtemp(prefix="selfheal-demo-"))
    )
    parent.mkdir(parents=True, exist_ok=True)
    if args.live and not secret("ANTHROPIC_API_KEY"):
        raise BadInput(
            "selfheal demo --live needs ANTHROPIC_API_KEY; without --live the demo replays a script"
        )
    repo = make_demo_repo(parent)
    print(f"selfheal demo: a broken copy of the bundled demo package is at {repo}", file=sys.stderr)
    config = load_config(repo, None, {"gate": demo_gate(), "agent": "claude"})
    report_dir = report_dir_for(repo, None)
    if args.live:
        print("  The Claude agent talks to the real Messages API (--live).", file=sys.stderr)
        agent = make_claude(config, environment())
        code = execute(
            Job(mode="heal", repo=repo, config=config, agent=agent, report_dir=report_dir),
            as_json=args.json,
        )
    else:
        # The note itself comes once, with the outcome; here only what is happening now.
        print(
            "  healing it: ruff's fixers, then the Claude agent (scripted answers) ...",
            file=sys.stderr,
        )
        with ReplayServer(load_script(fixtures_dir() / "demo-claude.json")) as server:
            env = {"ANTHROPIC_API_KEY": REPLAY_KEY}
            agent = make_claude(config, env, base_url=server.base_url, note=SCRIPTED_NOTE)
            job = Job(mode="heal", repo=repo, config=config, agent=agent, report_dir=report_dir)
            code = execute(job, as_json=args.json)
    print(
        f"  origin (bare): {parent / 'origin.git'}   try: git -C {repo} log --stat selfheal/",
        file=sys.stderr,
    )
    return code
