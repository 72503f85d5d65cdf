"""Parse git's unified diff (with its extended headers) into one value per changed file (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["added", "modified", "deleted", "renamed"]

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_INDEX_MODE = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+ (\d{6})$")
_QUOTED_PART = re.compile(r"\\([0-7]{1,3})|\\(.)|([^\\]+|\\$)", re.DOTALL)
_ESCAPES = {
    "a": 7,
    "b": 8,
    "t": 9,
    "n": 10,
    "v": 11,
    "f": 12,
    "r": 13,
    '"': 34,
    "\\": 92,
}


@dataclass(frozen=True)
class ChangedFile:
    """One file in a diff: where it is, what happened to it, and the lines that changed."""

    path: str
    old_path: str | None  # set for renames only
    status: Status
    old_mode: str | None
    new_mode: str | None
    binary: bool
    added: tuple[str, ...]  # line contents without the "+" prefix
    removed: tuple[str, ...]  # line contents without the "-" prefix


def unquote_path(text: str) -> str:
    """Undo git's C-style quoting of a path ("a/t\\303\\251st" -> a/tést); plain text is kept."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    out = bytearray()
    for octal, escaped, plain in _QUOTED_PART.findall(text[1:-1]):
        if octal:
            out.append(int(octal, 8) & 0xFF)  # one byte of a UTF-8 sequence
        elif escaped:
            out.append(_ESCAPES.get(escaped, ord(escaped[0])))
        else:
            out += plain.encode("utf-8")
    return out.decode("utf-8", errors="replace")


def _split_quoted(text: str) -> tuple[str, str]:
    """Split off one leading C-quoted token; returns (token, rest after the space)."""
    i = 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return text[: i + 1], text[i + 2 :]


def _strip_prefix(path: str, prefix: str) -> str:
    return path[len(prefix) :] if path.startswith(prefix) else path


def _git_line_paths(rest: str) -> tuple[str, str]:
    """The two names of "diff --git a/X b/Y"; unquoted names may hold spaces, so split wisely."""
    if rest.startswith('"'):
        old, new = _split_quoted(rest)
    elif rest.endswith('"') and ' "' in rest:
        old, new = rest.split(' "', 1)
        new = '"' + new
    else:
        # Unquoted: without a rename both names are the same, so the middle space divides them.
        half = (len(rest) - 1) // 2
        old, new = rest[:half], rest[half + 1 :]
        if old[2:] != new[2:] and " b/" in rest:
            old, new = rest.split(" b/", 1)
            new = "b/" + new
    return _strip_prefix(unquote_path(old), "a/"), _strip_prefix(unquote_path(new), "b/")


def _header_path(text: str, prefix: str) -> str | None:
    """The name on a ---/+++ line; None for /dev/null. Git ends names with spaces with a tab."""
    text = text.removesuffix("\t")
    if text == "/dev/null":
        return None
    return _strip_prefix(unquote_path(text), prefix)


@dataclass
class _File:
    old_path: str | None = None
    new_path: str | None = None
    status: Status = "modified"
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    in_hunks: bool = False
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def header(self, line: str) -> None:
        """Take one extended header line (modes, renames, ---/+++, index)."""
        if line.startswith("new file mode "):
            self.status, self.new_mode = "added", line.removeprefix("new file mode ")
        elif line.startswith("deleted file mode "):
            self.status, self.old_mode = "deleted", line.removeprefix("deleted file mode ")
        elif line.startswith("old mode "):
            self.old_mode = line.removeprefix("old mode ")
        elif line.startswith("new mode "):
            self.new_mode = line.removeprefix("new mode ")
        elif line.startswith(("rename from ", "copy from ")):
            self.old_path = unquote_path(line.split(" ", 2)[2])
            self.status = "renamed" if line.startswith("rename") else "added"
        elif line.startswith(("rename to ", "copy to ")):
            self.new_path = unquote_path(line.split(" ", 2)[2])
        elif line.startswith("--- "):
            self.old_path = _header_path(line[4:], "a/") or self.old_path
        elif line.startswith("+++ "):
            self.new_path = _header_path(line[4:], "b/") or self.new_path
        elif match := _INDEX_MODE.match(line):
            self.old_mode = self.old_mode or match.group(1)
            self.new_mode = self.new_mode or match.group(1)

    def done(self) -> ChangedFile:
        path = self.old_path if self.status == "deleted" else self.new_path
        return ChangedFile(
            path=path or self.old_path or "",
            old_path=self.old_path if self.status == "renamed" else None,
            status=self.status,
            old_mode=None if self.status == "added" else self.old_mode,
            new_mode=None if self.status == "deleted" else self.new_mode,
            binary=self.binary,
            added=tuple(self.added),
            removed=tuple(self.removed),
        )


def _read_hunk(lines: list[str], i: int, file: _File, old_left: int, new_left: int) -> int:
    """Consume one hunk body by its line counts (so "--- x" content is never a header)."""
    while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
        line = lines[i]
        tag, body = line[:1], line[1:]
        if tag == "+":
            file.added.append(body)
            new_left -= 1
        elif tag == "-":
            file.removed.append(body)
            old_left -= 1
        elif tag in (" ", ""):  # "" is a blank context line under diff.suppressBlankEmpty
            old_left -= 1
            new_left -= 1
        elif tag != "\\":  # "\ No newline at end of file" is neither side
            break
        i += 1
    return i


def parse_diff(text: str) -> list[ChangedFile]:
    """Parse `git diff` output (extended headers, --binary, quoted names) into ChangedFiles."""
    # Only "\n" ends a line: a "\r" or form feed inside a line is content.
    lines = text.split("\n")
    files: list[ChangedFile] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("diff --git "):
            i += 1
            continue
        file = _File()
        file.old_path, file.new_path = _git_line_paths(lines[i].removeprefix("diff --git "))
        i += 1
        while i < len(lines) and not lines[i].startswith("diff --git "):
            line = lines[i]
            i += 1
            if file.binary:
                continue  # base85 data of a binary patch
            if line == "GIT binary patch" or (
                line.startswith("Binary files ") and line.endswith(" differ")
            ):
                file.binary = True
            elif hunk := _HUNK.match(line):
                file.in_hunks = True
                old_count, new_count = hunk.group(1), hunk.group(2)
                i = _read_hunk(
                    lines,
                    i,
                    file,
                    1 if old_count is None else int(old_count),
                    1 if new_count is None else int(new_count),
                )
            elif not file.in_hunks:
                file.header(line)
        files.append(file.done())
    return files
