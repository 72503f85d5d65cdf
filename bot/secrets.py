"""The secrets selfheal holds: which variables are secret, where their values live once they
are out of the environment, and redaction of each value and its common encodings.

A test or an agent that finds a secret can print it base64-, hex- or URL-encoded, or
reversed; each of those forms is redacted too, wherever selfheal stores or sends text.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path

ALWAYS_SECRET = frozenset(
    {"GITHUB_TOKEN", "ANTHROPIC_API_KEY", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"}
)
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL")
_MIN_REDACT_LEN = 6
MASK = "***"

# Secret values taken out of os.environ by `sealed`: selfheal reads them from here.
_held: dict[str, str] = {}


def is_secret_name(name: str, allow: Sequence[str] = ()) -> bool:
    """True for variables that must never reach a child process."""
    upper = name.upper()
    if upper in ALWAYS_SECRET:
        return True
    if name in allow:
        return False
    return any(word in upper for word in _SECRET_WORDS)


def environment() -> dict[str, str]:
    """Our environment as it was given to us, secrets included (they are no longer in os.environ)."""
    return {**os.environ, **_held}


def secret(name: str) -> str | None:
    """The value of secret variable `name` (e.g. GITHUB_TOKEN), wherever selfheal keeps it."""
    return _held.get(name, os.environ.get(name))


def secret_values(base: Mapping[str, str] | None = None, allow: Sequence[str] = ()) -> list[str]:
    """Values of secret variables, longest first, to redact from anything we keep or show."""
    source = environment() if base is None else base
    values = {
        v for k, v in source.items() if is_secret_name(k, allow) and len(v) >= _MIN_REDACT_LEN
    }
    return sorted(values, key=len, reverse=True)


# --- the environment --------------------------------------------------------------------


@contextlib.contextmanager
def sealed(environ: MutableMapping[str, str] | None = None) -> Iterator[list[str]]:
    """Move secret variables out of os.environ for the block; yields their names.

    Nothing that starts a process from os.environ (a library, a forgotten `env=None`) can
    pass them on, and the process's original environment block is overwritten, so
    /proc/<pid>/environ no longer shows them. The values stay readable through `secret`.
    On exit os.environ is as it was (for callers that run selfheal in process).
    """
    env = os.environ if environ is None else environ
    names = [n for n in env if is_secret_name(n) and not n.upper().startswith("SELFHEAL_")]
    before = dict(_held)
    taken = {n: env.pop(n) for n in names}
    _held.update(taken)
    if env is os.environ:
        _wipe_initial_environment(taken)
    try:
        yield names
    finally:
        _held.clear()
        _held.update(before)
        env.update(taken)


def _wipe_initial_environment(taken: Mapping[str, str]) -> None:
    """Overwrite NAME=value in the block the kernel shows as /proc/<pid>/environ.

    unsetenv only drops libc's pointer; the bytes stay where exec put them. Each entry is
    checked to be exactly what we unset before it is overwritten.
    """
    if not taken or not sys.platform.startswith("linux"):
        return
    try:
        fields = Path("/proc/self/stat").read_bytes().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50, 51)
    except (OSError, IndexError, ValueError):
        return
    if not 0 < start < end or end - start > 16 * 1024 * 1024:
        return
    block = ctypes.string_at(start, end - start)
    wanted = {f"{k}={v}".encode(): len(k) + 1 for k, v in taken.items()}
    offset = 0
    for entry in block.split(b"\0"):
        keep = wanted.get(entry)
        if keep is not None:
            ctypes.memset(start + offset + keep, ord("*"), len(entry) - keep)
        offset += len(entry) + 1


# --- redaction --------------------------------------------------------------------------


def _base64_forms(data: bytes) -> set[str]:
    """The secret standalone (padded and not) and as it appears inside a longer base64 text.

    Inside a longer text the secret starts at one of three byte alignments; for each, the
    characters that depend only on the secret's bytes are a fixed string.
    """
    import base64  # here, not at import: selfheal's start does not redact

    forms = set()
    whole = base64.b64encode(data).decode()
    forms |= {whole, whole.rstrip("=")}
    for shift in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * shift + data).decode().rstrip("=")
        first = -(-8 * shift // 6)  # the first character with no bit of the padding
        last = 8 * (shift + len(data)) // 6  # one past the last with no bit after the secret
        forms.add(encoded[first:last])
    return forms | {f.translate(str.maketrans("+/", "-_")) for f in forms}


def encodings(value: str) -> set[str]:
    """`value` and the forms a test could print it in: base64, hex, reversed, URL-encoded."""
    import urllib.parse  # here, not at import: selfheal's start does not redact

    data = value.encode("utf-8")
    forms = {value, value[::-1], data.hex(), data.hex().upper()}
    forms |= {urllib.parse.quote(value, safe=""), urllib.parse.quote(value)}
    forms.add(urllib.parse.quote_plus(value))
    forms |= _base64_forms(data)
    return {f for f in forms if len(f) >= _MIN_REDACT_LEN}


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = {f for value in secrets if value for f in encodings(value)}
    if not forms:
        return None
    # Longest first: the regex takes the first alternative that matches, not the longest.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f))))


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret value, and each encoding of it, replaced by ***."""
    pattern = _pattern(tuple(secrets))
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_data(data: object, secrets: Sequence[str]) -> object:
    """Redact every string inside JSON-like data, before it is encoded or escaped anywhere."""
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, dict):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, secrets) for v in data]
    return data
