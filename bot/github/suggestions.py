"""A fixers' patch -> a pull request review: suggestion blocks where GitHub takes them (pure).

GitHub lets a review comment sit only on lines inside the pull request's own diff hunks, so
each hunk of the fix whose changed lines all lie there becomes one suggestion; every other
hunk (outside the diff, past the cap, or one a suggestion cannot express) is kept, whole,
in a patch for the review's body. Nothing here trusts the patch: it was written where the
fork's code ran, so a malformed part is listed, never interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.forge.github_models import ReviewComment

MAX_SUGGESTIONS = 50  # review comments per review; the rest go to the patch in the body
MAX_BODY_CHARS = 60_000  # under GitHub's 65536 for a review body

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class Hunk:
    """One hunk of the fix: its header, its lines (with their ' ', '-', '+' marks), and
    where its old side starts (the pull request's head version: what the fixers changed)."""

    header: str
    lines: tuple[str, ...]
    old_start: int


@dataclass(frozen=True)
class FilePatch:
    path: str | None  # None: a header this module does not read (renames, binaries, quoting)
    head: tuple[str, ...]  # `diff --git`, index and ---/+++ lines
    hunks: tuple[Hunk, ...]


@dataclass(frozen=True)
class Review:
    comments: tuple[ReviewComment, ...]
    leftover: str  # the hunks not suggested, as a patch ("" when every hunk is a suggestion)
    hunks: int  # hunks in the whole fix


def split_patch(patch: str) -> list[FilePatch]:
    """The fix, file by file and hunk by hunk."""
    files: list[FilePatch] = []
    chunks = re.split(r"(?m)^(?=diff --git )", patch)
    for chunk in chunks:
        if not chunk.startswith("diff --git "):
            continue
        lines = chunk.splitlines()
        first = next((i for i, line in enumerate(lines) if line.startswith("@@ ")), len(lines))
        head = tuple(lines[:first])
        new = [line[6:] for line in head if line.startswith("+++ b/")]
        old = [line[6:] for line in head if line.startswith("--- a/")]
        path = new[0] if new and old == new and not new[0].startswith('"') else None
        hunks: list[Hunk] = []
        for line in lines[first:]:
            match = _HUNK.match(line)
            if match:
                hunks.append(Hunk(line, (), int(match[1])))
            elif hunks:
                last = hunks[-1]
                hunks[-1] = Hunk(last.header, (*last.lines, line), last.old_start)
        files.append(FilePatch(path if hunks else None, head, tuple(hunks)))
    return files


def commentable_lines(pull_patch: str | None) -> frozenset[int]:
    """The head-side line numbers inside a pull request file's diff hunks (added or context)."""
    lines: set[int] = set()
    new = 0
    for line in (pull_patch or "").splitlines():
        match = _HUNK.match(line)
        if match:
            new = int(match[3])
        elif new and line[:1] in (" ", "+"):
            lines.add(new)
            new += 1
        elif new and line[:1] not in ("-", "\\"):
            new = 0  # not a hunk line: the hunks ended
    return frozenset(lines)


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _suggestion(path: str, hunk: Hunk, allowed: frozenset[int]) -> ReviewComment | None:
    """The hunk as one suggestion replacing the head lines from its first change to its
    last, or None when it cannot be one (a line outside the diff, an odd line)."""
    entries: list[tuple[str, int | None, str]] = []  # mark, head line number, content
    old = hunk.old_start
    for line in hunk.lines:
        mark, content = line[:1], line[1:]
        if mark not in (" ", "-", "+"):
            return None  # "\ No newline at end of file" and anything else: not expressible
        entries.append((mark, old if mark != "+" else None, content))
        old += mark != "+"
    changed = [i for i, (mark, _, _) in enumerate(entries) if mark != " "]
    if not changed:
        return None
    first, last = changed[0], changed[-1]
    span = entries[first : last + 1]
    spans = [number for _, number, _ in span if number is not None]
    new_text = [content for mark, _, content in span if mark != "-"]
    if not spans:  # a pure insertion hangs on the head line before it (or after it)
        if first > 0:
            _, number, content = entries[first - 1]
            spans, new_text = [number or 0], [content, *new_text]
        elif last + 1 < len(entries):
            _, number, content = entries[last + 1]
            spans, new_text = [number or 0], [*new_text, content]
    if not spans or any(n not in allowed for n in spans):
        return None
    body_text = "".join(f"{line}\n" for line in new_text)
    fence = _fence(body_text)
    body = f"{fence}suggestion\n{body_text}{fence}"
    return ReviewComment(path=path, line=spans[-1], start_line=spans[0], body=body)


def plan_review(
    patch: str, pull_files: Mapping[str, str | None], *, cap: int = MAX_SUGGESTIONS
) -> Review:
    """Suggestions for the hunks inside the pull request's diff (at most `cap`); the other
    hunks as a patch. `pull_files` maps each changed path to its hunks (None: no hunks)."""
    comments: list[ReviewComment] = []
    leftover: list[str] = []
    total = 0
    for file in split_patch(patch):
        total += len(file.hunks)
        allowed = commentable_lines(pull_files.get(file.path)) if file.path else frozenset()
        kept: list[Hunk] = []
        for hunk in file.hunks:
            comment = None
            if file.path is not None and len(comments) < cap:
                comment = _suggestion(file.path, hunk, allowed)
            if comment is None:
                kept.append(hunk)
            else:
                comments.append(comment)
        if kept or not file.hunks:
            leftover.append("\n".join(file.head))
            leftover += [line for hunk in kept for line in (hunk.header, *hunk.lines)]
    text = "\n".join(leftover)
    return Review(tuple(comments), text + "\n" if text else "", total)


def review_body(review: Review, fixers: str, *, limit: int = MAX_BODY_CHARS) -> str:
    """The review's text: what ran, how many suggestions, and the patch for the rest."""
    lines = [
        f"selfheal ran the deterministic fixers ({fixers}) on this pull request's code, with no "
        "secret and no model: code from a fork is never changed by selfheal, so here are the "
        "changes as suggestions to apply yourself.",
        "",
    ]
    if review.comments:
        lines.append(f"{len(review.comments)} suggestion(s) on the changed lines below.")
    if review.leftover:
        fence = _fence(review.leftover)
        patch = review.leftover
        budget = limit - sum(len(line) + 1 for line in lines) - 400
        cut = len(patch) > budget
        if cut:
            patch = patch[: max(0, budget)].rsplit("\n", 1)[0] + "\n"
        lines += [
            "",
            "Changes outside this pull request's diff"
            + (" or past the suggestion cap" if len(review.comments) >= MAX_SUGGESTIONS else "")
            + " (apply with `git apply`):",
            "",
            f"{fence}diff",
            patch.rstrip("\n"),
            fence,
        ]
        if cut:
            lines.append("\nThe patch is cut here: it is longer than a review can hold.")
    return "\n".join(lines) + "\n"
