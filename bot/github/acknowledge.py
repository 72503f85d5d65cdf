"""Seen in seconds: an eyes reaction on what asked, and the sticky comment saying "working
on it" with the run's link, before any work starts; then, in a single-job run, that comment
follows the loop's stages. Holds the write token; runs no project code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.config import Config
from bot.forge.github import ForgeError, GitHub
from bot.github.decision import Decision
from bot.github.trigger import Target
from bot.render.comment import render_working


@dataclass(frozen=True)
class Acknowledged:
    """The sticky comment the final report will replace (None: no thread to comment on)."""

    comment_id: int | None
    comment_url: str | None


def links_for(run_url: str | None) -> list[str]:
    return [f"Workflow run: {run_url}"] if run_url else []


def acknowledge(
    github: GitHub, decision: Decision, target: Target, run_url: str | None
) -> Acknowledged:
    """React to the comment with the command, else to the labelled issue (a red build has
    nothing to react to), and put "working on it" in the thread's sticky comment."""
    try:
        if decision.comment_id is not None:
            github.react(comment_id=decision.comment_id)
        elif decision.issue is not None and target.thread == decision.issue:
            github.react(number=decision.issue)
    except ForgeError as exc:  # a courtesy: a comment deleted meanwhile stops nothing
        print(f"selfheal: no reaction: {exc}")
    if target.thread is None:
        return Acknowledged(None, None)
    body = render_working(runs=target.runs, links=links_for(run_url))
    if target.sticky_id is not None:
        comment = github.edit_comment(target.sticky_id, body)
    else:
        comment = github.comment(target.thread, body)
    return Acknowledged(comment.id, comment.html_url)


class StageComment:
    """The loop's progress callback: each stage line edits the sticky comment, at most once
    per `interval` seconds (GitHub's pace for writes); a line that comes sooner is skipped (the
    next line, or the final report that replaces the comment, says more). A failed edit is said once and
    ends the updates, never the run."""

    def __init__(
        self,
        github: GitHub,
        comment_id: int,
        *,
        runs: int,
        links: Sequence[str],
        interval: float,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.github, self.comment_id = github, comment_id
        self.runs, self.links, self.interval = runs, list(links), interval
        self.say, self.clock = say, clock
        self.last: float | None = None
        self.broken = False

    def __call__(self, stage: str) -> None:
        if self.broken:
            return
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return
        self.last = now
        body = render_working(runs=self.runs, links=self.links, stage=stage)
        try:
            self.github.edit_comment(self.comment_id, body)
        except ForgeError as exc:
            self.broken = True
            self.say(f"selfheal: the progress comment is no longer updated: {exc}")


def acknowledged(
    github: GitHub, decision: Decision, target: Target, config: Config, run_url: str | None
) -> tuple[Target, StageComment | None]:
    """Acknowledge, and hand back the target with the comment to edit at the end and the
    progress callback that keeps that comment current (None without a thread)."""
    done = acknowledge(github, decision, target, run_url)
    if done.comment_id is None:
        return target, None
    print(f"selfheal: acknowledged in {done.comment_url}")
    follow = StageComment(
        github,
        done.comment_id,
        runs=target.runs,
        links=links_for(run_url),
        interval=config.api_write_interval,
    )
    return replace(target, sticky_id=done.comment_id), follow
