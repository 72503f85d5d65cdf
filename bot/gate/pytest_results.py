"""What pytest reported: selfheal's plugin's results file, junit XML, or its terminal output.

Pure, apart from reading the results file we were handed (the plugin's JSON lines, or junit
XML). Tracebacks inside a report are read by bot.gate.parsers; triage turns these values into
`Failure`s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.gate.parsers import Traceback, parse_traceback

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

_V = TypeVar("_V")

# --- selfheal's pytest plugin's results file --------------------------------------------


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
class RunCounts:
    """What a pytest run shows about itself: the evidence that its tests ran."""

    source: str  # "plugin" (selfheal's end record) or "junit"
    normal_end: bool  # the test loop ran to its end (junit: the file is whole)
    collected: int | None  # tests left after deselection; None: unknown
    outcomes: dict[str, int]  # "passed", "failed", "error", "skipped", "xfailed", "xpassed"
    deselected: int | None = None
    stopped: str | None = None  # the option that stopped it short of running: "--collect-only"
    selected: dict[str, str] = field(default_factory=dict)  # node id -> outcome
    watched: dict[str, str] = field(default_factory=dict)
    cut_short: bool = False  # it stopped at its first failure, as asked, with tests left


@dataclass(frozen=True)
class PytestResults:
    problems: list[PytestProblem]
    tests_run: int | None  # tests that ran (not skipped, not collection errors); None: unknown
    complete: bool  # False: pytest stopped before the end of its session (crashed, killed)
    marker_deselected: int | None = None  # tests left out for --selfheal-deselect-marker
    counts: RunCounts | None = None  # None: no end record (or no whole junit file)


def parse_pytest_results(path: Path) -> PytestResults | None:
    """Read what selfheal's pytest plugin wrote; None when it wrote nothing (it never started).

    A line cut short (the run died while writing it) ends the reading: what came before counts.
    """
    problems: list[PytestProblem] = []
    started = False
    end: dict[str, object] | None = None
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
                    end = record
    except OSError:
        return None
    if not (started or problems):
        return None
    if end is None:
        return PytestResults(problems, None, False)
    deselected = end.get("marker_deselected")
    return PytestResults(
        problems,
        _int(end.get("tests_run")),
        True,
        deselected if isinstance(deselected, int) else None,
        _end_counts(end),
    )


def _end_counts(end: dict[str, object]) -> RunCounts:
    outcomes = end.get("outcomes")
    collected, deselected = end.get("collected"), end.get("deselected")
    stopped = end.get("stopped")
    return RunCounts(
        source="plugin",
        normal_end=end.get("normal_end") is True,
        collected=collected if isinstance(collected, int) else None,
        outcomes=_str_map(outcomes, int),
        deselected=deselected if isinstance(deselected, int) else None,
        stopped=stopped if isinstance(stopped, str) else None,
        selected=_str_map(end.get("selected"), str),
        watched=_str_map(end.get("watched"), str),
        cut_short=end.get("cut_short") is True,
    )


def _str_map(value: object, kind: type[_V]) -> dict[str, _V]:
    """A JSON object of `kind` values, anything else left out (the file is the project's)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and type(v) is kind}


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


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
    outcomes: dict[str, int] = field(default_factory=dict)  # test cases by outcome
    tracked: dict[str, str] = field(default_factory=dict)  # outcome of each id asked about

    def results(self, selected: Sequence[str] = (), watched: Sequence[str] = ()) -> PytestResults:
        """As the plugin would say it; only a whole file is evidence of a normal end."""

        def of(ids: Sequence[str]) -> dict[str, str]:
            return {i: self.tracked.get(i, NOT_COLLECTED) for i in ids}

        counts = RunCounts(
            source="junit",
            normal_end=self.complete,
            collected=sum(self.outcomes.values()),
            outcomes=dict(self.outcomes),
            selected=of(selected),
            watched=of(watched),
        )
        problems = [c.problem() for c in self.problems]
        return PytestResults(problems, self.tests_run, self.complete, counts=counts)


NOT_COLLECTED = "not collected"  # the plugin's word for a selected id pytest never collected


def parse_junit(path: Path, tracked: Collection[str] = ()) -> JunitReport | None:
    """Read pytest's junit XML incrementally; None when the file is missing, or cut short
    before its first case. `tracked`: node ids whose outcome to keep."""
    from xml.etree.ElementTree import ParseError, iterparse  # only when the plugin could not load

    problems: list[JunitCase] = []
    tests_run = 0
    cases = 0
    complete = True
    outcomes: dict[str, int] = {}
    found: dict[str, str] = {}
    try:
        # The file is pytest's, written while running the repo's own code (which could do
        # anything anyway), and expat refuses entity-expansion bombs: plain etree is fine.
        for _, elem in iterparse(path, events=("end",)):  # noqa: S314
            if elem.tag != "testcase":
                continue
            cases += 1
            problem = _case_outcome(elem)
            if problem is not None:
                problems.append(problem)
            if not (problem and problem.collection_error):
                outcome = _junit_outcome(elem, problem)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome not in ("skipped", "xfailed"):
                    tests_run += 1
                if tracked:
                    attrib = elem.attrib
                    node = junit_node_id(
                        attrib.get("file"), attrib.get("classname", ""), attrib.get("name", "")
                    )
                    if node in tracked:
                        found[node] = outcome
            elem.clear()  # a run with many failures must not hold every longrepr at once
    except FileNotFoundError:
        return None
    except (ParseError, OSError):
        complete = False
    if not cases and not complete:
        return None
    return JunitReport(problems, tests_run, complete, outcomes, found)


def _junit_outcome(elem: Element, problem: JunitCase | None) -> str:
    if problem is not None:
        return "failed" if problem.kind == "failure" else "error"
    skipped = elem.find("skipped")
    if skipped is None:
        return "passed"
    return "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"


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


_PROGRESS = re.compile(r"^(?P<path>[^\s:]+\.py)(?:::\S+)? ")


def last_progress_file(text: str) -> str | None:
    """The test file pytest was in when its output stopped (for a run killed at its timeout)."""
    found = None
    for line in text.splitlines():
        if m := _PROGRESS.match(line):
            found = m.group("path")
    return found
