"""The `/selfheal` command in an issue or pull request comment: found, and its text cleaned.

Comment bodies are hostile input; what follows the command reaches the agent's prompt, so
it leaves here flattened to one printable line, without hidden text, and capped.
"""

from __future__ import annotations

import re

COMMAND = "/selfheal"
MAX_COMMAND_ARGS = 500

# Markdown lines end at \n, \r\n or \r only (str.splitlines also splits at \u2028 and more,
# which GitHub renders mid-line).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


# `/selfheal` starts a line (up to three spaces: four make an indented code block) and ends
# at whitespace or the end of the line: `/selfheals` is not the command.
def _command_line(command: str) -> re.Pattern[str]:
    return re.compile(r" {0,3}" + re.escape(command) + r"(?:[ \t]+(.*))?")


_COMMAND_LINE = _command_line(COMMAND)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")


def command_args(body: str, command: str = COMMAND) -> str | None:
    """The text after `/selfheal` on the first line that starts with it, None when no line does.

    Lines in block quotes (`> /selfheal`, someone quoting a command) and in fenced code
    blocks do not count; neither does `/selfheal` in the middle of a line.
    """
    fence: str | None = None
    for line in _LINE_BREAK.split(body):
        marker = _FENCE.fullmatch(line)
        if fence is not None:
            # A fence closes with the same character, at least as many, and nothing after.
            if marker and marker[1][0] == fence[0] and len(marker[1]) >= len(fence):
                fence = None if not marker[2].strip() else fence
            continue
        if marker:
            fence = marker[1]
            continue
        pattern = _COMMAND_LINE if command == COMMAND else _command_line(command)
        if match := pattern.fullmatch(line):
            return _clean_args(match[1] or "")
    return None


def _clean_args(text: str) -> str:
    from bot.guard.sanitize import sanitize  # hidden text stays out of what the agent is told

    printable = "".join(c if c.isprintable() else " " for c in sanitize(text))
    flat = " ".join(printable.split())
    return flat if len(flat) <= MAX_COMMAND_ARGS else flat[: MAX_COMMAND_ARGS - 3] + "..."
