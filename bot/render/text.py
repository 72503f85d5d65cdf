"""Putting untrusted text (messages, file names, logs, agent words) into Markdown safely.

Text from the project under test or from the agent lands in PR comments; it must not be
able to open HTML, close our <details>, break a table or a fence, or ping people.
"""

from __future__ import annotations

import re

from bot.report import Failure

ZWJ = "\u200d"  # zero-width joiner: keeps "@name" readable but no longer a mention

_WHITESPACE = re.compile(r"\s+")
# Backslash escapes for what could open inline structure (code spans, emphasis, links)
# or end a table cell; HTML-ish characters become entities instead, see md_text.
_MD_PUNCT = re.compile(r"([\\`*_\[\]|~])")
# "@user", "@org/team" and "#123" / "owner/repo#123" notify people or cross-link issues.
_MENTION = re.compile(r"@(?=[\w-])")
_REFERENCE = re.compile(r"#(?=\d)")
_BACKTICKS = re.compile(r"`+")


def one_line(text: str, limit: int | None = None) -> str:
    """Whitespace (newlines included) collapsed to single spaces, cut to `limit` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    if limit is not None and len(flat) > limit:
        flat = flat[: max(limit - 3, 0)].rstrip() + "..."
    return flat


def _defuse_pings(text: str) -> str:
    return _REFERENCE.sub("#" + ZWJ, _MENTION.sub("@" + ZWJ, text))


def md_text(text: str, limit: int | None = None) -> str:
    """Untrusted text as one line of inert Markdown prose (safe in table cells too)."""
    flat = one_line(text, limit)
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _defuse_pings(_MD_PUNCT.sub(r"\\\1", flat))


def md_code(text: str, *, table: bool = False, limit: int | None = None) -> str:
    """Untrusted text as an inline code span (one line) that its own backticks cannot end."""
    flat = one_line(text, limit)
    if not flat:
        return ""
    if table:
        # GFM splits table cells before parsing code spans, so a pipe needs escaping here too.
        flat = flat.replace("|", "\\|")
    runs = [len(m) for m in _BACKTICKS.findall(flat)]
    ticks = "`" * (max(runs, default=0) + 1)
    if flat.startswith("`") or flat.endswith("`"):
        flat = f" {flat} "
    return f"{ticks}{flat}{ticks}"


_SAFE_URL = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+")


def md_url(url: str) -> str:
    """A link target: an http(s) URL with nothing that ends a Markdown link; else nothing."""
    if _SAFE_URL.fullmatch(url) is None or "'" in url:
        return ""
    return url


def html_text(text: str, limit: int | None = None) -> str:
    """Untrusted text inside raw HTML such as <summary>: entities, one line, no pings."""
    flat = one_line(text, limit)
    flat = _defuse_pings(flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    # Backticks as entities too (after the pings, whose "#1" rule would split "&#96;").
    return flat.replace('"', "&quot;").replace("`", "&#96;")


def fence(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside `text`."""
    runs = [len(m) for m in _BACKTICKS.findall(text)]
    ticks = "`" * max(3, max(runs, default=0) + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{ticks}{info}\n{body}{ticks}"


_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def close_fences(text: str) -> str:
    """`text` with a closing line added for a code fence it leaves open (after a cut, say)."""
    opened: str | None = None
    for line in text.split("\n"):
        match = _FENCE_LINE.match(line)
        if match is None:
            continue
        mark = match.group(1)
        if opened is None:
            opened = mark
        elif mark[0] == opened[0] and len(mark) >= len(opened) and not line.strip(" `~"):
            opened = None
    return text if opened is None else f"{text}\n{opened}"


def cut_marker(cut: int) -> str:
    """The line that marks where `cut` characters were left out."""
    return f"[... {cut} characters cut ...]"


def cap_text(text: str, cap: int, *, head_share: float = 1 / 3) -> str:
    """At most `cap` characters, the cut marker included: `head_share` of the room from the
    start, the rest from the end. The default keeps more tail: the end of a log (summary,
    final traceback) says more than its start."""
    if len(text) <= cap:
        return text
    room = max(cap - len(cut_marker(len(text))) - 2, 0)
    head = int(room * head_share)
    tail = room - head
    marker = cut_marker(len(text) - room)
    if not tail:
        return f"{text[:head]}\n{marker}"[:cap]
    return (
        f"{text[:head]}\n{marker}\n{text[len(text) - tail :]}"
        if head
        else f"{marker}\n{text[len(text) - tail :]}"
    )


def failure_where(failure: Failure) -> str:
    """The shortest name a person would search for: test id, else file:line, else the step."""
    if failure.test_id:
        return failure.test_id
    if failure.file:
        return f"{failure.file}:{failure.line}" if failure.line is not None else failure.file
    return failure.step


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, plural unless the count is one: 1 attempt, 2 attempts."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
