"""HTTP policy for the GitHub wrapper: which requests are retried, how long we wait, and the
one download PyGithub does not do safely for us (a job log's blob).

Retries run inside urllib3 (PyGithub's GithubRetry), never in a loop of ours:

- GET, HEAD, PUT, PATCH, DELETE are retried on 500/502/503/504, read timeouts and dropped
  connections, with exponential backoff. PATCH counts as idempotent here: the PATCHes selfheal
  sends set fields to fixed values (a repeated check-run PATCH can at worst repeat annotations).
- POST is not retried once GitHub may have seen it: a 502 from GitHub's edge often arrives after
  the comment, pull request or check run was created, and a repeat would make a second one.
  POST is retried only where GitHub certainly did nothing: a connection that never opened
  (urllib3 retries connect errors for every method) and a rate-limit refusal (403/429).
- Rate limits are honoured as GitHub asks (Retry-After, x-ratelimit-reset, a minute for a
  secondary limit), but never longer than `max_wait` seconds: past that the call fails at once
  with RateLimitExceededExceedsMaxWait, so a run never sleeps for an hour.
"""

from __future__ import annotations

import ipaddress
import time
import urllib.parse
from collections import deque
from types import TracebackType

import requests
from github.GithubException import RateLimitExceededExceedsMaxWait
from github.GithubRetry import GithubRetry
from requests.adapters import HTTPAdapter
from urllib3 import Retry
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader
from urllib3.response import BaseHTTPResponse, HTTPResponse

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
SERVER_ERRORS = (500, 502, 503, 504)
RATE_LIMITED = (403, 429)  # GithubRetry reads a 403's body and retries only real rate limits
_SECONDARY_WAIT = 60.0  # GitHub: "otherwise, wait for at least one minute before retrying"
_BACKOFF_MAX = 30.0
_CHUNK = 64 * 1024


class GitHubRetry(GithubRetry):
    """GithubRetry with POST kept to rate limits and every wait bounded by max_rate_limit_wait."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in RATE_LIMITED:
            return True  # refused before any work was done, so safe to repeat, even a POST
        return super().is_retry(method, status_code, has_retry_after)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: HTTPResponse | None = None,  # type: ignore[override]
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        wait = self._asked_wait(response) if response is not None else None
        if wait is None and response is not None and response.status == 429:
            wait = self.secondary_rate_wait  # no hint given: GitHub asks for a minute
        limit = self.max_rate_limit_wait
        if response is not None and wait is not None and limit is not None and wait > limit:
            headers = {key.lower(): value for key, value in response.headers.items()}
            raise RateLimitExceededExceedsMaxWait(response.status, None, headers, wait=wait)
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None and response.status == 429 and wait is not None:
            # urllib3 sleeps for a Retry-After itself; otherwise the wait becomes the backoff,
            # the way GithubRetry treats a 403 rate limit.
            backoff = max(wait, retry.get_backoff_time())
            retry.get_backoff_time = lambda: backoff  # type: ignore[method-assign]
        return retry

    def _asked_wait(self, response: BaseHTTPResponse) -> float | None:
        """Seconds GitHub asks us to wait before the next request, if it says so."""
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return self.parse_retry_after(retry_after)
            except InvalidHeader:
                return None
        reset = response.headers.get("X-RateLimit-Reset", "")
        limited = response.headers.get("X-RateLimit-Remaining") == "0"
        if response.status in RATE_LIMITED and limited and reset.isdigit():
            return max(0.0, int(reset) - time.time()) + 1  # +1: the reset second is inexact
        return None


def retry_policy(retries: int, backoff: float, max_wait: float) -> GitHubRetry:
    """The Retry PyGithub hands to urllib3 (see the module docstring)."""
    return GitHubRetry(
        total=retries,
        allowed_methods=IDEMPOTENT,
        status_forcelist=[*SERVER_ERRORS, 429],
        backoff_factor=backoff,
        backoff_max=_BACKOFF_MAX,
        # After the last retry PyGithub gets GitHub's own answer (status and message) to
        # report, instead of urllib3's "too many 502 error responses".
        raise_on_status=False,
        secondary_rate_wait=min(_SECONDARY_WAIT, max_wait),
        max_rate_limit_wait=max_wait,
    )


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses, where plain http cannot leak a token."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_url(url: str) -> bool:
    """https anywhere, or http on loopback; no credentials, query or fragment smuggled in."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if not host or parts.username is not None or parts.password is not None:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request  # a Session with auth set never falls back to ~/.netrc credentials


def download_tail(
    url: str, *, max_bytes: int, timeout: float, retries: int, backoff: float
) -> bytes:
    """GET a signed blob URL with no credentials at all and return its last `max_bytes` bytes.

    A suffix Range asks for only the tail; a server that ignores it is streamed, keeping the tail.
    """
    if max_bytes <= 0:
        return b""
    policy = Retry(
        total=retries,
        status_forcelist=SERVER_ERRORS,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=backoff,
        backoff_max=_BACKOFF_MAX,
        raise_on_status=False,
    )
    with requests.Session() as session:
        session.auth = _no_auth
        session.mount("https://", HTTPAdapter(max_retries=policy))
        session.mount("http://", HTTPAdapter(max_retries=policy))
        headers = {"Range": f"bytes=-{max_bytes}", "Accept-Encoding": "identity"}
        # Redirects are safe to follow here: this session has no credentials to leak.
        with session.get(url, headers=headers, timeout=timeout, stream=True) as response:
            if response.status_code == 416:  # an empty blob has no last bytes to give
                return b""
            response.raise_for_status()
            tail: deque[bytes] = deque()
            size = 0
            for chunk in response.iter_content(_CHUNK):
                tail.append(chunk)
                size += len(chunk)
                while size - len(tail[0]) >= max_bytes:
                    size -= len(tail.popleft())
            return b"".join(tail)[-max_bytes:]
