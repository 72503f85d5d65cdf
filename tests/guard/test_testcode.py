"""The syntax-tree comparison of one test module: each rule with several spellings of the cheat,
and the ordinary edits that must pass."""

from __future__ import annotations

import ast
import textwrap

import pytest

from bot.guard.testcode import Findings, compare, is_test_code, is_test_file

BASE = """\
import unittest

import pytest
from calc.ops import clamp


def test_inside():
    assert clamp(5, 0, 10) == 5


def test_raises():
    with pytest.raises(ValueError):
        clamp(1, 2, 0)


class TestEdges:
    def test_below(self):
        assert clamp(-1, 0, 10) == 0


class CalcCase(unittest.TestCase):
    def test_above(self):
        self.assertEqual(clamp(11, 0, 10), 10)
"""
INSIDE = "    assert clamp(5, 0, 10) == 5\n"
PATH = "tests/test_ops.py"


def check(after: str, mode: str = "heal", before: str = BASE) -> Findings:
    return compare(PATH, ast.parse(before), ast.parse(textwrap.dedent(after)), mode)  # type: ignore[arg-type]


def body(lines: str) -> str:
    """BASE with test_inside's body replaced by `lines` (indented by the caller)."""
    return BASE.replace(INSIDE, lines)


def decorate(decorator: str, imports: str = "") -> str:
    return imports + BASE.replace("def test_inside", f"{decorator}\ndef test_inside")


def weakened(after: str, words: str) -> None:
    """Refused in both modes, with `words` in one of the findings."""
    for mode in ("heal", "implement"):
        found = check(after, mode)
        assert any(words in text for text in found.weakening), (mode, found)


# --- every existing test still exists and is still collected -----------------------------

GONE = {
    "deleted": BASE.replace("def test_inside():\n" + INSIDE, ""),
    "renamed out of collection": BASE.replace("def test_inside", "def check_inside"),
    "underscored": BASE.replace("def test_inside", "def _test_inside"),
    "moved under a non-test class": BASE.replace("class TestEdges", "class Edges"),
    "class given an __init__": BASE.replace(
        "class TestEdges:\n", "class TestEdges:\n    def __init__(self):\n        pass\n\n"
    ),
    "class opted out": BASE.replace(
        "class TestEdges:\n", "class TestEdges:\n    __test__ = False\n"
    ),
    "function opted out": BASE + "\ntest_inside.__test__ = False\n",
    "rebound to a non-function": BASE + "\ntest_inside = None\n",
    "deleted by name": BASE + "\ndel test_inside\n",
    "unittest base dropped": BASE.replace("class CalcCase(unittest.TestCase)", "class CalcCase"),
}


@pytest.mark.parametrize("after", GONE.values(), ids=GONE.keys())
def test_a_test_that_is_gone_or_not_collected_is_refused(after: str) -> None:
    weakened(after, "is gone or no longer collected by pytest")


def test_a_test_redefined_under_its_own_name_is_refused() -> None:
    weakened(BASE + "\n\ndef test_inside():\n    pass\n", "test_inside is defined 2 times")
    twice = BASE.replace(
        "    def test_below(self):",
        "    def test_below(self):\n        pass\n\n    def test_below(self):",
    )
    weakened(twice, "TestEdges::test_below is defined 2 times")


def test_a_test_turned_into_a_class_is_refused() -> None:
    after = BASE.replace("def test_inside():\n" + INSIDE, "class test_inside:\n    pass\n")
    weakened(after, "test_inside is gone or no longer collected")


# --- no new skip, xfail or exit, by any name ----------------------------------------------

SKIPS = {
    "pytest.mark.skip": decorate("@pytest.mark.skip"),
    "aliased module": decorate("@p.mark.skipif(True, reason='x')", "import pytest as p\n"),
    "aliased mark": decorate("@m.xfail", "from pytest import mark as m\n"),
    "aliased function": body("    s('later')\n" + INSIDE).replace(
        "import pytest\n", "import pytest\nfrom pytest import skip as s\n"
    ),
    "alias of an alias": body("    later()\n" + INSIDE).replace(
        "import pytest\n", "import pytest\nlater = pytest.skip\n"
    ),
    "getattr": body("    getattr(pytest, 'xfail')('x')\n" + INSIDE),
    "__import__": body("    __import__('pytest').skip('x')\n" + INSIDE),
    "unittest decorator": decorate("@sk('x')", "from unittest import skip as sk\n"),
    "unittest expectedFailure": decorate("@unittest.expectedFailure", "import unittest\n"),
    "raise unittest.SkipTest": body("    raise unittest.SkipTest('x')\n" + INSIDE),
    "raise imported SkipTest": body("    raise SkipTest('x')\n" + INSIDE).replace(
        "import pytest\n", "import pytest\nfrom unittest import SkipTest\n"
    ),
    "importorskip": body("    pytest.importorskip('nothing_here')\n" + INSIDE),
    "module pytestmark": BASE + "\npytestmark = pytest.mark.skip\n",
    "class pytestmark": BASE.replace(
        "class TestEdges:\n", "class TestEdges:\n    pytestmark = [pytest.mark.xfail]\n"
    ),
    "skipTest": BASE.replace(
        "        self.assertEqual", "        self.skipTest('x')\n        self.assertEqual"
    ),
    "pytest.exit": body("    pytest.exit('done', returncode=0)\n" + INSIDE),
    "sys.exit at import": "import sys\n" + BASE + "\nsys.exit(0)\n",
    "os._exit aliased": "from os import _exit as bye\n" + body("    bye(0)\n" + INSIDE),
    "builtin exit": body("    exit(0)\n" + INSIDE),
    "raise SystemExit": body("    raise SystemExit(0)\n" + INSIDE),
}


@pytest.mark.parametrize("after", SKIPS.values(), ids=SKIPS.keys())
def test_a_new_skip_xfail_or_exit_is_refused_by_any_name(after: str) -> None:
    for mode in ("heal", "implement"):
        found = check(after, mode)
        assert any("adds a skip, xfail or exit" in t for t in found.weakening), (mode, found)


def test_a_skip_kept_or_moved_is_fine() -> None:
    base = decorate("@pytest.mark.skip(reason='slow')")
    moved = base.replace("reason='slow'", "reason='slow, see #12'")
    assert check(moved, before=base).weakening == []
    assert check(BASE, before=base).weakening == []  # removing a skip is fine


def test_implementing_a_new_test_may_skip_itself() -> None:
    new = (
        BASE
        + "\n\n@pytest.mark.skipif(True, reason='posix only')\ndef test_new():\n    assert 1 + 1 == 2\n"
    )
    assert check(new, "implement").weakening == []
    assert any("adds a skip" in t for t in check(new, "heal").weakening)
    param = new.replace(
        "@pytest.mark.skipif(True, reason='posix only')",
        "@pytest.mark.parametrize('x', [pytest.param(1, marks=pytest.mark.skip)])",
    )
    assert check(param, "implement").weakening == []
    assert any("(pytest.mark.skip)" in t for t in check(param, "heal").weakening)


# --- no early exit --------------------------------------------------------------------------

EXITS = {
    "return first": body("    return\n" + INSIDE),
    "if True: return": body("    if True:\n        return\n" + INSIDE),
    "return in a branch": body("    if clamp(0, 0, 1) == 0:\n        return\n" + INSIDE),
    "raise first": body("    raise RuntimeError('stop')\n" + INSIDE),
    "method returns": BASE.replace(
        "        assert clamp(-1", "        return\n        assert clamp(-1"
    ),
}


@pytest.mark.parametrize("after", EXITS.values(), ids=EXITS.keys())
def test_a_new_early_return_or_raise_is_refused(after: str) -> None:
    weakened(after, "gets a new early return or raise")


def test_a_raise_the_test_expects_is_not_an_early_exit() -> None:
    after = BASE.replace(
        "        clamp(1, 2, 0)\n", "        clamp(1, 2, 0)\n        raise ValueError\n"
    )
    assert check(after, "implement").weakening == []


def test_a_new_test_that_returns_before_its_assertions_is_refused() -> None:
    weakened(
        BASE + "\n\ndef test_new():\n    return\n    assert clamp(1, 0, 2) == 1\n",
        "test_new returns or raises before its assertions",
    )
    weakened(
        BASE
        + "\n\ndef test_new():\n    if True:\n        raise SystemError\n        assert clamp(1, 0, 2) == 1\n",
        "returns or raises before",
    )


SWALLOWED = {
    "except AssertionError": body(
        "    try:\n    " + INSIDE + "    except AssertionError:\n        pass\n"
    ),
    "bare except": body("    try:\n    " + INSIDE + "    except:\n        pass\n"),
    "except Exception tuple": body(
        "    try:\n    " + INSIDE + "    except (ValueError, Exception):\n        pass\n"
    ),
    "contextlib.suppress": "import contextlib\n"
    + body("    with contextlib.suppress(AssertionError):\n    " + INSIDE),
}


@pytest.mark.parametrize("after", SWALLOWED.values(), ids=SWALLOWED.keys())
def test_catching_the_tests_own_assertion_errors_is_refused(after: str) -> None:
    weakened(after, "catches its own assertion errors")


# --- no assertion that cannot fail, none removed ------------------------------------------

CONSTANT = {
    "assert True": "assert True",
    "assert 1": "assert 1",
    "assert a string": "assert 'clamp works'",
    "assert a tuple": "assert (clamp(5, 0, 10) == 5, 'message')",
    "assert a list": "assert [clamp(5, 0, 10)]",
    "same sides": "assert clamp(5, 0, 10) == clamp(5, 0, 10)",
    "or True": "assert clamp(5, 0, 10) == 5 or True",
    "not None": "assert not None",
    "isinstance object": "assert isinstance(clamp(5, 0, 10), object)",
    "literal comparison": "assert 5 == 5",
    "f-string": "assert f'{clamp(5, 0, 10)} ok'",
    "bool of a constant": "assert bool('x')",
    "and of truths": "assert 1 and (2,)",
    "if-else both true": "assert 1 if clamp(5, 0, 10) else 2",
    "walrus": "assert (x := 1)",
}


@pytest.mark.parametrize("assertion", CONSTANT.values(), ids=CONSTANT.keys())
def test_an_assertion_that_cannot_fail_is_refused(assertion: str) -> None:
    weakened(body(f"    {assertion}\n"), "adds an assertion that cannot fail")


UNITTEST_CONSTANT = {
    "assertTrue(True)": "self.assertTrue(True)",
    "assertTrue(1)": "self.assertTrue(1)",
    "assertFalse(0)": "self.assertFalse(0)",
    "assertEqual same": "self.assertEqual(clamp(11, 0, 10), clamp(11, 0, 10))",
    "assertEqual literals": "self.assertEqual(10, 10)",
    "assertIsNone(None)": "self.assertIsNone(None)",
    "assertIsInstance object": "self.assertIsInstance(clamp(11, 0, 10), object)",
}


@pytest.mark.parametrize("call", UNITTEST_CONSTANT.values(), ids=UNITTEST_CONSTANT.keys())
def test_a_unittest_assertion_that_cannot_fail_is_refused(call: str) -> None:
    after = BASE.replace("self.assertEqual(clamp(11, 0, 10), 10)", call)
    weakened(after, "adds an assertion that cannot fail")


CAN_FAIL = [
    "assert clamp(5, 0, 10)",
    "assert clamp(5, 0, 10) == 5 and True",
    "assert not clamp(5, 0, 10) != 5",
    "assert clamp(5, 0, 10) is not None",
    "assert clamp(5, 0, 10) in [5]",
    "assert isinstance(clamp(5, 0, 10), int)",
    "assert clamp(5, 0, 10) != clamp(5, 0, 10)",
    "assert 1 == 2",
]


@pytest.mark.parametrize("assertion", CAN_FAIL)
def test_assertions_that_can_fail_pass(assertion: str) -> None:
    found = check(body(f"    {assertion}\n"), "implement")
    assert not any("cannot fail" in t for t in found.weakening), found


def test_removing_an_assertion_is_refused() -> None:
    weakened(body("    clamp(5, 0, 10)\n"), "test_inside loses 1 assertion(s)")
    weakened(
        BASE.replace("    with pytest.raises(ValueError):\n", "    if True:\n"),
        "test_raises loses 1",
    )
    weakened(
        BASE.replace("self.assertEqual(clamp(11, 0, 10), 10)", "clamp(11, 0, 10)"),
        "removes 1 assertion(s)",
    )


def test_a_deleted_helper_module_loses_its_assertions() -> None:
    found = compare("tests/helpers.py", ast.parse("def check(x):\n    assert x\n"), None, "heal")
    assert found.weakening == ["tests/helpers.py: removes 1 assertion(s)"]


# --- when healing, expected values and decorators are the specification -----------------

SPEC = {
    "expected value": (
        body("    assert clamp(5, 0, 10) == 6\n"),
        "changes what test_inside asserts",
    ),
    "compared differently": (
        body("    assert clamp(5, 0, 10) >= 5\n"),
        "changes what test_inside asserts",
    ),
    "unittest expected value": (
        BASE.replace("clamp(11, 0, 10), 10)", "clamp(11, 0, 10), 11)"),
        "changes what CalcCase::test_above asserts",
    ),
    "expected exception": (
        BASE.replace("pytest.raises(ValueError)", "pytest.raises(Exception)"),
        "changes what test_raises asserts",
    ),
    "new parametrize": (
        decorate("@pytest.mark.parametrize('n', [])").replace(
            "def test_inside():", "def test_inside(n):"
        ),
        "changes the decorators of test_inside",
    ),
}


@pytest.mark.parametrize(("after", "words"), SPEC.values(), ids=SPEC.keys())
def test_changed_expectations_are_a_spec_change_when_healing(after: str, words: str) -> None:
    found = check(after, "heal")
    assert found.weakening == []
    assert any(words in text for text in found.spec), found


# --- ordinary edits ---------------------------------------------------------------------------


def test_ordinary_edits_are_listed_not_refused() -> None:
    after = body("    low = 0\n    assert clamp(5, low, 10) == 5\n").replace(
        "\n\ndef test_raises",
        "\n\ndef test_new():\n    assert clamp(2, 0, 1) == 1\n\n\ndef test_raises",
    )
    found = check(after, "heal")
    assert found.weakening == []
    assert found.listed == [f"{PATH}: adds test_new", f"{PATH}: changes test_inside"]
    unchanged = check(BASE + "\n# a comment\n", "heal")
    assert unchanged == Findings()


def test_a_new_test_module_is_checked_against_nothing() -> None:
    new = "import pytest\n\n\ndef test_new():\n    assert 1\n"
    found = compare(PATH, None, ast.parse(new), "implement")
    assert found.weakening == [f"{PATH}: adds an assertion that cannot fail (`assert 1`)"]


@pytest.mark.parametrize(
    ("path", "test_file", "test_code"),
    [
        ("tests/test_a.py", True, True),
        ("pkg/a_test.py", True, True),
        ("tests/helpers.py", False, True),
        ("conftest.py", False, True),
        ("src/testing/util.py", False, True),
        ("pkg/tests.py", False, False),
        ("tests/data.json", False, False),
    ],
)
def test_which_files_are_tests(path: str, test_file: bool, test_code: bool) -> None:
    assert is_test_file(path) is test_file
    assert is_test_code(path) is test_code
