"""Pure parsers for what gate tools print: ruff JSON and text, pytest results, tracebacks.

Nothing here starts a process; the only I/O is reading the results file we were handed
(selfheal's pytest plugin's JSON lines, or junit XML).
Each parser returns plain values; triage turns them into `Failure`s.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

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


# --- pytest results: selfheal's plugin, or junit XML ------------------------------------


@dataclass(frozen=True)
class PytestProblem:
    """A test (or a collection) that did not pass, as pytest reported it."""

    test_id: str | None  # the node id; None for a collection error
    file: str | None  # as pytest reported it: relative to its rootdir
    line: int | None  # 1-based; where the test is defined
    message: str  # pytest's reason in a line ("failed on setup with ..." for errors)
    text: str  # the whole report, as pytest prints it

    @property
    def collection_error(self) -> bool:
        return self.test_id is None


@dataclass(frozen=True)
class PytestResults:
    problems: list[PytestProblem]
    tests_run: int | None  # tests that ran (not skipped, not collection errors); None: unknown
    complete: bool  # False: pytest stopped before the end of its session (crashed, killed)


def parse_pytest_results(path: Path) -> PytestResults | None:
    """Read what selfheal's pytest plugin wrote; None when it wrote nothing (it never started).

    A line cut short (the run died while writing it) ends the reading: what came before counts.
    """
    problems: list[PytestProblem] = []
    tests_run = 0
    complete = started = False
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    break
                kind = record.get("kind") if isinstance(record, dict) else None
                if kind == "start":
                    started = True
                elif kind == "test":
                    problems.append(_plugin_test(record))
                elif kind == "collect":
                    problems.append(_plugin_collect(record))
                elif kind == "end":
                    tests_run, complete = _int(record.get("tests_run")), True
    except OSError:
        return None
    if not (started or problems):
        return None
    return PytestResults(problems, tests_run if complete else None, complete)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _plugin_test(record: dict[str, object]) -> PytestProblem:
    line, when, message = record.get("line"), _str(record.get("when")), _str(record.get("message"))
    if when != "call":
        # As --junitxml words an error outside the test itself (a fixture, a finalizer).
        message = f'failed on {when} with "{message}"'
    return PytestProblem(
        test_id=_str(record.get("nodeid")),
        file=_str(record.get("file")) or None,
        line=line + 1 if isinstance(line, int) else None,  # pytest's locations are 0-based
        message=message,
        text=_str(record.get("text")),
    )


def _plugin_collect(record: dict[str, object]) -> PytestProblem:
    nodeid = _str(record.get("nodeid"))
    return PytestProblem(
        test_id=None,
        file=_str(record.get("file")) or nodeid.split("::")[0] or None,
        line=None,
        message="",
        text=_str(record.get("text")),
    )


# --- pytest junit XML (when the plugin could not load) ----------------------------------


@dataclass(frozen=True)
class JunitCase:
    """A test case that did not pass (xunit1 attributes; `line` is pytest's 0-based line)."""

    classname: str
    name: str
    file: str | None
    line: int | None
    kind: str  # "failure" or "error"
    message: str
    text: str

    @property
    def collection_error(self) -> bool:
        return not self.classname or self.message == "collection failure"

    def node_id(self) -> str:
        """The pytest node id, rebuilt from file + classname + name."""
        return junit_node_id(self.file, self.classname, self.name)

    def problem(self) -> PytestProblem:
        collection = self.collection_error
        return PytestProblem(
            test_id=None if collection else self.node_id(),
            file=self.file,
            line=self.line + 1 if self.line is not None else None,  # xunit1 is 0-based
            message="" if collection else self.message,
            text=self.text,
        )


@dataclass(frozen=True)
class JunitReport:
    problems: list[JunitCase]
    tests_run: int  # test cases that ran (not skipped, not collection errors)
    complete: bool  # False: the file was cut short (the run was killed while writing it)

    def results(self) -> PytestResults:
        return PytestResults([c.problem() for c in self.problems], self.tests_run, self.complete)


def parse_junit(path: Path) -> JunitReport | None:
    """Read pytest's junit XML incrementally; None when the file is missing or holds no cases."""
    from xml.etree.ElementTree import ParseError, iterparse  # only when the plugin could not load

    problems: list[JunitCase] = []
    tests_run = 0
    cases = 0
    complete = True
    try:
        # The file is pytest's, written while running the repo's own code (which could do
        # anything anyway), and expat refuses entity-expansion bombs: plain etree is fine.
        for _, elem in iterparse(path, events=("end",)):  # noqa: S314
            if elem.tag != "testcase":
                continue
            cases += 1
            outcome = _case_outcome(elem)
            if outcome is not None:
                problems.append(outcome)
            if not (outcome and outcome.collection_error) and elem.find("skipped") is None:
                tests_run += 1
            elem.clear()  # a run with many failures must not hold every longrepr at once
    except FileNotFoundError:
        return None
    except (ParseError, OSError):
        complete = False
    if not cases and not complete:
        return None
    return JunitReport(problems, tests_run, complete)


def _case_outcome(elem: Element) -> JunitCase | None:
    for kind in ("failure", "error"):
        child = elem.find(kind)
        if child is None:
            continue
        attrib = elem.attrib
        line = attrib.get("line")
        return JunitCase(
            classname=attrib.get("classname", ""),
            name=attrib.get("name", ""),
            file=attrib.get("file"),
            line=int(line) if line and line.isdigit() else None,
            kind=kind,
            message=child.get("message", ""),
            text=child.text or "",
        )
    return None


def junit_node_id(file: str | None, classname: str, name: str) -> str:
    """tests/test_x.py + tests.test_x.TestC + test_y[p] -> tests/test_x.py::TestC::test_y[p]."""
    if not file:
        # No file attribute: assume the leading lower-case parts are the module path.
        parts = classname.split(".") if classname else []
        split = next((i for i, p in enumerate(parts) if p[:1].isupper()), len(parts))
        file = "/".join(parts[:split]) + ".py" if split else ""
        return "::".join([file, *parts[split:], name])
    module = file[: -len(".py")] if file.endswith(".py") else file
    module = module.replace("/", ".").replace("\\", ".")
    if classname == module:
        inner: list[str] = []
    elif classname.startswith(module + "."):
        inner = classname[len(module) + 1 :].split(".")
    else:
        # The test lives in a different file than where it is collected (an inherited
        # method): the class names are the capitalised tail of the classname.
        parts = classname.split(".")
        inner = [p for p in parts if p[:1].isupper()]
    return "::".join([file, *inner, name])


# --- pytest text output (no results file) -----------------------------------------------


@dataclass(frozen=True)
class TextFailure:
    """A failure found in pytest's terminal output."""

    test_id: str | None
    collect_path: str | None  # "ERROR collecting <path>"
    summary: str  # the short summary's message, if any
    traceback: Traceback | None


_SECTION = re.compile(r"^_{2,} (?P<title>.+?) _{2,}$")
_SECTION_END = re.compile(r"^(?:={3,}|-{3,}).*$")
_SUMMARY = re.compile(r"^(?P<what>FAILED|ERROR) (?P<id>.+?)(?: - (?P<msg>.*))?$")
_COLLECTING = re.compile(r"^ERROR collecting (?P<path>.+)$")
_TIMEOUT_BANNER = re.compile(r"\+{3,} Timeout \+{3,}")


def _sections(lines: list[str]) -> Iterator[tuple[str, str]]:
    """(title, body) of each "____ title ____" section, cut at the next rule line."""
    title: str | None = None
    body: list[str] = []
    for line in lines:
        head = _SECTION.match(line)
        if head or _SECTION_END.match(line):
            if title is not None:
                yield title, "\n".join(body)
            title, body = (head.group("title") if head else None), []
        elif title is not None:
            body.append(line)
    if title is not None:
        yield title, "\n".join(body)


def parse_pytest_text(text: str) -> list[TextFailure]:
    """Failures from pytest's terminal output: collection errors, then summary lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    sections = list(_sections(lines))
    found: list[TextFailure] = []
    for title, body in sections:
        if m := _COLLECTING.match(title):
            found.append(TextFailure(None, m.group("path"), "", parse_traceback(body)))
    used: set[int] = set()
    for line in lines:
        m = _SUMMARY.match(line)
        if not m or "::" not in m.group("id"):
            continue  # "ERROR tests/x.py" repeats a collection error
        node_id = m.group("id")
        # Sections are titled by the test's name within its file ("TestC.test_y[p]").
        inner, bracket, params = node_id.split("::", 1)[1].partition("[")
        tail = inner.replace("::", ".") + bracket + params
        index = next(
            (
                i
                for i, (title, _) in enumerate(sections)
                if i not in used and (title == tail or title.endswith(f" of {tail}"))
            ),
            None,
        )
        tb = None
        if index is not None:
            used.add(index)
            tb = parse_traceback(sections[index][1])
        found.append(TextFailure(node_id, None, m.group("msg") or "", tb))
    return found


def timeout_banner(text: str) -> bool:
    """pytest-timeout's thread method printed its banner (and then killed the run)."""
    return bool(_TIMEOUT_BANNER.search(text))


def all_frames(text: str) -> list[Frame]:
    """Every `File "x", line N` frame in `text`, in order (for stack dumps with no exception)."""
    return [Frame(m.group("path"), int(m.group("line"))) for m in _STD_FRAME.finditer(text)]


_PROGRESS = re.compile(r"^(?P<path>[^\s:]+\.py)(?:::\S+)? ")


def last_progress_file(text: str) -> str | None:
    """The test file pytest was in when its output stopped (for a run killed at its timeout)."""
    found = None
    for line in text.splitlines():
        if m := _PROGRESS.match(line):
            found = m.group("path")
    return found
