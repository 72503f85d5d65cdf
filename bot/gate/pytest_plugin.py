"""selfheal's pytest plugin: what did not pass, and the evidence that the tests ran.

selfheal copies this file, as `_selfheal_pytest.py`, into a scratch directory outside the
repository, puts that directory on the pytest step's PYTHONPATH, and adds
`-p _selfheal_pytest --selfheal-results=FILE`. It runs in the project's interpreter, which
may not have selfheal installed, so it imports nothing but pytest and the standard library;
it works on pytest 7 and later, on Python 3.7 and later.

It records what failed (a green run of thousands of tests writes two lines), one JSON object
a line, flushed as it goes, so a run that dies half-way still leaves what it saw:

    {"kind": "start"}
    {"kind": "test", "nodeid", "file", "line" (0-based), "when", "outcome", "message", "text"}
    {"kind": "collect", "nodeid", "file", "text"}
    {"kind": "end", "exitstatus", "normal_end", "stopped", "collected", "deselected",
     "marker_deselected", "outcomes": {outcome: count}, "tests_run", "selected", "watched",
     "cut_short"}

The end record is the evidence: `normal_end` says the test loop ran to its end (not
--collect-only, not a pytest.exit, not an interrupt); `collected` counts the tests left
after deselection; `outcomes` counts each test once by its final outcome.

Options:
- `--selfheal-deselect-marker=gpu` (a runner with no GPU) leaves out the tests marked `gpu`,
  as `-m "not gpu"` would, and-ed with whatever -m the project gave; `marker_deselected`
  counts them.
- `--selfheal-select=FILE` (a JSON list of node ids) keeps only those tests, collecting only
  their files; `selected` maps each id to its outcome, or "not collected". An id that is a
  file (no "::") keeps every test of that file; its outcome is "failed" or "error" when one
  of them did (failed first), else "passed" when one passed, else as the others. A few
  tests cannot cover what the whole suite covers, so pytest-cov's floor (--cov-fail-under,
  or coverage's own fail_under) is lifted for the run: the whole gate still judges it.
- `--selfheal-watch=FILE` (same format) runs everything and reports these ids' outcomes in
  `watched`: the tests that failed before a fix.
- `--selfheal-first-failure=N` stops the run at its first failing test, as --maxfail=1
  would, when at least N tests were collected; `cut_short` in the end record says it
  stopped with tests left. Under pytest-xdist the run goes on to its end.

Under pytest-xdist every report reaches the controller, which alone writes; the workers
collect, so they hand their counts over through `workeroutput`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Per report: a test that prints (or asserts on) 100 MB must not make a 100 MB file.
TEXT_CAP = 20_000
MESSAGE_CAP = 2_000
_HEAD = 4_000  # of TEXT_CAP: the test's own frame; the rest is the end, where it failed
_WORKER_KEY = "selfheal"
NOT_COLLECTED = "not collected"
NOT_RUN = "not run"  # collected, but no outcome was reported for it


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


def _outcome(report: Any) -> str | None:
    """A test's final outcome from one of its reports, or None when this report decides none."""
    when, outcome = getattr(report, "when", None), getattr(report, "outcome", None)
    xfail = hasattr(report, "wasxfail")
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    if outcome == "skipped" and when in ("setup", "call"):
        return "xfailed" if xfail else "skipped"
    if outcome == "passed" and when == "call":
        return "xpassed" if xfail else "passed"
    return None  # a passing setup or teardown; pytest-rerunfailures' "rerun"


def _read_ids(path: str | None) -> list[str]:
    """The node ids selfheal wrote to `path` (a JSON list); none when it is unreadable."""
    if not path:
        return []
    try:
        ids = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _is_case(nodeid: str) -> bool:
    return nodeid.endswith("]") and "[" in nodeid


def _function_of(nodeid: str) -> str:
    """`path::test[ids]` -> `path::test`."""
    return nodeid.split("[", 1)[0] if _is_case(nodeid) else nodeid


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class _Collection:
    """Counts in the process that collects (the only one, or each xdist worker)."""

    def __init__(
        self, marker: str | None, select: list[str], tracked: set[str], first_failure: int
    ) -> None:
        self.marker = marker
        self.select = set(select)
        self.tracked = tracked  # selected and watched ids: is each collected?
        self.first_failure = first_failure  # stop at the first failure from this many tests
        self.stops_early = False
        self.collected: int | None = None
        self.deselected = 0
        self.marker_deselected = 0
        self.found: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if not self.select:
            return
        # A selected case whose id is gone (its parameters' ids changed) brings its test's
        # cases: they stand for it (see _Recorder._cases_outcome).
        present = {item.nodeid for item in items}
        lost = {_function_of(i) for i in self.select if i not in present and _is_case(i)}
        files = {i for i in self.select if "::" not in i}  # every test of the file

        def wanted(nodeid: str) -> bool:
            return (
                nodeid in self.select
                or (bool(files) and _file_of(nodeid) in files)
                or (bool(lost) and _function_of(nodeid) in lost)
            )

        kept = [item for item in items if wanted(item.nodeid)]
        if len(kept) < len(items):
            config.hook.pytest_deselected(items=[i for i in items if not wanted(i.nodeid)])
            items[:] = kept

    def pytest_deselected(self, items: Any) -> None:
        self.deselected += len(items)
        if self.marker:
            self.marker_deselected += sum(
                1 for item in items if item.get_closest_marker(self.marker) is not None
            )

    def pytest_collection_finish(self, session: Any) -> None:
        self.collected = len(session.items)
        config = session.config
        if 0 < self.first_failure <= self.collected and not hasattr(config, "workerinput"):
            # pytest's own stop: Session reads the option at each failed report.
            config.option.maxfail = 1
            self.stops_early = True
        if self.tracked:
            self.found = [item.nodeid for item in session.items if item.nodeid in self.tracked]

    def summary(self) -> dict[str, Any]:
        return {
            "collected": self.collected,
            "deselected": self.deselected,
            "marker_deselected": self.marker_deselected,
            "found": self.found,
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: Any) -> None:
        output = getattr(session.config, "workeroutput", None)
        if output is not None:  # an xdist worker: the controller reads this when it is done
            output[_WORKER_KEY] = self.summary()


class _Recorder:
    """Writes the results file (the only process, or the xdist controller)."""

    def __init__(self, path: str, collection: _Collection, select: list[str], watch: list[str]):
        self.path = path
        self.file: Any = None
        self.collection = collection
        self.select = select
        self.watch = watch
        self.outcomes: dict[str, str] = {}
        self.loop_ended = False
        self.workers: list[dict[str, Any]] = []
        self.worker_collected: int | None = None

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

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self) -> Any:
        outcome = yield
        # Raised (collection errors, -x, pytest.exit, Ctrl-C): the loop did not reach its end.
        self.loop_ended = outcome.excinfo is None

    def pytest_runtest_logreport(self, report: Any) -> None:
        if getattr(report, "outcome", None) == "passed" and getattr(report, "when", None) != "call":
            return  # a passing setup or teardown: two of every test's three reports, no outcome
        final = _outcome(report)
        nodeid = getattr(report, "nodeid", "")
        old = self.outcomes.get(nodeid)
        if final is not None and (old is None or (final == "error" and old != "failed")):
            self.outcomes[nodeid] = final  # a teardown error after a pass is an error
        if getattr(report, "outcome", None) != "failed":
            return
        location = getattr(report, "location", None) or (None, None, None)
        text = _text(report)
        self._write(
            {
                "kind": "test",
                "nodeid": nodeid,
                "file": location[0],
                "line": location[1],
                "when": getattr(report, "when", None),
                "outcome": "failed",
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

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Any) -> None:
        self.worker_collected = max(self.worker_collected or 0, len(ids))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        summary = (getattr(node, "workeroutput", None) or {}).get(_WORKER_KEY)
        if isinstance(summary, dict):
            self.workers.append(summary)

    def _counts(self) -> dict[str, Any]:
        """Collection counts: this process's, or under xdist the workers' (each collects all)."""
        if not self.workers:
            return self.collection.summary()
        counts: dict[str, Any] = {"found": []}
        for key in ("collected", "deselected", "marker_deselected"):
            values = [w[key] for w in self.workers if isinstance(w.get(key), int)]
            counts[key] = max(values) if values else None
        for worker in self.workers:
            counts["found"] += worker.get("found") or []
        if self.worker_collected is not None:
            counts["collected"] = self.worker_collected
        return counts

    def _outcomes_of(self, ids: list[str], found: set[str]) -> dict[str, str]:
        outcomes = {i: self.outcomes.get(i, NOT_RUN if i in found else NOT_COLLECTED) for i in ids}
        for test_id, outcome in outcomes.items():
            if outcome == NOT_COLLECTED and _is_case(test_id):
                outcomes[test_id] = self._cases_outcome(test_id)
            elif outcome == NOT_COLLECTED and "::" not in test_id:
                outcomes[test_id] = self._file_outcome(test_id)
        return outcomes

    def _file_outcome(self, path: str) -> str:
        """A file's tests as one: failed, or error, when one of them was, else passed when
        one passed, else what they were (skipped, ...), or not collected (none of them)."""
        seen = {o for nodeid, o in self.outcomes.items() if _file_of(nodeid) == path}
        for outcome in ("failed", "error", "passed"):
            if outcome in seen:
                return outcome
        return min(seen) if seen else NOT_COLLECTED

    def _cases_outcome(self, test_id: str) -> str:
        """A parametrized case whose id is gone: parameters hashed by address (a set of
        objects) give the cases new ids in every run. The test stands for it only when each
        of its cases ran and passed; the collected count is compared separately."""
        function = _function_of(test_id)
        cases = [o for nodeid, o in self.outcomes.items() if _function_of(nodeid) == function]
        if cases and all(o == "passed" for o in cases):
            return "passed"
        return NOT_COLLECTED

    def pytest_sessionfinish(self, session: Any, exitstatus: Any) -> None:
        try:
            status = int(exitstatus)
        except (TypeError, ValueError):
            status = None
        option = session.config.option
        stopped = next(
            (
                flag
                for flag, name in (
                    ("--collect-only", "collectonly"),
                    ("--setup-plan", "setupplan"),  # before --setup-only, which it implies
                    ("--setup-only", "setuponly"),
                    ("--fixtures", "showfixtures"),
                    ("--fixtures-per-test", "show_fixtures_per_test"),
                )
                if getattr(option, name, False)
            ),
            None,
        )
        counts = self._counts()
        found = set(counts.pop("found"))
        tally: dict[str, int] = {}
        for outcome in self.outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        ran = ("passed", "failed", "error", "xpassed")  # as --junitxml counts: not skips
        record = {
            "kind": "end",
            "exitstatus": status,
            "normal_end": self.loop_ended and stopped is None,
            "stopped": stopped,
            **counts,
            "outcomes": tally,
            "tests_run": sum(tally.get(o, 0) for o in ran),
            "selected": self._outcomes_of(self.select, found),
            "watched": self._outcomes_of(self.watch, found),
            "cut_short": self.collection.stops_early
            and bool(getattr(session, "shouldfail", False))
            and sum(tally.values()) < (self.collection.collected or 0),
        }
        if not self.collection.marker:
            record.pop("marker_deselected")
        self._write(record)
        if self.file is not None:
            self.file.close()
            self.file = None


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("selfheal")
    group.addoption(
        "--selfheal-results",
        dest="selfheal_results",
        default=None,
        metavar="FILE",
        help="selfheal: write what did not pass, and the run's counts, to FILE (JSON lines)",
    )
    group.addoption(
        "--selfheal-deselect-marker",
        dest="selfheal_deselect_marker",
        default=None,
        metavar="MARKER",
        help='selfheal: leave out tests marked MARKER, as -m "not MARKER" and-ed with any -m',
    )
    group.addoption(
        "--selfheal-select",
        dest="selfheal_select",
        default=None,
        metavar="FILE",
        help="selfheal: run only the node ids listed in FILE (a JSON list)",
    )
    group.addoption(
        "--selfheal-watch",
        dest="selfheal_watch",
        default=None,
        metavar="FILE",
        help="selfheal: report the outcome of the node ids listed in FILE (a JSON list)",
    )
    group.addoption(
        "--selfheal-first-failure",
        dest="selfheal_first_failure",
        type=int,
        default=0,
        metavar="N",
        help="selfheal: stop at the first failing test when at least N tests were collected",
    )


def _narrow(config: Any, select: list[str]) -> None:
    """Collect only the selected ids' files (not a whole 50k-test suite to re-run one test).

    Node ids are relative to the rootdir; a file that is gone is left out, so its ids are
    reported as not collected.
    """
    root = Path(str(config.rootpath))
    files = dict.fromkeys(_file_of(node) for node in select)
    config.args[:] = [str(root / f) for f in files if f and (root / f).exists()]


def _lift_coverage_floor(config: Any) -> None:
    """No coverage floor for a run of selected tests (pytest-cov's `cov_fail_under`).

    Otherwise a run whose selected tests all pass fails, exit 1, because the few tests ran
    cover less than the whole suite does: a verification reads as red and an agent's own
    test run as failing. pytest-cov reads the option from `known_args_namespace` (where it
    also put coverage's own fail_under when it started, before this hook); it is set there
    and in `option`, as `--cov-fail-under=0` would set it. Without pytest-cov neither has it.
    """
    for namespace in (getattr(config, "known_args_namespace", None), config.option):
        if namespace is not None and getattr(namespace, "cov_fail_under", None):
            namespace.cov_fail_under = 0


def pytest_configure(config: Any) -> None:
    marker = config.getoption("selfheal_deselect_marker")
    if marker:
        # Under --strict-markers an unregistered name in -m stops pytest (exit 4), and the
        # project may have no gpu tests at all: register it, as the project would.
        config.addinivalue_line("markers", f"{marker}: selfheal leaves these out here: no GPU")
        # pytest reads the final -m (command line or addopts) from here when it deselects.
        given = (getattr(config.option, "markexpr", "") or "").strip()
        config.option.markexpr = f"({given}) and not {marker}" if given else f"not {marker}"
    select = _read_ids(config.getoption("selfheal_select"))
    watch = _read_ids(config.getoption("selfheal_watch"))
    if select:
        _narrow(config, select)
        _lift_coverage_floor(config)
    first = config.getoption("selfheal_first_failure")
    collection = _Collection(marker, select, set(select) | set(watch), first)
    config.pluginmanager.register(collection, "selfheal-collection")
    path = config.getoption("selfheal_results")
    # Under pytest-xdist every report reaches the controller; a worker writes nothing.
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            _Recorder(path, collection, select, watch), "selfheal-results"
        )
