"""What the GitHub wrapper accepts before any request: names, numbers, URL, token; and the
caps GitHub puts on text. Bad values raise BadInput, and never quote the token.
"""

from __future__ import annotations

import re
import urllib.parse

from bot.errors import BadInput
from bot.forge.github_http import safe_url

_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$")


def check_repository(value: str) -> str:
    if not isinstance(value, str) or not _REPOSITORY.match(value) or value.endswith(("/.", "/..")):
        raise BadInput(f"GITHUB_REPOSITORY {value!r} is not owner/name")
    return value


def check_api_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value if isinstance(value, str) else "")
    if parts.username is not None or parts.password is not None:
        raise BadInput("GITHUB_API_URL must not carry credentials: pass the token instead")
    if not safe_url(value) or parts.query or parts.fragment:
        raise BadInput(
            f"GITHUB_API_URL {value!r} must be an https URL (http only on localhost or a"
            " loopback address), with no query or fragment"
        )
    return value.rstrip("/")


def check_token(value: str) -> str:
    token = value.strip() if isinstance(value, str) else ""
    # A header value with a newline or space would make requests quote the token in its error.
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        raise BadInput("the GitHub token is empty or malformed (it must be one printable word)")
    return token


def check_number(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadInput(f"{value!r} is not an issue, pull request, run, job or comment number")
    return value


def check_ref(value: str) -> str:
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise BadInput(f"{value!r} is not a branch name")
    return value


def cap(text: str, limit: int) -> str:
    """`text` cut to GitHub's `limit` characters, saying so at the end."""
    if len(text) <= limit:
        return text
    marker = f"\n\n… (cut by selfheal: GitHub takes at most {limit} characters)"
    return text[: limit - len(marker)] + marker


def check_login(value: str) -> str:
    if not isinstance(value, str) or not _LOGIN.match(value):
        raise BadInput(f"{value!r} is not a GitHub login")
    return value
