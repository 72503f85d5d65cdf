"""selfheal's pytest plugin: what did not pass, as JSON lines, for selfheal to read.

selfheal copies this file, as `_selfheal_pytest.py`, into a scratch directory outside the
repository, puts that directory on the pytest step's PYTHONPATH, and adds
`-p _selfheal_pytest --selfheal-results=FILE`. It runs in the project's interpreter, which
may not have selfheal installed, so it imports nothing but the standard library; it works
on pytest 7 and later, on Python 3.7 and later.

It records only what failed (a green run of thousands of tests writes two lines), one JSON
object a line, flushed as it goes, so a run that dies half-way still leaves what it saw:

    {"kind": "start"}
    {"kind": "test", "nodeid", "file", "line" (0-based), "when", "outcome", "message", "text"}
    {"kind": "collect", "nodeid", "file", "text"}
    {"kind": "end", "exitstatus", "tests_run", "marker_deselected"}

Writing its own file costs pytest far less than --junitxml, which builds an XML element
for every passing test.

With `--selfheal-deselect-marker=gpu` (a runner with no GPU) it also leaves out the tests
marked `gpu`, as `-m "not gpu"` would, and-ed with whatever -m the project gave (on the
command line, in addopts or PYTEST_ADDOPTS); `marker_deselected` counts the marked tests
that were left out.
"""

from __future__ import annotations

import json
from typing import Any

# Per report: a test that prints (or asserts on) 100 MB must not make a 100 MB file.
TEXT_CAP = 20_000
MESSAGE_CAP = 2_000
_HEAD = 4_000  # of TEXT_CAP: the test's own frame; the rest is the end, where it failed


def _cut(text: str, cap: int, head: int) -> str:
    """`text` cut to its head and tail when longer than `cap` characters."""
    if len(text) <= cap:
        return text
    tail = cap - head
    marker = f"\n[... {len(text) - cap} chars cut by selfheal ...]\n"
    return text[:head] + marker + text[-tail:]


def _text(report: Any) -> str:
    longrepr = getattr(report, "longrepr", None)
    if longrepr is None:
        return ""
    try:
        return str(longrepr)  # what --junitxml writes as the element text
    except Exception as exc:  # noqa: BLE001 - a broken repr must not cost the whole record
        return f"(selfheal could not render this report: {type(exc).__name__})"


def _message(report: Any, text: str) -> str:
    """The crash line pytest shows (`reprcrash`), else the whole report text."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = getattr(crash, "message", None)
    return message if isinstance(message, str) else text


class _Recorder:
    def __init__(self, path: str, marker: str | None = None) -> None:
        self.path = path
        self.file: Any = None
        self.tests_run = 0
        self.marker = marker
        self.marker_deselected = 0
        self.collected = False  # under pytest-xdist the workers collect, and this never sees it

    def _write(self, record: dict[str, Any]) -> None:
        if self.file is None:
            return
        try:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        except (OSError, ValueError):
            self.file = None  # disk full or closed: selfheal falls back to pytest's output

    def pytest_sessionstart(self) -> None:
        try:
            self.file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115, PTH123
        except OSError:
            return
        self._write({"kind": "start"})

    def pytest_runtest_logreport(self, report: Any) -> None:
        when = getattr(report, "when", None)
        outcome = getattr(report, "outcome", None)
        # Counted as --junitxml counts test cases: those that ran or errored, not skips.
        if (when == "call" and outcome in ("passed", "failed")) or (
            when == "setup" and outcome == "failed"
        ):
            self.tests_run += 1
        if outcome != "failed":
            return
        location = getattr(report, "location", None) or (None, None, None)
        text = _text(report)
        self._write(
            {
                "kind": "test",
                "nodeid": getattr(report, "nodeid", ""),
                "file": location[0],
                "line": location[1],
                "when": when,
                "outcome": outcome,
                "message": _cut(_message(report, text), MESSAGE_CAP, MESSAGE_CAP // 2),
                "text": _cut(text, TEXT_CAP, _HEAD),
            }
        )

    def pytest_collectreport(self, report: Any) -> None:
        if getattr(report, "outcome", None) != "failed":
            return
        nodeid = getattr(report, "nodeid", "")
        location = getattr(report, "location", None) or (nodeid.split("::")[0],)
        self._write(
            {
                "kind": "collect",
                "nodeid": nodeid,
                "file": location[0],
                "text": _cut(_text(report), TEXT_CAP, _HEAD),
            }
        )

    def pytest_collection_finish(self) -> None:
        self.collected = True

    def pytest_deselected(self, items: Any) -> None:
        if self.marker:
            self.marker_deselected += sum(
                1 for item in items if item.get_closest_marker(self.marker) is not None
            )

    def pytest_sessionfinish(self, exitstatus: Any) -> None:
        try:
            status = int(exitstatus)
        except (TypeError, ValueError):
            status = None
        record = {"kind": "end", "exitstatus": status, "tests_run": self.tests_run}
        if self.marker and self.collected:
            record["marker_deselected"] = self.marker_deselected
        self._write(record)
        if self.file is not None:
            self.file.close()
            self.file = None


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--selfheal-results",
        dest="selfheal_results",
        default=None,
        metavar="FILE",
        help="selfheal: write the tests that did not pass to FILE (JSON lines)",
    )
    parser.addoption(
        "--selfheal-deselect-marker",
        dest="selfheal_deselect_marker",
        default=None,
        metavar="MARKER",
        help='selfheal: leave out tests marked MARKER, as -m "not MARKER" and-ed with any -m',
    )


def pytest_configure(config: Any) -> None:
    marker = config.getoption("selfheal_deselect_marker")
    if marker:
        # Under --strict-markers an unregistered name in -m stops pytest (exit 4), and the
        # project may have no gpu tests at all: register it, as the project would.
        config.addinivalue_line("markers", f"{marker}: selfheal leaves these out here: no GPU")
        # pytest reads the final -m (command line or addopts) from here when it deselects.
        given = (getattr(config.option, "markexpr", "") or "").strip()
        config.option.markexpr = f"({given}) and not {marker}" if given else f"not {marker}"
    path = config.getoption("selfheal_results")
    # Under pytest-xdist every report reaches the controller; a worker writes nothing.
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Recorder(path, marker), "selfheal-results")
