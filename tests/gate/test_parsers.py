"""Parsers, on output captured from real ruff and pytest runs (see samples/README.md)."""

from __future__ import annotations

import re

import pytest

from bot.gate import parsers
from bot.gate.parsers import Frame
from tests.gate.conftest import SAMPLES, Sample

ROOTS = ("/tmp/sample",)


# --- locations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_a.py", "tests/test_a.py"),
        ("./src/pkg/../pkg/mod.py", "src/pkg/mod.py"),
        ("/tmp/sample/src/pkg/mod.py", "src/pkg/mod.py"),
        ("/tmp/samples/other.py", None),  # a sibling directory, not the repo
        ("/usr/lib/python3.11/importlib/__init__.py", None),
        ("/tmp/sample/.venv/lib/python3.11/site-packages/_pytest/python.py", None),
        ("../elsewhere/x.py", None),
        ("<frozen importlib._bootstrap>", None),
    ],
)
def test_repo_relative_keeps_only_the_repos_own_files(path: str, expected: str | None) -> None:
    assert parsers.repo_relative(path, ROOTS) == expected


def test_deepest_in_repo_skips_installed_frames_after_it() -> None:
    frames = [
        Frame("tests/test_a.py", 12),
        Frame("/tmp/sample/src/pkg/__init__.py", 2),
        Frame("/tmp/sample/.venv/lib/python3.11/site-packages/requests/api.py", 59),
    ]
    assert parsers.deepest_in_repo(frames, ROOTS) == ("src/pkg/__init__.py", 2)
    assert parsers.deepest_in_repo(frames[2:], ROOTS) is None


# --- tracebacks -------------------------------------------------------------------------

STANDARD = """\
Traceback (most recent call last):
  File "/tmp/sample/main.py", line 4, in <module>
    run()
  File "/tmp/sample/src/pkg/core.py", line 10, in run
    return json.loads(raw)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""

CHAINED = """\
Traceback (most recent call last):
  File "/tmp/sample/a.py", line 2, in <module>
    {}["k"]
KeyError: 'k'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/tmp/sample/a.py", line 4, in <module>
    raise RuntimeError("wrapped")
RuntimeError: wrapped
"""

SYNTAX = """\
Traceback (most recent call last):
  File "/tmp/sample/main.py", line 1, in <module>
    import bad
  File "/tmp/sample/bad.py", line 3
    def f(:
          ^
SyntaxError: invalid syntax
"""


def test_standard_traceback_gives_type_message_and_frames() -> None:
    tb = parsers.parse_traceback(STANDARD)
    assert tb is not None
    assert tb.exc_type == "json.decoder.JSONDecodeError"
    assert tb.message == "Expecting value: line 1 column 1 (char 0)"
    assert parsers.deepest_in_repo(tb.frames, ROOTS) == ("src/pkg/core.py", 10)


def test_chained_traceback_reports_the_last_exception_and_its_own_frames() -> None:
    tb = parsers.parse_traceback(CHAINED)
    assert tb is not None
    assert (tb.exc_type, tb.message) == ("RuntimeError", "wrapped")
    assert tb.frames == [Frame("/tmp/sample/a.py", 4)]


def test_syntax_error_frame_has_no_function_name() -> None:
    tb = parsers.parse_traceback(SYNTAX)
    assert tb is not None
    assert tb.exc_type == "SyntaxError"
    assert parsers.deepest_in_repo(tb.frames, ROOTS) == ("bad.py", 3)


def test_text_without_a_traceback_gives_none() -> None:
    assert parsers.parse_traceback("Found 3 errors in 2 files (checked 9 source files)\n") is None
    assert parsers.parse_traceback("") is None


def _section(text: str, title: str) -> str:
    """The body of pytest's "____ title ____" section."""
    lines = text.splitlines()
    start = next(
        i for i, line in enumerate(lines) if re.fullmatch(rf"_+ {re.escape(title)} _+", line)
    )
    end = next(i for i in range(start + 1, len(lines)) if re.match(r"(_{5,} \S|={5,})", lines[i]))
    return "\n".join(lines[start + 1 : end])


def test_pytest_longrepr_across_two_frames(sample: Sample) -> None:
    section = _section(sample("pytest_failures.txt"), "test_type")
    tb = parsers.parse_traceback(section)
    assert tb is not None
    assert tb.exc_type == "TypeError"
    assert tb.message == "unsupported operand type(s) for +: 'int' and 'str'"
    assert [f.path for f in tb.frames] == ["tests/test_a.py", "src/pkg/__init__.py"]


def test_pytest_plain_assert_takes_its_type_from_the_crash_line(sample: Sample) -> None:
    section = _section(sample("pytest_failures.txt"), "test_assert")
    tb = parsers.parse_traceback(section)
    assert tb is not None
    assert (tb.exc_type, tb.message) == ("AssertionError", "assert 3 == 4")


def test_conftest_import_error_in_pytest_form(sample: Sample) -> None:
    tb = parsers.parse_traceback(sample("pytest_conftest_error.txt"))
    assert tb is not None
    assert (tb.exc_type, tb.message) == ("ModuleNotFoundError", "No module named 'foo_missing_dep'")
    assert tb.frames == [Frame("tests/conftest.py", 1)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TypeError: unsupported operand", ("TypeError", "unsupported operand")),
        (
            "Failed: Timeout (>1.0s) from pytest-timeout.",
            ("Failed", "Timeout (>1.0s) from pytest-timeout."),
        ),
        (
            "assert 3 == 4\n +  where 3 = add(1, 2)",
            (None, "assert 3 == 4\n +  where 3 = add(1, 2)"),
        ),
        ("Expected: 3", (None, "Expected: 3")),  # a message, not an exception name
    ],
)
def test_split_exception(text: str, expected: tuple[str | None, str]) -> None:
    assert parsers.split_exception(text) == expected


# --- ruff -------------------------------------------------------------------------------


def test_ruff_json_current_version() -> None:
    found = parsers.parse_ruff_json((SAMPLES / "ruff_0.17.json").read_text(), ROOTS)
    assert found is not None
    by_code = {(d.path, d.code): d for d in found}
    unused = by_code["tests/test_a.py", "F401"]
    assert (unused.line, unused.column, unused.fixable) == (1, 8, True)
    assert unused.message == "`time` imported but unused"
    assert not by_code["src/pkg/util.py", "F841"].fixable  # an unsafe fix only
    syntax = [d for d in found if d.syntax_error]
    assert {d.code for d in syntax} == {"invalid-syntax"}
    assert {d.path for d in syntax} == {"tests/test_syn.py"}


def test_ruff_json_old_version_reports_syntax_errors_without_a_code() -> None:
    found = parsers.parse_ruff_json((SAMPLES / "ruff_0.6.json").read_text(), ROOTS)
    assert found is not None
    syntax = [d for d in found if d.syntax_error]
    assert len(syntax) == 2
    assert all(d.code is None and d.message.startswith("SyntaxError:") for d in syntax)


def test_ruff_rendering_matches_ruffs_own_concise_output() -> None:
    found = parsers.parse_ruff_json((SAMPLES / "ruff_0.17.json").read_text(), ROOTS)
    assert found is not None
    expected = (SAMPLES / "ruff_0.17_concise.txt").read_text()
    assert parsers.render_ruff_concise(found) == expected


def test_ruff_rendering_of_a_clean_run() -> None:
    assert parsers.parse_ruff_json("[]", ROOTS) == []
    assert parsers.render_ruff_concise([]) == "All checks passed!\n"


def test_ruff_json_cut_short_keeps_the_diagnostics_before_the_cut() -> None:
    text = (SAMPLES / "ruff_0.17.json").read_text()
    cut = text[: len(text) // 2] + "\n[... 3000 bytes cut by selfheal ...]\n" + text[-200:]
    found = parsers.parse_ruff_json(cut, ROOTS)
    assert found is not None
    assert 0 < len(found) < 10
    assert found[0].code == "F841"


def test_ruff_json_absent() -> None:
    assert parsers.parse_ruff_json("", ROOTS) is None
    assert parsers.parse_ruff_json("ruff failed\n  Cause: bad toml\n", ROOTS) is None


@pytest.mark.parametrize(
    "name", ["ruff_format_0.17.txt", "ruff_format_0.6.txt", "ruff_format_0.17_concise.txt"]
)
def test_ruff_format_check_in_every_output_style(name: str) -> None:
    problems = parsers.parse_ruff_format((SAMPLES / name).read_text(), ROOTS)
    reformat = sorted(p.path for p in problems if not p.syntax_error)
    assert reformat == [
        "src/pkg/__init__.py",
        "tests/test_a.py",
        "tests/test_coll.py",
        "tests/test_imp.py",
    ]
    (syntax,) = [p for p in problems if p.syntax_error]
    assert (syntax.path, syntax.line) == ("tests/test_syn.py", 1)
    assert syntax.message == "Expected a parameter or the end of the parameter list"


def test_ruff_format_diff_output() -> None:
    text = "--- src/pkg/__init__.py\n+++ src/pkg/__init__.py\n@@ -1,2 +1,4 @@\n-x=1\n+x = 1\n"
    (problem,) = parsers.parse_ruff_format(text, ROOTS)
    assert (problem.path, problem.syntax_error) == ("src/pkg/__init__.py", False)
