"""The failure digest: what failed, grouped for a reader, within a token budget. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.render.text import cut_marker, failure_where, fence, md_code, one_line, plural
from bot.report import Category, Failure

# Tokenizers for current models average 3.5 to 4.5 characters per token on English and
# Python; one fixed ratio keeps selfheal free of a tokenizer dependency and of network
# calls, and the prompt has a fixed allowance on top of the budget for what it misjudges.
CHARS_PER_TOKEN = 4

# Digest detail levels, from most to least; a message is cut to the level's length.
_FULL_MESSAGE, _BRIEF_MESSAGE, _ONE_LINE_MESSAGE = 600, 300, 100
MIN_EXCERPT = 200  # below this a cut excerpt says too little to be worth its tokens


def estimate_tokens(text: str) -> int:
    """Tokens `text` is expected to cost: characters / CHARS_PER_TOKEN, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True)
class _Entry:
    """One distinct failure signature, with the text of each detail level prepared once."""

    category: Category
    file: str
    count: int
    lines: tuple[str, str, str]  # full, brief, one-line bullet
    excerpt: str


def _bullet(failure: Failure, count: int, message_cap: int, detailed: bool) -> str:
    where = failure_where(failure)
    parts = [f"- {md_code(where, limit=300)}"]
    loc = f"{failure.file}:{failure.line}" if failure.line is not None else failure.file
    if loc and loc != where:
        parts.append(f" at {md_code(loc, limit=300)}")
    if detailed and failure.rule:
        parts.append(f" [{one_line(failure.rule, 60)}]")
    if detailed:
        parts.append(f" in step {md_code(failure.step, limit=60)}")
    if count > 1:
        parts.append(f" ({count} times)")
    # Cutting before collapsing whitespace keeps a megabyte message from costing a megabyte.
    message = one_line(failure.message[: message_cap * 4], message_cap)
    return "".join(parts) + (f": {message}" if message else "")


def _entries(failures: Sequence[Failure]) -> list[_Entry]:
    counts: dict[str, int] = {}
    first: dict[str, Failure] = {}
    for f in failures:
        counts[f.signature] = counts.get(f.signature, 0) + 1
        first.setdefault(f.signature, f)
    file_order: dict[str, int] = {}
    for f in first.values():
        file_order.setdefault(f.file or "", len(file_order))
    category_order = {c: i for i, c in enumerate(Category)}
    ordered = sorted(
        first.values(), key=lambda f: (category_order[f.category], file_order[f.file or ""])
    )
    return [
        _Entry(
            category=f.category,
            file=f.file or "",
            count=counts[f.signature],
            lines=(
                _bullet(f, counts[f.signature], _FULL_MESSAGE, True),
                _bullet(f, counts[f.signature], _BRIEF_MESSAGE, True),
                _bullet(f, counts[f.signature], _ONE_LINE_MESSAGE, False),
            ),
            excerpt=f.excerpt,
        )
        for f in ordered
    ]


def _excerpt(raw: str, cap: int) -> str:
    """The tail of an excerpt, at most `cap` characters plus a cut marker; cheap on huge ones."""
    if cap <= 0:
        return ""
    # Only the kept tail is cleaned up, so a 100 KB excerpt costs `cap`, not 100 KB.
    tail = raw[-cap:].replace("\r\n", "\n").strip("\n")
    if not tail.strip():
        return ""
    return tail if len(raw) <= cap else f"{cut_marker(len(raw) - cap)}\n{tail}"


def _render(
    entries: Sequence[_Entry],
    level: Callable[[int], int],
    excerpt_cap: int,
    shown: int,
    limit: int,
) -> str | None:
    """The digest at the given detail, or None as soon as it grows past `limit` characters."""
    totals: dict[Category, int] = {}
    for e in entries:
        totals[e.category] = totals.get(e.category, 0) + e.count
    out: list[str] = []
    size = -1  # "\n".join adds one separator fewer than there are pieces
    category: Category | None = None
    file: str | None = None
    for i, e in enumerate(entries[:shown]):
        pieces = []
        if e.category is not category:
            category, file = e.category, None
            pieces.append(f"### {e.category.value} ({plural(totals[e.category], 'failure')})")
        if e.file != file:
            file = e.file
            pieces.append(f"#### {md_code(e.file, limit=300)}" if e.file else "#### (no file)")
        detail = level(i)
        pieces.append(e.lines[detail])
        excerpt = _excerpt(e.excerpt, excerpt_cap) if detail == 0 else ""
        if excerpt:
            pieces.append(fence(excerpt))
        for piece in pieces:
            size += len(piece) + 1
            out.append(piece)
        if size > limit:
            return None
    hidden = sum(e.count for e in entries[shown:])
    if hidden:
        out.append(f"... and {hidden} more {'failure' if hidden == 1 else 'failures'}")
    text = "\n".join(out)
    return text if len(text) <= limit else None


def _largest(lo: int, hi: int, attempt: Callable[[int], str | None]) -> str | None:
    """The text for the largest x in [lo, hi] that fits (assumes more x means more text)."""
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        text = attempt(mid)
        if text is None:
            hi = mid - 1
        else:
            best, lo = text, mid + 1
    return best


def failure_digest(failures: Sequence[Failure], token_budget: int) -> str:
    """Markdown digest grouped by category and file; never more than `token_budget` tokens.

    Shrinks excerpts (keeping their tails), then drops them, then turns failures into
    one-liners from the end, then leaves the rest out with a count.
    """
    limit = max(token_budget, 0) * CHARS_PER_TOKEN
    entries = _entries(failures)
    n = len(entries)
    if n == 0:
        return "No failures." if limit >= len("No failures.") else ""
    longest = max(len(e.excerpt) for e in entries)
    full = _render(entries, lambda _: 0, longest, n, limit)
    if full is not None:
        return full
    shrunk = _largest(
        MIN_EXCERPT, min(longest, limit), lambda cap: _render(entries, lambda _: 0, cap, n, limit)
    )
    if shrunk is not None:
        return shrunk
    # No excerpts; the first k failures keep a longer message, the rest become one-liners.
    brief = _largest(0, n, lambda k: _render(entries, lambda i: 1 if i < k else 2, 0, n, limit))
    if brief is not None:
        return brief
    cut = _largest(0, n - 1, lambda m: _render(entries, lambda _: 2, 0, m, limit))
    return cut if cut is not None and estimate_tokens(cut) <= token_budget else ""
