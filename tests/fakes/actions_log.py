"""How the Actions runner reads a step's stdout for workflow commands, to check what a log
would make it do.

As actions/runner's ActionCommandManager does: a line ends at LF, CR or CRLF (.NET's
ReadLine); `::name props::data` counts after leading whitespace is trimmed; the older
`##[name props]data` counts anywhere in a line; after `::stop-commands::TOKEN` nothing counts
until a line that is exactly `::TOKEN::`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINES = re.compile(r"\r\n|\r|\n")
_V2 = re.compile(r"::([^\s:]+)([^:]*)::(.*)")
_V1 = re.compile(r"##\[([^\s\]]+)[^\]]*\](.*)")


@dataclass(frozen=True)
class Command:
    name: str
    data: str


def read(stdout: str) -> list[tuple[str, Command | None]]:
    """Each log line, with the workflow command the runner carries out for it (or None)."""
    read_lines: list[tuple[str, Command | None]] = []
    paused: str | None = None  # the token that resumes commands
    for line in _LINES.split(stdout):
        command = None
        if paused is not None:
            if line.strip().lower() == f"::{paused}::".lower():
                command, paused = Command("resume", paused), None
        elif (match := _V2.match(line.lstrip())) is not None:
            command = Command(match.group(1).lower(), match.group(3))
            if command.name == "stop-commands" and command.data:
                paused = command.data
        elif (old := _V1.search(line)) is not None:
            command = Command(old.group(1).lower(), old.group(2))
        read_lines.append((line, command))
    return read_lines


def commands(stdout: str) -> list[Command]:
    """Every workflow command the runner would carry out, in order."""
    return [command for _, command in read(stdout) if command is not None]


def groups(stdout: str) -> list[tuple[str, list[str]]]:
    """Each ::group:: the runner would show: its title and the output lines inside it."""
    shown: list[tuple[str, list[str]]] = []
    inside: list[str] | None = None
    for line, command in read(stdout):
        if command is None:
            if inside is not None:
                inside.append(line)
        elif command.name == "group":
            inside = []
            shown.append((command.data, inside))
        elif command.name == "endgroup":
            inside = None
    return shown
