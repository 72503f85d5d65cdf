"""Script builders for bot.agent.replay.ReplayServer (the fake Messages API itself)."""

from __future__ import annotations

from typing import Any

# Small delays keep the SDK's real retry loop fast: retry-after-ms wins over its backoff.
FAST_RETRY = {"retry-after-ms": "1"}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def tool_use(name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": arguments}


def usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_write: int = 0,
    cache_read: int = 0,
) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def reply(
    *blocks: dict[str, Any],
    spent: dict[str, int] | None = None,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """A shorthand script entry: the server wraps it into a full Message."""
    entry: dict[str, Any] = {"content": list(blocks), "usage": spent or usage(10, 5)}
    if stop_reason is not None:
        entry["stop_reason"] = stop_reason
    return entry


def failure(
    status: int, error_type: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """A scripted API error that the SDK may retry quickly."""
    entry: dict[str, Any] = {"status": status, "headers": dict(FAST_RETRY)}
    if error_type is not None:
        entry["error_type"] = error_type
    if message is not None:
        entry["message"] = message
    return entry
