"""What a failed GitHub call means to the person running selfheal.

Every error the REST API (or the network) gives becomes one ForgeError whose message says what
was attempted, what GitHub said, and what to do. Problems the user fixes (token, permissions,
a missing repository, values GitHub rejects) exit 2 like any BadInput; GitHub failing or
rate-limiting us after the retries exits 3 like the Messages API failing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import requests
from github.GithubException import (
    BadAttributeException,
    GithubException,
    RateLimitExceededExceedsMaxWait,
    RateLimitExceededException,
)
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from bot.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, SelfhealError
from bot.proc import redact

_STATUS_PAGE = "https://www.githubstatus.com"
_MAX_SAID = 2000  # GitHub's words are quoted, not pasted whole: a 404 page can be HTML


class ForgeError(SelfhealError):
    """A GitHub API call failed; `status` is GitHub's HTTP status (None: no answer at all)."""

    def __init__(
        self, message: str, *, status: int | None = None, said: str = "", exit_code: int
    ) -> None:
        super().__init__(message)
        self.status = status
        self.said = said  # GitHub's own words (message and validation errors), token-free
        self.exit_code = exit_code


@dataclass(frozen=True)
class Call:
    """One wrapper call, for messages: `action` reads "open a pull request from x into main"."""

    action: str
    permission: str  # the GITHUB_TOKEN permission it needs: "issues", "pull-requests", ...
    level: str  # "read" or "write"
    attempts: int  # how many times a 5xx or a timeout was tried before giving up


class Malformed(ValueError):
    """GitHub answered 2xx with something the API does not document (a field of the wrong type)."""


def said_of(data: object) -> str:
    """GitHub's message plus its validation errors, joined: "Validation Failed: A pull request ..."."""
    if not isinstance(data, Mapping):
        return "" if data is None else str(data)[:_MAX_SAID]
    parts = [str(data.get("message") or "").strip()]
    errors = data.get("errors")
    if isinstance(errors, Sequence) and not isinstance(errors, str):
        parts += [_error_text(item) for item in errors]
    return "; ".join(part for part in parts if part)[:_MAX_SAID]


def _error_text(item: object) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    if item.get("message"):
        return str(item["message"])
    where = ".".join(str(item[key]) for key in ("resource", "field") if item.get(key))
    return f"{where} {item.get('code', 'invalid')}".strip()


def forge_error(
    exc: Exception, call: Call, *, where: str, api_url: str, secrets: Sequence[str]
) -> ForgeError:
    """The ForgeError for `exc`, raised while doing `call` on repository `where` at `api_url`."""
    if isinstance(exc, GithubException):
        error = _from_status(exc, call, where)
    elif isinstance(exc, requests.Timeout) or _timed_out(_inner(exc)):
        error = ForgeError(
            f"GitHub ({api_url}) did not answer in time while trying to {call.action}"
            f" ({_tries(call)}). It may be slow or down ({_STATUS_PAGE}): run again later.",
            exit_code=EXIT_INTERNAL,
        )
    elif isinstance(exc, requests.RequestException):
        error = ForgeError(
            f"could not reach GitHub ({api_url}) to {call.action}: {_reason(exc)}."
            " Check the network and GITHUB_API_URL, then run again.",
            exit_code=EXIT_INTERNAL,
        )
    else:  # Malformed, BadAttributeException, KeyError, ValueError
        detail: object = exc
        if isinstance(exc, BadAttributeException):
            detail = f"a field is {exc.actual_value!r}"
        elif isinstance(exc, KeyError):
            detail = f"no {exc}"
        error = ForgeError(
            f"GitHub's answer to {call.action} in {where} is not what its API documents"
            f" ({str(detail)[:200]}); selfheal cannot use it.",
            exit_code=EXIT_INTERNAL,
        )
    return _redacted(error, secrets)


def _from_status(exc: GithubException, call: Call, where: str) -> ForgeError:
    status, said = exc.status, said_of(exc.data)
    headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    quoted = f"{status} {said}".strip().rstrip(".")
    attempt = f"could not {call.action} in {where}: GitHub answered {quoted}"
    scope = f"`permissions: {call.permission}: {call.level}`"
    user_fix, exit_code = True, EXIT_BAD_INPUT
    if isinstance(exc, RateLimitExceededExceedsMaxWait):
        user_fix = False
        hint = (
            f"GitHub asks selfheal to wait {exc.wait or 0:.0f}s before trying again, longer"
            " than it waits: run again later, or use a token with a higher rate limit."
        )
    elif _rate_limited(exc, said, headers):
        user_fix = False
        hint = f"The token's API rate limit is used up{_reset(headers)}: run again later."
    elif status == 401:
        hint = (
            "The token is wrong, expired or revoked: give selfheal a valid token"
            " (in Actions, `${{ secrets.GITHUB_TOKEN }}` or a token with access to the repository)."
        )
    elif status == 403 and "not permitted to create or approve pull requests" in said:
        hint = (
            "Allow it in the repository's Settings > Actions > General > Workflow permissions"
            ' ("Allow GitHub Actions to create and approve pull requests"), or give selfheal'
            " a different token."
        )
    elif status == 403:
        hint = (
            f"The token lacks the {call.permission} permission: add {scope} to the job"
            f" (a personal or app token needs {call.permission} {call.level} access)."
        )
    elif status == 404:
        hint = (
            f"It does not exist, or the token cannot see it: check the name and number, and"
            f" that the token has access to {where} (in Actions, {scope})."
        )
    elif status == 422:
        hint = "GitHub rejected the values selfheal sent."
    elif status >= 500:
        user_fix = False
        hint = f"GitHub failed ({_tries(call)}); it may be having trouble ({_STATUS_PAGE}): run again later."
    else:
        hint = "Check what GitHub says, then run again."
    if not user_fix:
        exit_code = EXIT_INTERNAL
    return ForgeError(f"{attempt}. {hint}", status=status, said=said, exit_code=exit_code)


def _rate_limited(exc: GithubException, said: str, headers: Mapping[str, str]) -> bool:
    if isinstance(exc, RateLimitExceededException) or exc.status == 429:
        return True
    return exc.status == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "rate limit" in said.lower()
    )


def _reset(headers: Mapping[str, str]) -> str:
    reset = headers.get("x-ratelimit-reset", "")
    if not reset.isdigit():
        return ""
    when = time.strftime("%H:%M:%S UTC", time.gmtime(int(reset)))
    return f" until {when}"


def _tries(call: Call) -> str:
    if call.attempts <= 1:
        return "tried once: a repeated write could be applied twice"
    return f"tried {call.attempts} times"


def _timed_out(cause: object) -> bool:
    # urllib3 files a refused connection under its connect *timeout* error: it is not one.
    return isinstance(cause, Urllib3Timeout) and not isinstance(cause, NewConnectionError)


def _inner(exc: Exception) -> object:
    """The cause urllib3 reports under requests' wrapper (a MaxRetryError's reason)."""
    inner: object = exc.args[0] if exc.args else exc
    return getattr(inner, "reason", inner)


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause ("Connection refused"), not the whole connection pool's repr."""
    return str(_inner(exc))[:300] or type(exc).__name__


def _redacted(error: ForgeError, secrets: Sequence[str]) -> ForgeError:
    message = redact(str(error), secrets)
    return ForgeError(
        message, status=error.status, said=redact(error.said, secrets), exit_code=error.exit_code
    )


def blob_error(action: str, detail: str, status: int | None = None) -> ForgeError:
    """The ForgeError for a job log that GitHub pointed to but its storage did not give."""
    return ForgeError(
        f"could not {action}: {detail}. The log link may have expired: run again.",
        status=status,
        said=detail,
        exit_code=EXIT_INTERNAL,
    )
