"""What a failed Messages API call means to the person running selfheal.

Errors they can fix (key, model, billing) are AgentSetupError, a BadInput; the service failing
after the SDK's own retries is AgentServiceError (exit 3). A model that is not found is
answered with the newest models the installed SDK lists.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anthropic

from bot.errors import EXIT_INTERNAL, BadInput, SelfhealError

_MODEL_ID = re.compile(r"^claude-([a-z]+)-(\d+)(?:-(\d{1,2}))?$")


class AgentServiceError(SelfhealError):
    """The Messages API failed after the SDK's retries; what happened so far is in `events`."""

    exit_code = EXIT_INTERNAL

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        events: Sequence[dict[str, object]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.events = list(events)


class AgentSetupError(BadInput):
    """The API refused the key, the model or the account: something the user must fix."""

    def __init__(self, message: str, *, events: Sequence[dict[str, object]] = ()) -> None:
        super().__init__(message)
        self.events = list(events)


def known_models() -> list[str]:
    """Model ids the installed SDK lists, deprecated ones left out, newest first."""
    from anthropic.types import Model

    deprecated = _deprecated_models()
    names = [
        arg
        for member in typing.get_args(Model)
        for arg in typing.get_args(member)
        if isinstance(arg, str)
    ]
    return [name for name in names if name not in deprecated]


def newest_model(family: str) -> str | None:
    """The newest undated, undeprecated `claude-<family>-N[-M]` id the SDK lists."""
    versions: list[tuple[tuple[int, int], str]] = []
    for name in known_models():
        match = _MODEL_ID.match(name)
        if match and match.group(1) == family:
            versions.append(((int(match.group(2)), int(match.group(3) or 0)), name))
    return max(versions)[1] if versions else None


def _deprecated_models() -> frozenset[str]:
    from anthropic.resources.messages import messages

    return frozenset(getattr(messages, "DEPRECATED_MODELS", {}))


@dataclass(frozen=True)
class CallError:
    """A failed call as the API (or the connection) reported it; `detail` is already redacted."""

    status: int | None
    kind: str | None
    detail: str
    request_id: str | None

    @classmethod
    def of(cls, exc: anthropic.APIError, clean: Callable[[str], str]) -> CallError:
        """`exc` read into plain values, its message passed through `clean` (redaction)."""
        return cls(
            status=getattr(exc, "status_code", None),
            kind=getattr(exc, "type", None),
            detail=clean(str(getattr(exc, "api_message", None) or exc.message)),
            request_id=getattr(exc, "request_id", None),
        )

    @property
    def said(self) -> str:
        """What the API said, with its status and error type when it answered at all."""
        return f"{self.status} {self.kind}: {self.detail}" if self.status else self.detail


def setup_error(
    exc: anthropic.APIError,
    failed: CallError,
    *,
    model: str,
    base_url: str,
    events: Sequence[dict[str, object]],
) -> AgentSetupError | None:
    """The error to show when the key, the model or the account must be fixed; else None."""
    said = failed.said
    if isinstance(exc, anthropic.AuthenticationError):
        return AgentSetupError(
            f"the Anthropic API at {base_url} refused the API key ({said})."
            " Check ANTHROPIC_API_KEY: it must be a current key for that API.",
            events=events,
        )
    if isinstance(exc, anthropic.PermissionDeniedError):
        return AgentSetupError(
            f"the API key may not use model {model} at {base_url} ({said})."
            " Check the key's workspace and its model access, or choose another model.",
            events=events,
        )
    if isinstance(exc, anthropic.NotFoundError):
        newest = (newest_model(family) for family in ("sonnet", "opus", "haiku"))
        examples = ", ".join(name for name in newest if name)
        return AgentSetupError(
            f"model {model!r} was not found at {base_url} ({said})."
            f" Check the model setting (for example: {examples}), and ANTHROPIC_BASE_URL"
            " if you set it.",
            events=events,
        )
    if failed.status == 402 or failed.kind == "billing_error":
        return AgentSetupError(
            f"the Anthropic account cannot be billed ({said}). Check its billing settings.",
            events=events,
        )
    return None


def service_error(
    exc: anthropic.APIError,
    failed: CallError,
    *,
    base_url: str,
    retries: int,
    events: Sequence[dict[str, object]],
) -> AgentServiceError:
    """The error for the service failing (after `retries` retries, where the SDK retries)."""
    if isinstance(exc, anthropic.APIConnectionError):
        reason = f"could not reach the Anthropic API at {base_url}: {exc.message}"
    else:
        reason = f"the Anthropic API failed ({failed.said})"
    if _retried(exc):
        reason += f", after {retries} retr{'y' if retries == 1 else 'ies'}"
    tail = f"; request-id {failed.request_id}" if failed.request_id else ""
    return AgentServiceError(
        f"{reason}{tail}",
        status=failed.status,
        request_id=failed.request_id,
        events=events,
    )


def _retried(exc: anthropic.APIError) -> bool:
    """Whether the SDK retried this failure (its policy: connection errors, 408, 409, 429, 5xx)."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    status = getattr(exc, "status_code", 0) or 0
    return status in (408, 409, 429) or status >= 500
