"""Fork pull requests get the safe part: the deterministic fixers on the fork's code, their
changes posted as review suggestions. Two halves, in two jobs:

- `fixers_patch` (the work job: the fork's code, no secret, no agent, no write token) runs
  ruff's fixers in a clean workspace and returns the patch;
- `post_review` (the job with the write token, which runs no project code) turns that patch
  into one review. It never pushes: suggestions are applied by the pull request's author.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config import Config
from bot.fix.fixers import FixerRun, all_fixers, run_step_fixers
from bot.forge import git
from bot.forge.github import GitHub
from bot.gate.steps import resolve_gate
from bot.github.suggestions import plan_review, review_body
from bot.github.trigger import Target
from bot.proc import scrubbed_env


@dataclass(frozen=True)
class Reviewed:
    status: str  # "suggested" (a review was posted) or "nothing_to_suggest"
    suggestions: int
    leftover_hunks: int
    url: str = ""


def fixers_patch(repo: Path, sha: str, config: Config) -> tuple[str, list[FixerRun]]:
    """The fixers' changes to commit `sha`, as a patch, and what ran. The fixers run in a
    workspace with selfheal's scrubbed environment: no token or key reaches them."""
    steps = all_fixers(resolve_gate(config.gate, repo))
    if not steps:
        return "", []
    with git.open_workspace(repo, sha) as ws:
        env = ws.child_env(scrubbed_env(allow=config.env_allow))
        runs = run_step_fixers(steps, ws.path, env, timeout=config.budget.wall_seconds)
        return ws.total_diff(), runs


def post_review(github: GitHub, target: Target, patch: str) -> Reviewed:
    """One COMMENT review on the target pull request at the commit the fixers ran on:
    suggestions inside its diff, a patch in the body for the rest; nothing when the fixers
    changed nothing."""
    assert target.thread is not None
    if not patch.strip():
        return Reviewed("nothing_to_suggest", 0, 0)
    files = {f.path: f.patch for f in github.pull_files(target.thread)}
    review = plan_review(patch, files)
    if not review.hunks:
        return Reviewed("nothing_to_suggest", 0, 0)
    url = github.review(
        target.thread,
        commit=target.sha,
        body=review_body(review, "ruff check --fix, ruff format"),
        comments=review.comments,
    )
    leftover = review.hunks - len(review.comments)
    return Reviewed("suggested", len(review.comments), leftover, url)
