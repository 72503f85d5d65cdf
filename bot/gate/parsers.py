"""Pure parsers for what gate tools print: ruff JSON and text, tracebacks and their frames.

Nothing here starts a process or reads a file; pytest's own reports are read by
bot.gate.pytest_results. Each parser returns plain values; triage turns them into `Failure`s.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass, field

# --- locations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A source location as a traceback printed it (absolute or relative to the run's cwd)."""

    path: str
    line: int


def repo_relative(path: str, roots: Collection[str]) -> str | None:
    """`path` relative to the repo (posix), or None when it is outside it or installed code."""
    if not path or path.startswith("<"):
        return None  # <frozen importlib._bootstrap>, <string>
    path = path.replace("\\", "/")
    if path.startswith("/"):
        for root in roots:
            prefix = root.rstrip("/") + "/"
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        else:
            return None
    path = posixpath.normpath(path)
    parts = path.split("/")
    if parts[0] == ".." or "site-packages" in parts or "dist-packages" in parts:
        return None
    return path


def deepest_in_repo(frames: list[Frame], roots: Collection[str]) -> tuple[str, int] | None:
    """The innermost frame inside the repo: where the repo's own code went wrong."""
    for frame in reversed(frames):
        rel = repo_relative(frame.path, roots)
        if rel is not None:
            return rel, frame.line
    return None


# --- tracebacks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Traceback:
    """The last exception in a piece of text, and the frames that led to it (outermost first)."""

    exc_type: str | None
    message: str
    frames: list[Frame] = field(default_factory=list)


_TB_HEADER = re.compile(r"^\s*Traceback \(most recent call last\):\s*$")
_STD_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
# pytest's longrepr: "tests/test_x.py:12: in test_y", "src/m.py:3: TypeError", "tests/t.py:9: "
_PYTEST_LOC = re.compile(r"^(?P<path>\S[^:\n]*?\.pyw?|<[^>\n]+>):(?P<line>\d+):(?: (?P<rest>.*))?$")
_EXC_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$")
_E_LINE = re.compile(r"^E(?:\s+(?P<text>.*))?$")
_PREFIXES = ("INTERNALERROR> ",)


_EXC_SUFFIXES = (
    "Error",
    "Exception",
    "Warning",
    "Exit",
    "Interrupt",
    "Failed",
    "Failure",
    "Timeout",
    "Iteration",
    "Group",
    "Skipped",
)


def _looks_like_exception(name: str) -> bool:
    """A name that reads as an exception class, so "Expected: 3" is not taken for one."""
    last = name.rsplit(".", 1)[-1]
    return bool(last) and last[0].isupper() and last.endswith(_EXC_SUFFIXES)


def _strip_prefix(line: str) -> str:
    for prefix in _PREFIXES:
        if line.startswith(prefix):
            return line[len(prefix) :]
    return line


def parse_traceback(text: str) -> Traceback | None:
    """The last exception in `text`, in the standard form or pytest's longrepr form."""
    frames: list[Frame] = []  # since the previous exception
    last: Traceback | None = None
    lines = [_strip_prefix(line.rstrip("\r")) for line in text.splitlines()]
    in_std_tb = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _TB_HEADER.match(line):
            in_std_tb, i = True, i + 1
            continue
        e_line = _E_LINE.match(line)
        if e_line:
            # A block of "E   ..." lines: the exception pytest shows (frames may be inside it).
            block: list[str] = []
            while i < len(lines) and (m := _E_LINE.match(lines[i])):
                block.append((m.group("text") or "").rstrip())
                i += 1
            for entry in block:
                if found := _STD_FRAME.search(entry):
                    frames.append(Frame(found.group("path"), int(found.group("line"))))
            last = Traceback(*_exception_in_block(block), frames=frames)
            frames = []
            in_std_tb = False
            continue
        if found := _STD_FRAME.search(line):
            frames.append(Frame(found.group("path"), int(found.group("line"))))
        elif loc := _PYTEST_LOC.match(line):
            rest = (loc.group("rest") or "").strip()
            frame = Frame(loc.group("path"), int(loc.group("line")))
            if rest and not rest.startswith("in ") and _EXC_LINE.match(rest) and last is not None:
                # "path:N: ExcType" closes the section whose E lines we just read.
                if not last.frames or last.frames[-1] != frame:
                    last = Traceback(rest, last.message, [*last.frames, frame])
                else:
                    last = Traceback(rest, last.message, last.frames)
            else:
                frames.append(frame)
        elif in_std_tb and line.strip() and not line[0].isspace():
            in_std_tb = False
            exc = _EXC_LINE.match(line)
            # The first unindented line after the frames is the exception, whatever its name.
            if exc and (exc.group("msg") is not None or exc.group("type")[0].isupper()):
                last = Traceback(exc.group("type"), (exc.group("msg") or "").strip(), frames)
                frames = []
        i += 1
    return last


def _exception_in_block(block: list[str]) -> tuple[str | None, str]:
    """(type, message) from pytest's E lines; type None when they only show an assert."""
    for entry in block:
        exc = _EXC_LINE.match(entry.strip())
        if exc and exc.group("msg") is not None and _looks_like_exception(exc.group("type")):
            return exc.group("type"), exc.group("msg").strip()
    first = next((entry.strip() for entry in block if entry.strip()), "")
    return None, first


def split_exception(text: str) -> tuple[str | None, str]:
    """'ValueError: bad' -> ('ValueError', 'bad'); text that names no exception -> (None, text)."""
    head = text.strip().split("\n", 1)[0].strip()
    exc = _EXC_LINE.match(head)
    if exc and exc.group("msg") is not None and _looks_like_exception(exc.group("type")):
        return exc.group("type"), exc.group("msg").strip()
    return None, text.strip()


def all_frames(text: str) -> list[Frame]:
    """Every `File "x", line N` frame in `text`, in order (for stack dumps with no exception)."""
    return [Frame(m.group("path"), int(m.group("line"))) for m in _STD_FRAME.finditer(text)]


# --- ruff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuffDiagnostic:
    path: str  # repo-relative when inside the repo, else as ruff printed it
    line: int
    column: int
    code: str | None  # None: a syntax error from an older ruff
    message: str
    fix: str | None = None  # ruff's applicability: "safe", "unsafe", "display-only"

    @property
    def syntax_error(self) -> bool:
        return self.code in (None, "invalid-syntax", "E999")

    @property
    def fixable(self) -> bool:
        """`ruff check --fix` repairs it (only safe fixes are applied without flags)."""
        return self.fix == "safe"


def _json_objects(text: str) -> list[object] | None:
    """The JSON array ruff printed; if it was cut short, the objects before the cut."""
    start = text.find("[")
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
    except (ValueError, RecursionError):
        pass
    else:
        return data if isinstance(data, list) else None
    decoder, pos = json.JSONDecoder(), start + 1
    items: list[object] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return items or None
        items.append(item)


def parse_ruff_json(text: str, roots: Collection[str]) -> list[RuffDiagnostic] | None:
    """Diagnostics from `ruff check --output-format=json`; None when `text` holds no JSON."""
    items = _json_objects(text)
    if items is None:
        return None
    return [d for d in (_ruff_diagnostic(item, roots) for item in items) if d is not None]


def _ruff_diagnostic(item: object, roots: Collection[str]) -> RuffDiagnostic | None:
    if not isinstance(item, dict):
        return None
    location = item.get("location")
    location = location if isinstance(location, dict) else {}
    filename = str(item.get("filename") or "")
    fix = item.get("fix")
    code = item.get("code")
    return RuffDiagnostic(
        path=repo_relative(filename, roots) or filename,
        line=_int(location.get("row")),
        column=_int(location.get("column")),
        code=str(code) if code is not None else None,
        message=str(item.get("message") or ""),
        fix=str(fix.get("applicability")) if isinstance(fix, dict) else None,
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def render_ruff_concise(diagnostics: list[RuffDiagnostic]) -> str:
    """What `ruff check --output-format=concise` would have printed for these diagnostics."""
    if not diagnostics:
        return "All checks passed!\n"
    lines = []
    for d in diagnostics:
        where = f"{d.path}:{d.line}:{d.column}:"
        if d.code is None:
            lines.append(f"{where} {d.message}")
        elif d.code == "invalid-syntax":
            lines.append(f"{where} {d.code}: {d.message}")
        else:
            lines.append(f"{where} {d.code}{' [*]' if d.fixable else ''} {d.message}")
    count = len(diagnostics)
    lines.append(f"Found {count} error{'s' if count != 1 else ''}.")
    safe = sum(d.fixable for d in diagnostics)
    unsafe = sum(d.fix == "unsafe" for d in diagnostics)
    hidden = (
        f"{unsafe} unsafe fix{'es' if unsafe != 1 else ''} available with `--fix --unsafe-fixes`"
    )
    if safe and unsafe:
        lines.append(f"[*] {safe} fixable with `--fix` ({hidden}).")
    elif safe:
        lines.append(f"[*] {safe} fixable with `--fix`.")
    elif unsafe:
        lines.append(f"{hidden}.")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FormatProblem:
    """One file `ruff format --check` would change, or could not parse."""

    path: str
    line: int | None
    message: str
    syntax_error: bool


_WOULD_REFORMAT = re.compile(r"^Would reformat: (?P<path>.+?)\s*$")
_FAILED_TO_PARSE = re.compile(
    r"^error: Failed to parse (?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.*)$"
)
_FORMAT_CONCISE = re.compile(
    r"^(?P<path>\S.*?):(?P<line>\d+):(?P<col>\d+): (?P<code>unformatted|invalid-syntax): (?P<msg>.*)$"
)
_FORMAT_FULL_HEAD = re.compile(r"^(?P<code>unformatted|invalid-syntax): (?P<msg>.*)$")
_FORMAT_FULL_ARROW = re.compile(r"^\s*-->\s*(?P<path>.+?):(?P<line>\d+):(?P<col>\d+)\s*$")
_DIFF_HEADER = re.compile(r"^\+\+\+ (?P<path>\S.*?)\s*$")


def parse_ruff_format(text: str, roots: Collection[str]) -> list[FormatProblem]:
    """Problems from `ruff format --check` (old "Would reformat:" text, new diagnostics, --diff)."""
    problems: dict[tuple[str, bool], FormatProblem] = {}

    def add(path: str, line: int | None, message: str, syntax: bool) -> None:
        path = repo_relative(path, roots) or path
        problems.setdefault((path, syntax), FormatProblem(path, line, message, syntax))

    lines = text.splitlines()
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if m := _WOULD_REFORMAT.match(line):
            add(m.group("path"), None, "File would be reformatted", False)
        elif m := _FAILED_TO_PARSE.match(line):
            add(m.group("path"), int(m.group("line")), m.group("msg"), True)
        elif m := _FORMAT_CONCISE.match(line):
            syntax = m.group("code") == "invalid-syntax"
            add(
                m.group("path"),
                None if not syntax else int(m.group("line")),
                m.group("msg"),
                syntax,
            )
        elif (m := _FORMAT_FULL_HEAD.match(line)) and i + 1 < len(lines):
            if arrow := _FORMAT_FULL_ARROW.match(lines[i + 1]):
                syntax = m.group("code") == "invalid-syntax"
                at = int(arrow.group("line")) if syntax else None
                add(arrow.group("path"), at, m.group("msg"), syntax)
        elif (m := _DIFF_HEADER.match(line)) and i > 0 and lines[i - 1].startswith("--- "):
            add(m.group("path"), None, "File would be reformatted", False)
    return list(problems.values())
