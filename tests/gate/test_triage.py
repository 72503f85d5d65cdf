"""Triage: classification, signatures, and failures from captured step results."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate import triage
from bot.gate.kinds import step_failures
from bot.gate.triage import classify_exception, signature
from bot.proc import ProcessResult
from bot.report import Category
from tests.gate.conftest import SAMPLES, Sample

REPO_NAMES = frozenset({"pkg", "tests", "conftest"})
PYTEST = GateStep(name="tests", run=["pytest"], kind="pytest")


def result(
    returncode: int | None = 1,
    stdout: str = "",
    stderr: str = "",
    *,
    timed_out: bool = False,
    start_error: str | None = None,
    duration_s: float = 1.0,
) -> ProcessResult:
    return ProcessResult(
        argv=("x",),
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
        duration_s=duration_s,
        timed_out=timed_out,
        start_error=start_error,
    )


# --- classification ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc_type", "message", "expected"),
    [
        ("AssertionError", "assert 3 == 4", Category.ASSERTION),
        ("Failed", "DID NOT RAISE <class 'ValueError'>", Category.ASSERTION),
        ("Failed", "Timeout (>1.0s) from pytest-timeout.", Category.TIMEOUT),
        ("TypeError", "unsupported operand type(s)", Category.TYPE),
        ("SyntaxError", "invalid syntax", Category.SYNTAX),
        ("IndentationError", "unexpected indent", Category.SYNTAX),
        ("TabError", "inconsistent use of tabs", Category.SYNTAX),
        ("ImportError", "cannot import name 'missing' from 'pkg'", Category.IMPORT),
        ("ModuleNotFoundError", "No module named 'pkg.sub'", Category.IMPORT),
        ("ModuleNotFoundError", "No module named 'requests'", Category.DEPENDENCY),
        ("ModuleNotFoundError", "No module named 'yaml.cyaml'", Category.DEPENDENCY),
        ("MemoryError", "", Category.INFRA),
        ("OSError", "[Errno 28] No space left on device", Category.INFRA),
        ("ValueError", "bad value", Category.ERROR),
        ("pkg.errors.Broken", "boom", Category.ERROR),
        ("", "", Category.ERROR),
    ],
)
def test_classify_exception(exc_type: str, message: str, expected: Category) -> None:
    assert classify_exception(exc_type, message, REPO_NAMES) is expected


def test_repo_top_names_sees_flat_and_src_layouts(tmp_path: Path) -> None:
    (tmp_path / "src" / "lib_a").mkdir(parents=True)
    (tmp_path / "src" / "lib_a" / "__init__.py").write_text("")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "mod.py").write_text("")  # a namespace package
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("")
    (tmp_path / "setup.py").write_text("")
    (tmp_path / ".hidden.py").write_text("")
    assert triage.repo_top_names(tmp_path) == {"lib_a", "flat", "setup"}


# --- signatures -------------------------------------------------------------------------


def test_normalize_message_removes_what_changes_between_runs() -> None:
    one = (
        "assert <object object at 0x7f3a2b1c9d80> in PosixPath('/tmp/pytest-of-ci/pytest-7/"
        "test_x0/out') after 0.12s (tests/test_a.py:17, line 17) in 3.4 seconds"
    )
    two = (
        "assert <object object at 0x7f99aa001230> in PosixPath('/tmp/pytest-of-ci/pytest-8/"
        "test_x1/out') after 1.5s (tests/test_a.py:21, line 21) in 12 seconds"
    )
    assert triage.normalize_message(one) == triage.normalize_message(two)
    mac = "/private/var/folders/x1/abc/T/pytest-of-me/pytest-3/test_y0/f.txt missing"
    assert triage.normalize_message(mac) == "<tmp> missing"


def test_signature_is_stable_and_tells_failures_apart() -> None:
    base = signature("tests", Category.ASSERTION, "t.py::test_a", "assert 1 == 2 at 0x7f00")
    assert base == signature("tests", Category.ASSERTION, "t.py::test_a", "assert 1 == 2 at 0x7f11")
    assert len(base) == 16
    assert int(base, 16) >= 0
    assert base != signature("tests", Category.ASSERTION, "t.py::test_b", "assert 1 == 2 at 0x7f00")
    assert base != signature("tests", Category.ASSERTION, "t.py::test_a", "assert 1 == 3 at 0x7f00")
    assert base != signature("lint", Category.ASSERTION, "t.py::test_a", "assert 1 == 2 at 0x7f00")
    assert base != signature("tests", Category.ERROR, "t.py::test_a", "assert 1 == 2 at 0x7f00")


def test_one_line_and_tail() -> None:
    assert triage.one_line("\n\n  first  \nsecond") == "first"
    assert len(triage.one_line("x" * 1000)) == 300
    text = "\n".join(f"line {i}" for i in range(1000))
    cut = triage.tail(text)
    assert len(cut) <= 1500
    assert cut.endswith("line 999")
    assert cut.startswith("…\nline ")  # starts on a whole line


# --- pytest -----------------------------------------------------------------------------


def _junit(sample: Sample, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_text(sample(name))
    return path


def test_pytest_failures_from_junit(sample: Sample, sample_repo: Path, tmp_path: Path) -> None:
    junit = _junit(sample, tmp_path, "junit_failures.xml")
    failures, tests_run = step_failures(
        PYTEST, result(1, sample("pytest_failures.txt")), junit, sample_repo
    )
    assert tests_run == 10
    by_id = {f.test_id: f for f in failures}
    assert len(by_id) == 8

    typed = by_id["tests/test_a.py::test_type"]
    assert typed.category is Category.TYPE
    assert (typed.file, typed.line, typed.rule) == ("src/pkg/__init__.py", 2, "TypeError")
    assert typed.message == "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert typed.excerpt.endswith("src/pkg/__init__.py:2: TypeError")

    plain = by_id["tests/test_a.py::test_assert"]
    assert plain.category is Category.ASSERTION
    assert (plain.file, plain.line, plain.message) == ("tests/test_a.py", 9, "assert 3 == 4")

    err = by_id["tests/test_a.py::test_err"]
    assert err.category is Category.ERROR
    assert (err.file, err.line) == ("src/pkg/__init__.py", 5)

    setup = by_id["tests/test_a.py::test_fixture_error"]
    assert setup.category is Category.ERROR
    assert setup.rule == "RuntimeError"

    xpass = by_id["tests/test_a.py::test_xpass"]
    assert xpass.category is Category.ASSERTION
    assert (xpass.file, xpass.line) == ("tests/test_a.py", 36)  # xunit1 lines are 0-based

    assert all(f.step == "tests" and not f.fixable for f in failures)
    assert all(len(f.excerpt) <= 1500 and len(f.message) <= 300 for f in failures)
    assert len({f.signature for f in failures}) == len(failures)


def test_pytest_collection_errors_from_junit(
    sample: Sample, sample_repo: Path, tmp_path: Path
) -> None:
    junit = _junit(sample, tmp_path, "junit_collection.xml")
    failures, tests_run = step_failures(
        PYTEST, result(2, sample("pytest_collection.txt")), junit, sample_repo
    )
    assert tests_run == 0
    got = [(f.category, f.file, f.line, f.rule, f.test_id) for f in failures]
    assert got == [
        (Category.DEPENDENCY, "tests/test_coll.py", 1, "ModuleNotFoundError", None),
        (Category.IMPORT, "tests/test_imp.py", 1, "ImportError", None),
        (Category.SYNTAX, "tests/test_syn.py", 1, "SyntaxError", None),
    ]
    assert failures[0].message == "ModuleNotFoundError: No module named 'nonexistent_mod'"
    # The repo's absolute path never reaches a message.
    assert failures[1].message == (
        "ImportError: cannot import name 'missing_name' from 'pkg' (src/pkg/__init__.py)"
    )
    assert str(sample_repo) not in failures[1].excerpt


def test_pytest_timeout_plugin_failure_is_timeout(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text((SAMPLES / "junit_timeout.xml").read_text())
    failures, _ = step_failures(PYTEST, result(1), junit, tmp_path)
    (failure,) = failures
    assert failure.category is Category.TIMEOUT
    assert failure.test_id == "test_t.py::test_slow"
    assert failure.message == "Failed: Timeout (>1.0s) from pytest-timeout."


def test_pytest_without_junit_reads_the_text(sample: Sample, sample_repo: Path) -> None:
    failures, tests_run = step_failures(
        PYTEST, result(1, sample("pytest_failures.txt")), None, sample_repo
    )
    assert tests_run is None
    by_id = {f.test_id: f for f in failures}
    assert by_id["tests/test_a.py::test_type"].category is Category.TYPE
    assert by_id["tests/test_a.py::test_type"].file == "src/pkg/__init__.py"
    assert by_id["tests/test_a.py::test_assert"].category is Category.ASSERTION
    assert by_id["tests/test_a.py::test_xpass"].category is Category.ASSERTION


def test_conftest_import_error_exit_4(sample: Sample, sample_repo: Path) -> None:
    failures, _ = step_failures(
        PYTEST, result(4, "", sample("pytest_conftest_error.txt")), None, sample_repo
    )
    (failure,) = failures
    assert failure.category is Category.DEPENDENCY
    assert (failure.file, failure.line) == ("tests/conftest.py", 1)


def test_pytest_timeout_thread_method_kills_the_run(tmp_path: Path) -> None:
    text = (SAMPLES / "pytest_timeout_thread.txt").read_text()
    failures, _ = step_failures(PYTEST, result(1, text), None, Path("/tmp/tt"))
    (failure,) = failures
    assert failure.category is Category.TIMEOUT
    assert (failure.file, failure.line) == ("test_t.py", 3)


def test_pytest_exit_5_is_no_evidence(tmp_path: Path) -> None:
    # It used to count as passed; nothing was collected, so nothing is shown to work.
    (failure,), tests_run = step_failures(PYTEST, result(5, "no tests ran"), None, tmp_path)
    assert tests_run is None
    assert (failure.category, failure.rule) == (Category.INFRA, "no-evidence")
    assert failure.message == "no tests were collected (pytest exit code 5)"


# --- other kinds, and processes that went wrong -----------------------------------------


def test_ruff_failures(sample_repo: Path, sample: Sample) -> None:
    step = GateStep(name="lint", run=["ruff", "check", "."], kind="ruff")
    failures, _ = step_failures(step, result(1, sample("ruff_0.17.json")), None, sample_repo)
    assert len(failures) == 10
    f401 = next(f for f in failures if f.rule == "F401" and f.file == "tests/test_a.py")
    assert (f401.category, f401.line, f401.fixable) == (Category.LINT, 1, True)
    assert f401.excerpt == "tests/test_a.py:1:8: F401 `time` imported but unused"
    syntax = [f for f in failures if f.category is Category.SYNTAX]
    assert {f.rule for f in syntax} == {"invalid-syntax"}
    assert not any(f.fixable for f in syntax)


def test_ruff_format_failures(sample_repo: Path, sample: Sample) -> None:
    step = GateStep(name="format", run=["ruff", "format", "--check", "."], kind="ruff-format")
    failures, _ = step_failures(step, result(1, sample("ruff_format_0.6.txt")), None, sample_repo)
    formats = [f for f in failures if f.category is Category.FORMAT]
    assert len(formats) == 4
    assert all(f.fixable and f.rule == "unformatted" for f in formats)
    (syntax,) = [f for f in failures if f.category is Category.SYNTAX]
    assert (syntax.file, syntax.line, syntax.fixable) == ("tests/test_syn.py", 1, False)


def test_ruff_that_could_not_run_is_an_error(tmp_path: Path) -> None:
    step = GateStep(name="lint", run=["ruff", "check", "."], kind="ruff")
    text = "ruff failed\n  Cause: Failed to parse ruff.toml\n"
    (failure,) = step_failures(step, result(2, "", text), None, tmp_path)[0]
    assert failure.category is Category.ERROR
    assert "Cause: Failed to parse ruff.toml" in failure.excerpt


def test_command_with_a_traceback(tmp_path: Path) -> None:
    step = GateStep(name="script", run=["python", "main.py"], kind="command")
    text = f"""Traceback (most recent call last):
  File "{tmp_path}/main.py", line 3, in <module>
    import yaml
ModuleNotFoundError: No module named 'yaml'
"""
    (failure,) = step_failures(step, result(1, "", text), None, tmp_path)[0]
    assert failure.category is Category.DEPENDENCY
    assert (failure.file, failure.line) == ("main.py", 3)


def test_command_with_unrecognized_output(tmp_path: Path) -> None:
    step = GateStep(name="types", run=["mypy", "src"], kind="command")
    out = "src/a.py:3: error: Incompatible return value\nFound 1 error in 1 file\n"
    (failure,) = step_failures(step, result(1, out), None, tmp_path)[0]
    assert failure.category is Category.ERROR
    assert failure.message == "types failed with exit code 1"
    assert failure.excerpt.endswith("Found 1 error in 1 file")
    other = step_failures(step, result(1, out.replace("1 error", "2 errors")), None, tmp_path)
    assert other[0][0].signature != failure.signature  # progress is not "stuck"


def test_process_that_could_not_start_is_infra(tmp_path: Path) -> None:
    step = GateStep(name="tool", run=["no-such-tool"], kind="command")
    broken = result(
        None, "", "could not start no-such-tool: No such file", start_error="No such file"
    )
    (failure,) = step_failures(step, broken, None, tmp_path)[0]
    assert failure.category is Category.INFRA
    assert failure.message == "could not start no-such-tool: No such file"
    (missing,) = step_failures(step, result(127, "", "sh: tool: not found"), None, tmp_path)[0]
    assert missing.category is Category.INFRA


def test_timed_out_process(tmp_path: Path) -> None:
    killed = result(None, "tests/test_slow.py ", timed_out=True, duration_s=2.04)
    failures, tests_run = step_failures(PYTEST, killed, tmp_path / "none.xml", tmp_path)
    (failure,) = failures
    assert tests_run is None
    assert failure.category is Category.TIMEOUT
    assert failure.message == "tests did not finish and was killed after 2 s"
    assert failure.file == "tests/test_slow.py"
