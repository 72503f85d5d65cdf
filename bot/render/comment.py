"""The sticky comment: one per issue or pull request, found by a hidden marker, edited in
place; its hidden state counts the runs (pure).

Anyone can write a comment that contains the marker, so only comments posted by a bot
account (GitHub's `type: Bot`, which a person cannot fake) are taken as selfheal's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from bot.render.markdown import render_markdown
from bot.render.text import failure_where, md_text, plural
from bot.report import Report, Status

MARKER = "<!-- selfheal:report -->"
WORKING = "**selfheal is working on it.**"
COMMENT_LIMIT = 65_536  # GitHub refuses longer comment bodies
_STATE = re.compile(r"<!-- selfheal:state (\{[^<>]{0,200}\}) -->")
_MAX_RUNS_KEPT = 1_000_000
_HANDOVER_ITEMS = 10


class CommentLike(Protocol):
    @property
    def body(self) -> str: ...
    @property
    def author_type(self) -> str: ...


C = TypeVar("C", bound=CommentLike)


def find_sticky(comments: Sequence[C]) -> C | None:
    """selfheal's own sticky comment among an issue's comments (the first, if several)."""
    for comment in comments:
        if comment.author_type == "Bot" and MARKER in comment.body:
            return comment
    return None


def runs_so_far(body: str | None) -> int:
    """The run count in a sticky comment's hidden state; 0 when absent or malformed."""
    if not body or (match := _STATE.search(body)) is None:
        return 0
    try:
        runs = json.loads(match.group(1)).get("runs")
    except (ValueError, AttributeError):
        return 0
    if isinstance(runs, bool) or not isinstance(runs, int):
        return 0
    return min(max(runs, 0), _MAX_RUNS_KEPT)


def _handover(report: Report) -> list[str]:
    """When selfheal stops short: what it tried and what is left, for a person to take over."""
    if report.status not in (Status.GAVE_UP, Status.REFUSED, Status.ERROR):
        return []
    lines = ["### Over to you", "", f"selfheal stopped: {md_text(report.detail, 400)}"]
    tried = [
        f"- attempt {a.number}: {md_text(', '.join(a.fixers) or 'no fixer', 120)} -> {a.outcome}"
        for a in report.attempts
    ]
    lines += ["", "What it tried:", *(tried or ["- nothing: it stopped before the first attempt"])]
    left = report.attempts[-1].remaining if report.attempts else report.failures
    if left:
        shown = [f"- {md_text(failure_where(f), 200)}: {md_text(f.message, 200)}" for f in left]
        more = len(left) - _HANDOVER_ITEMS
        lines += ["", f"Still failing ({plural(len(left), 'failure')}):", *shown[:_HANDOVER_ITEMS]]
        if more > 0:
            lines.append(f"- and {more} more (see report.json)")
    lines += [
        "",
        "The partial fix, if any, is `fix.patch` in this run's `selfheal-report` artifact;"
        " `selfheal heal` reproduces the run on a local checkout.",
    ]
    return lines


def render_working(*, runs: int, links: Sequence[str] = (), stage: str = "") -> str:
    """The sticky comment while a run is under way: "working on it", the run's link, and the
    latest stage; the final report replaces it. `runs` is the count before this run, kept as
    is (the final report adds this run)."""
    head = [MARKER, f"<!-- selfheal:state {json.dumps({'runs': runs})} -->"]
    lines = [f"{WORKING} This comment becomes the report when it is done."]
    if stage:
        lines += ["", f"Now: {md_text(stage, 300)}"]
    return "\n".join([*head, *lines, *([""] if links else []), *links]) + "\n"


def still_working(body: str) -> bool:
    """The sticky comment still says "working on it": no report replaced it."""
    return MARKER in body and WORKING in body


def render_stopped(*, runs: int, why: str, links: Sequence[str] = ()) -> str:
    """The sticky comment when the run died before its report (a job failed or was
    cancelled): one line saying so, in place of "working on it". `runs` includes this run."""
    head = [MARKER, f"<!-- selfheal:state {json.dumps({'runs': runs})} -->"]
    lines = [f"**selfheal stopped:** {md_text(why, 300)}; no report was written."]
    return "\n".join([*head, *lines, *([""] if links else []), *links]) + "\n"


def render_comment(report: Report, *, runs: int, links: Sequence[str] = ()) -> str:
    """The sticky comment's body: marker, state, links, hand-over notes, then the report."""
    head = [MARKER, f"<!-- selfheal:state {json.dumps({'runs': runs})} -->"]
    head += [*links, *([""] if links else [])]
    handover = _handover(report)
    prefix = "\n".join([*head, *handover, *([""] if handover else [])]) + "\n"
    room = COMMENT_LIMIT - len(prefix) - 100
    body = prefix + render_markdown(report, max_chars=max(room, 1000))
    if len(body) > COMMENT_LIMIT:  # even without logs: cut, and say where the rest is
        cut = "\n\n[... cut at GitHub's comment limit; report.json has everything]\n"
        body = body[: COMMENT_LIMIT - len(cut)] + cut
    return body
