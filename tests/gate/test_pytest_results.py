"""What pytest reported: selfheal's plugin on real pytest runs (the same failures as junit,
for less), and junit XML and terminal output captured from real runs (see samples/README.md)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from bot.config import GateStep
from bot.gate import parsers, pytest_results
from bot.gate.kinds import step_failures
from bot.gate.runner import run_gate, step_env
from bot.gate.steps import install_plugin, plugin_dir, prepare
from bot.proc import ProcessResult, run_process
from bot.report import Category, Failure, StepStatus
from tests.conftest import MakeRepo
from tests.gate.conftest import SAMPLES, Sample

PYTEST = GateStep(name="tests", run=[sys.executable, "-m", "pytest", "-q"], kind="pytest")

# Every way a test can fail that triage tells apart (see samples/README.md for the first part).
FAILING = {
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/pkg/__init__.py": (
        "def add(a, b):\n    return a + b\n\n\n"
        "def boom():\n"
        '    raise ValueError("bad value at 0x7f3a2b1c and /tmp/pytest-of-u/pytest-3/test_x0")\n'
    ),
    "tests/test_a.py": """\
import pytest

from pkg import add, boom


def test_ok():
    assert add(1, 1) == 2


def test_assert():
    assert add(1, 2) == 4


def test_type():
    add(1, "x")


class TestC:
    @pytest.mark.parametrize("v", [1, "a b", "x::y[1]"])
    def test_p(self, v):
        assert v == 1


def test_err():
    boom()


@pytest.fixture
def badfix():
    raise RuntimeError("fixture broke")


def test_fixture_error(badfix):
    pass


@pytest.fixture
def bad_teardown():
    yield
    raise OSError("teardown broke")


def test_teardown_error(bad_teardown):
    pass


def test_print(capsys):
    print("hello" * 10)
    assert False, "msg with <xml> & stuff"


@pytest.mark.skip(reason="not now")
def test_skip():
    pass


@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False


@pytest.mark.xfail(strict=True)
def test_xpass():
    pass


def test_huge():
    assert "x" * 100_000 == "y", "z" * 100_000
""",
    "tests/test_coll.py": "import nonexistent_mod\n\n\ndef test_x():\n    pass\n",
    "tests/test_imp.py": "from pkg import missing_name\n\n\ndef test_x():\n    pass\n",
    "tests/test_syn.py": "def test_x(:\n    pass\n",
}


class Run(NamedTuple):
    failures: list[Failure]
    tests_run: int | None
    file: Path  # the results file it was asked to write


def _run(repo: Path, step: GateStep, env: dict[str, str], *, plugin: bool) -> Run:
    """Run `step` with selfheal's plugin, or with --junitxml, and triage what it wrote."""
    scratch = repo.parent / f"scratch-{plugin}"
    scratch.mkdir()
    prepared = prepare(step, scratch, plugin=plugin)
    run_env = step_env(step, repo, env)
    if plugin:
        run_env["PYTHONPATH"] += os.pathsep + str(install_plugin(scratch))
    result = run_process(prepared.argv, repo, env=run_env, timeout=120)
    failures, tests_run = step_failures(
        step, result, prepared.junit_path, repo, results_path=prepared.results_path
    )
    file = prepared.results_path or prepared.junit_path
    assert file is not None
    return Run(failures, tests_run, file)


def _comparable(failures: list[Failure]) -> list[dict[str, object]]:
    """Failures as dicts, with the object addresses (new in every run) left out of excerpts."""
    return [
        {**f.model_dump(), "excerpt": re.sub(r"0x[0-9a-f]+", "0x?", f.excerpt)} for f in failures
    ]


def test_the_plugin_and_junit_give_the_same_failures(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({k: v for k, v in FAILING.items() if "/test_" not in k or "test_a" in k})
    by_plugin = _run(repo, PYTEST, gate_env, plugin=True)
    by_junit = _run(repo, PYTEST, gate_env, plugin=False)
    assert _comparable(by_plugin.failures) == _comparable(by_junit.failures)
    assert by_plugin.tests_run == by_junit.tests_run == 12  # 14 tests, less a skip and an xfail
    got = [
        (f.test_id.split("::", 1)[1], f.category, f.file, f.line)
        for f in by_plugin.failures
        if f.test_id
    ]
    assert got == [
        ("test_assert", Category.ASSERTION, "tests/test_a.py", 11),
        ("test_type", Category.TYPE, "src/pkg/__init__.py", 2),
        ("TestC::test_p[a b]", Category.ASSERTION, "tests/test_a.py", 21),
        ("TestC::test_p[x::y[1]]", Category.ASSERTION, "tests/test_a.py", 21),
        ("test_err", Category.ERROR, "src/pkg/__init__.py", 6),
        ("test_fixture_error", Category.ERROR, "tests/test_a.py", 30),
        ("test_teardown_error", Category.ERROR, "tests/test_a.py", 40),
        ("test_print", Category.ASSERTION, "tests/test_a.py", 49),
        ("test_xpass", Category.ASSERTION, "tests/test_a.py", 62),
        ("test_huge", Category.ASSERTION, "tests/test_a.py", 68),
    ]
    teardown = by_plugin.failures[6]
    assert teardown.message == 'failed on teardown with "OSError: teardown broke"'
    # A 100 kB assertion is cut to its head and tail in the file.
    records = [json.loads(line) for line in by_plugin.file.read_text().splitlines()]
    (huge,) = [r for r in records if r.get("nodeid") == "tests/test_a.py::test_huge"]
    assert len(huge["text"]) < 20_100
    assert len(huge["message"]) < 2_100
    assert "chars cut by selfheal" in huge["text"]


def test_the_plugin_and_junit_give_the_same_collection_errors(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(FAILING)
    by_plugin = _run(repo, PYTEST, gate_env, plugin=True)
    by_junit = _run(repo, PYTEST, gate_env, plugin=False)
    assert _comparable(by_plugin.failures) == _comparable(by_junit.failures)
    assert by_plugin.tests_run == by_junit.tests_run == 0
    got = [(f.category, f.file, f.line, f.rule) for f in by_plugin.failures]
    assert got == [
        (Category.DEPENDENCY, "tests/test_coll.py", 1, "ModuleNotFoundError"),
        (Category.IMPORT, "tests/test_imp.py", 1, "ImportError"),
        (Category.SYNTAX, "tests/test_syn.py", 1, "SyntaxError"),
    ]


def test_a_green_run_writes_no_more_than_its_counts(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    tests = "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(50))
    repo = make_repo({"tests/test_many.py": tests})
    run = _run(repo, PYTEST, gate_env, plugin=True)
    assert (run.failures, run.tests_run) == ([], 50)
    lines = [json.loads(line) for line in run.file.read_text().splitlines()]
    end = {
        "kind": "end",
        "exitstatus": 0,
        "normal_end": True,
        "stopped": None,
        "collected": 50,
        "deselected": 0,
        "outcomes": {"passed": 50},
        "tests_run": 50,
        "selected": {},
        "watched": {},
        "cut_short": False,
    }
    assert lines == [{"kind": "start"}, end]


def test_a_run_that_dies_keeps_what_it_recorded_and_says_it_died(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    tests = "import os\n\n\ndef test_a():\n    assert 1 == 2\n\n\ndef test_b():\n    os._exit(3)\n"
    repo = make_repo({"tests/test_die.py": tests})
    run = _run(repo, PYTEST, gate_env, plugin=True)
    assert run.tests_run is None
    first, died = run.failures
    assert (first.test_id, first.category) == ("tests/test_die.py::test_a", Category.ASSERTION)
    assert (died.test_id, died.message) == (None, "tests failed with exit code 3")


def test_xdist_workers_leave_the_writing_to_the_controller(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    pytest.importorskip("xdist")
    tests = "".join(f"def test_{i}():\n    assert {i} != 3\n\n\n" for i in range(20))
    repo = make_repo({"tests/test_many.py": tests})
    step = GateStep(name="tests", run=[*PYTEST.run, "-n", "2"], kind="pytest")
    run = _run(repo, step, gate_env, plugin=True)
    assert run.tests_run == 20
    assert [f.test_id for f in run.failures] == ["tests/test_many.py::test_3"]


# --- when the plugin cannot load ----------------------------------------------------------

FAILS = {"tests/test_f.py": "def test_f():\n    assert 1 == 2\n"}


@pytest.mark.parametrize(
    "run",
    [
        [sys.executable, "-E", "-m", "pytest", "-q"],  # PYTHONPATH is ignored
        ["env", "-u", "PYTHONPATH", sys.executable, "-m", "pytest", "-q"],  # or never passed on
    ],
    ids=["python-E", "wrapper"],
)
def test_a_plugin_that_cannot_load_falls_back_to_junit(
    make_repo: MakeRepo, gate_env: dict[str, str], run: list[str]
) -> None:
    repo = make_repo(FAILS)
    step = GateStep(name="tests", run=run, kind="pytest")
    (result,) = run_gate([step], repo, label="x", env=gate_env).steps
    assert result.status is StepStatus.FAILED
    assert result.note == "selfheal's pytest plugin could not load; ran again with --junitxml"
    assert result.tests_run == 1
    (failure,) = result.failures
    assert (failure.test_id, failure.category, failure.file, failure.line) == (
        "tests/test_f.py::test_f",
        Category.ASSERTION,
        "tests/test_f.py",
        2,
    )
    assert "_selfheal_pytest" not in result.output


def test_the_plugin_is_on_the_pytest_steps_path_only(
    make_repo: MakeRepo, gate_env: dict[str, str], tmp_path: Path
) -> None:
    show = "import os; print(os.environ['PYTHONPATH'])"
    show_test = f"def test_path():\n    {show}\n    assert False\n"
    repo = make_repo({"tests/test_path.py": show_test})
    steps = [GateStep(name="show", run=[sys.executable, "-c", show]), PYTEST]
    shown, tested = run_gate(steps, repo, label="x", env=gate_env).steps
    assert shown.output.strip() == str(repo)
    # The test printed its PYTHONPATH: the repo's code first, the plugin's directory last.
    printed = next(line for line in tested.output.splitlines() if line.startswith(str(repo)))
    first, last = printed.split(os.pathsep)
    assert first == str(repo)
    assert Path(last).name == plugin_dir(tmp_path).name


# --- the file, read alone ------------------------------------------------------------------


def _records(tmp_path: Path, *records: dict[str, object], tail: str = "") -> Path:
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return path


def test_parse_results_missing_or_empty(tmp_path: Path) -> None:
    assert pytest_results.parse_pytest_results(tmp_path / "absent.jsonl") is None
    assert pytest_results.parse_pytest_results(_records(tmp_path)) is None


def test_parse_results_words_errors_as_junit_does(tmp_path: Path) -> None:
    test = {"kind": "test", "nodeid": "t.py::test_x", "file": "t.py", "line": 4, "text": "E"}
    path = _records(
        tmp_path,
        {"kind": "start"},
        {**test, "when": "call", "outcome": "failed", "message": "assert 1 == 2"},
        {**test, "when": "setup", "outcome": "failed", "message": "RuntimeError: x"},
        {"kind": "collect", "nodeid": "c.py", "file": "c.py", "text": "ImportError"},
        {"kind": "end", "exitstatus": 1, "tests_run": 7},
    )
    results = pytest_results.parse_pytest_results(path)
    assert results is not None
    assert (results.tests_run, results.complete) == (7, True)
    call, setup, collect = results.problems
    assert (call.test_id, call.file, call.line, call.message) == (
        "t.py::test_x",
        "t.py",
        5,  # pytest's locations are 0-based
        "assert 1 == 2",
    )
    assert setup.message == 'failed on setup with "RuntimeError: x"'
    assert (collect.test_id, collect.file, collect.collection_error) == (None, "c.py", True)


def test_parse_results_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    test = {"kind": "test", "nodeid": "t.py::test_x", "when": "call", "message": "m", "text": ""}
    path = _records(tmp_path, {"kind": "start"}, test, tail='{"kind": "test", "nodeid": "t.p')
    results = pytest_results.parse_pytest_results(path)
    assert results is not None
    assert (len(results.problems), results.tests_run, results.complete) == (1, None, False)


def test_step_failures_prefers_the_plugin_and_falls_back_to_junit(
    sample: Sample, sample_repo: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(sample("junit_failures.xml"))
    absent = tmp_path / "absent.jsonl"
    run = ProcessResult(argv=("x",), returncode=1, stdout="", stderr="", duration_s=1.0)
    by_junit, tests_run = step_failures(PYTEST, run, junit, sample_repo, results_path=absent)
    assert (len(by_junit), tests_run) == (8, 10)
    results = _records(
        tmp_path,
        {"kind": "start"},
        {"kind": "test", "nodeid": "t.py::t", "when": "call", "message": "assert 0", "text": ""},
        {"kind": "end", "exitstatus": 1, "tests_run": 3},
    )
    (failure,), tests_run = step_failures(PYTEST, run, junit, sample_repo, results_path=results)
    assert (failure.test_id, tests_run) == ("t.py::t", 3)


# --- junit XML, read alone --------------------------------------------------------------


def test_junit_failures(sample: Sample, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(sample("junit_failures.xml"))
    report = pytest_results.parse_junit(path)
    assert report is not None
    assert report.complete
    assert report.tests_run == 10  # 11 cases, one skipped
    ids = [case.node_id() for case in report.problems]
    assert ids == [
        "tests/test_a.py::test_assert",
        "tests/test_a.py::test_type",
        "tests/test_a.py::TestC::test_p[a b]",
        "tests/test_a.py::TestC::test_p[x::y[1]]",
        "tests/test_a.py::test_err",
        "tests/test_a.py::test_fixture_error",
        "tests/test_a.py::test_print",
        "tests/test_a.py::test_xpass",
    ]
    kinds = {case.name: case.kind for case in report.problems}
    assert kinds["test_fixture_error"] == "error"
    assert kinds["test_assert"] == "failure"
    printed = next(c for c in report.problems if c.name == "test_print")
    assert printed.message.startswith("AssertionError: msg with <xml> & stuff")
    assert "hellohello" not in printed.text  # junit_logging=no: captured output stays out


def test_junit_collection_errors(sample: Sample, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(sample("junit_collection.xml"))
    report = pytest_results.parse_junit(path)
    assert report is not None
    assert report.tests_run == 0
    assert all(case.collection_error for case in report.problems)
    assert [case.file for case in report.problems] == [
        "tests/test_coll.py",
        "tests/test_imp.py",
        "tests/test_syn.py",
    ]


def test_junit_missing_or_empty(tmp_path: Path) -> None:
    assert pytest_results.parse_junit(tmp_path / "absent.xml") is None
    empty = tmp_path / "empty.xml"
    empty.write_text("")
    assert pytest_results.parse_junit(empty) is None


def test_junit_truncated_keeps_the_cases_before_the_cut(sample: Sample, tmp_path: Path) -> None:
    text = sample("junit_failures.xml")
    cut = text.index('<testcase classname="tests.test_a" name="test_err"')
    path = tmp_path / "junit.xml"
    path.write_text(text[: cut + 40])
    report = pytest_results.parse_junit(path)
    assert report is not None
    assert not report.complete
    assert [c.name for c in report.problems] == [
        "test_assert",
        "test_type",
        "test_p[a b]",
        "test_p[x::y[1]]",
    ]


@pytest.mark.parametrize(
    ("file", "classname", "name", "expected"),
    [
        ("tests/test_x.py", "tests.test_x", "test_y", "tests/test_x.py::test_y"),
        ("tests/test_x.py", "tests.test_x.TestC", "test_y[1]", "tests/test_x.py::TestC::test_y[1]"),
        ("test_t.py", "test_t.TestA.TestB", "test_y", "test_t.py::TestA::TestB::test_y"),
        # a doctest: the name holds dots of its own
        ("src/pkg/mod.py", "src.pkg.mod", "pkg.mod.func", "src/pkg/mod.py::pkg.mod.func"),
        (None, "tests.test_x.TestC", "test_y", "tests/test_x.py::TestC::test_y"),
    ],
)
def test_junit_node_id(file: str | None, classname: str, name: str, expected: str) -> None:
    assert pytest_results.junit_node_id(file, classname, name) == expected


# --- pytest's terminal output -----------------------------------------------------------


def test_pytest_text_failures_match_their_sections(sample: Sample) -> None:
    found = pytest_results.parse_pytest_text(sample("pytest_failures.txt"))
    by_id = {f.test_id: f for f in found}
    assert set(by_id) == {
        "tests/test_a.py::test_assert",
        "tests/test_a.py::test_type",
        "tests/test_a.py::TestC::test_p[a b]",
        "tests/test_a.py::TestC::test_p[x::y[1]]",
        "tests/test_a.py::test_err",
        "tests/test_a.py::test_print",
        "tests/test_a.py::test_xpass",
        "tests/test_a.py::test_fixture_error",
    }
    param = by_id["tests/test_a.py::TestC::test_p[x::y[1]]"].traceback
    assert param is not None
    assert param.exc_type == "AssertionError"
    setup = by_id["tests/test_a.py::test_fixture_error"].traceback
    assert setup is not None
    assert (setup.exc_type, setup.message) == ("RuntimeError", "fixture broke")


def test_pytest_text_collection_errors(sample: Sample) -> None:
    found = pytest_results.parse_pytest_text(sample("pytest_collection.txt"))
    assert [f.collect_path for f in found] == [
        "tests/test_coll.py",
        "tests/test_imp.py",
        "tests/test_syn.py",
    ]
    types = [f.traceback.exc_type if f.traceback else None for f in found]
    assert types == ["ModuleNotFoundError", "ImportError", "SyntaxError"]


def test_pytest_timeout_thread_output() -> None:
    text = (SAMPLES / "pytest_timeout_thread.txt").read_text()
    assert pytest_results.timeout_banner(text)
    frames = parsers.all_frames(text)
    assert parsers.deepest_in_repo(frames, ["/tmp/tt"]) == ("test_t.py", 3)
    assert pytest_results.last_progress_file(text) == "test_t.py"
    assert not pytest_results.timeout_banner((SAMPLES / "pytest_failures.txt").read_text())
