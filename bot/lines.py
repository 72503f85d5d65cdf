"""A child's output as lines while it runs, for a live view: decoded as the captured text is,
redacted line by line, a line too long to show cut without leaving half a secret.

`bot.proc` feeds each stream's bytes here from its reader threads; the captured result
that parsers read is kept apart and does not change.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence

from bot.secrets import encodings, redact

MAX_LINE_BYTES = 8 * 1024  # a longer line is shown cut; the rest of it up to its newline is not
_BINARY_LINE = re.compile(r"[^\n]*\x00[^\n]*")
_CUT = " [... line cut by selfheal]"


def decode(data: bytes) -> str:
    """UTF-8 with replacement; lines holding NUL bytes are elided as binary."""
    text = data.decode("utf-8", errors="replace")
    if "\x00" in text:
        text = _BINARY_LINE.sub(lambda m: f"[binary output elided: {len(m.group(0))} chars]", text)
    return text


def line_secrets(values: Sequence[str]) -> list[str]:
    """`values` and each line of a multi-line one (a PEM key): a stream is redacted a line at
    a time, so a whole multi-line value never appears in one piece."""
    parts = [p.strip() for v in values if "\n" in v for p in v.splitlines()]
    return sorted({*values, *(p for p in parts if p)}, key=len, reverse=True)


class LineSink:
    """Hands each whole line to `on_line`, redacted; shared by a process's two streams.

    Lines reach `on_line` one at a time (a lock), never after `close`. A sink that raises
    (a closed stdout) is not called again: the live view goes quiet, the capture goes on.
    """

    def __init__(self, on_line: Callable[[str], None], secrets: Sequence[str]) -> None:
        self.on_line = on_line
        self.secrets = line_secrets(secrets)
        # What a cut line keeps must not end in the first part of a secret in any encoding.
        self.longest = max((len(f) for v in self.secrets for f in encodings(v)), default=0)
        self.lock = threading.Lock()
        self.closed = False

    def emit(self, raw: Sequence[bytes], *, cut: bool = False) -> None:
        """Whole lines (without newlines) of one stream, decoded and redacted in one go."""
        if not raw:
            return
        text = redact(decode(b"\n".join(raw)), self.secrets)
        if cut:
            text = text[: max(len(text) - self.longest, 0)] + _CUT
        with self.lock:
            for line in text.split("\n"):
                if self.closed:
                    return
                try:
                    self.on_line(line.removesuffix("\r"))
                except Exception:  # noqa: BLE001
                    self.closed = True  # whatever the view's fault, the step runs on

    def close(self) -> None:
        with self.lock:
            self.closed = True


class StreamLines:
    """One stream's bytes split at newlines for a `LineSink`; a partial line waits for more."""

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.partial = b""
        self.skipping = False  # in the rest of a line that was cut

    def write(self, chunk: bytes) -> None:
        *whole, self.partial = (self.partial + chunk).split(b"\n")
        if whole and self.skipping:
            self.skipping = False  # the end of the line that was cut
            whole = whole[1:]
        self._emit(whole)
        if len(self.partial) > MAX_LINE_BYTES:
            if not self.skipping:
                self.sink.emit([self.partial[:MAX_LINE_BYTES]], cut=True)
            self.partial, self.skipping = b"", True

    def _emit(self, lines: list[bytes]) -> None:
        batch: list[bytes] = []
        for line in lines:
            if len(line) > MAX_LINE_BYTES:
                self.sink.emit(batch)
                self.sink.emit([line[:MAX_LINE_BYTES]], cut=True)
                batch = []
            else:
                batch.append(line)
        self.sink.emit(batch)

    def close(self) -> None:
        """The stream ended: a last line without a newline is a line too."""
        if self.partial and not self.skipping:
            self._emit([self.partial])
        self.partial = b""
