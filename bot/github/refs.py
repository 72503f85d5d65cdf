"""Git ref names: whether a branch name from untrusted input is safe to check out and push."""

from __future__ import annotations

import unicodedata

MAX_BRANCH_BYTES = 255

_REF_FORBIDDEN = frozenset(" ~^:?*[\\\x7f")


def branch_name_problem(name: str) -> str | None:
    """What makes `name` unsafe as a branch name (git's ref rules and more), or None."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode"
    if not name:
        return "is empty"
    if size > MAX_BRANCH_BYTES:
        return f"is longer than {MAX_BRANCH_BYTES} bytes"
    if name.startswith("-"):
        return "starts with '-' (it would read as an option)"
    if name in ("HEAD", "@"):
        return "is not a branch name git accepts"
    bad = next((c for c in name if ord(c) < 0x20 or c in _REF_FORBIDDEN), None)
    if bad is not None:
        return f"contains {bad!r}, which git does not allow in a ref"
    # Not git's rules: invisible, direction-changing and space-like characters make a name
    # read as another one.
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Co", "Cn") for c in name):
        return "contains an invisible, control or space character"
    for part in ("..", "@{", "//"):
        if part in name:
            return f"contains {part!r}, which git does not allow in a ref"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "starts with '/' or ends with '/' or '.', which git does not allow"
    for component in name.split("/"):
        if component.startswith("."):
            return "has a part starting with '.', which git does not allow"
        if component.endswith(".lock"):
            return "has a part ending in '.lock', which git does not allow"
    return None
