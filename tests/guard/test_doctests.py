"""Doctests in a project's own modules and text files are tests: each way of weakening one is
refused with a line naming the file, the docstring's owner and what changed; honest code
changes next to them, new examples and reformatting pass."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.guard.docexamples import Unreadable, module_doctests, text_doctests
from bot.guard.doctests import compare_doctests, is_doctest_module, is_doctest_text
from bot.guard.testcode import Findings
from tests.conftest import MakeRepo
from tests.guard.guarded import guard, refused

PATH = "jaraco/classes/properties.py"
OWNER = f"{PATH}::NonDataProperty"
# Shaped like jaraco.classes' properties module, whose doctests the field trials' cheats skipped.
MODULE = '''\
"""Properties.

>>> NonDataProperty.__name__
'NonDataProperty'
"""

import functools


class NonDataProperty:
    """Much like the property builtin, but only implements __get__.

    >>> class X:
    ...     @NonDataProperty
    ...     def foo(self):
    ...         return 3
    >>> x = X()
    >>> x.foo
    3
    >>> x.foo = 4
    >>> x.foo
    4
    """

    def __init__(self, fget):
        self.fget = fget

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return self.fget(obj)

    def check(self, value):
        """
        >>> NonDataProperty(None).check(-1)
        Traceback (most recent call last):
        ValueError: negative
        """
        if value < 0:
            raise ValueError("negative")


def clamp(value, low, high):
    """Keep value between low and high.

    >>> clamp(5, 0, 10)
    5
    >>> clamp(-3, 0, 10)
    0
    """
    return max(low, min(value, high))
'''
CLAMP_EXAMPLE = "    >>> clamp(5, 0, 10)\n    5\n"


def check(after: str, mode: str = "heal", before: str = MODULE) -> Findings:
    return compare_doctests(
        PATH,
        module_doctests(before.encode()),
        module_doctests(after.encode()),
        mode,  # type: ignore[arg-type]
    )


def weakened(after: str, line: str) -> None:
    """Refused in both modes, with exactly `line` among the findings."""
    for mode in ("heal", "implement"):
        found = check(after, mode)
        assert line in found.weakening, (mode, found)


def spec(after: str, line: str) -> None:
    """A specification change (refused when healing), never weakening."""
    found = check(after)
    assert line in found.spec, found
    assert not found.weakening, found


# --- skipping, removing, hiding: refused in both modes --------------------------------------

SKIPPED = {
    "+SKIP": MODULE.replace(">>> x.foo\n    3", ">>> x.foo  # doctest: +SKIP\n    3"),
    "+SKIP among others": MODULE.replace(
        ">>> x.foo\n    3", ">>> x.foo  # doctest:+ELLIPSIS, +SKIP\n    3"
    ),
    "+SKIP on a continuation line": MODULE.replace(
        "    ...         return 3\n", "    ...         return 3  # doctest: +SKIP\n"
    ),
}


@pytest.mark.parametrize("after", SKIPPED.values(), ids=SKIPPED.keys())
def test_a_skip_directive_is_weakening(after: str) -> None:
    found = check(after)
    assert any(t.startswith(f"{OWNER}: marks the example `") for t in found.weakening), found
    assert all(t.endswith("+SKIP") for t in found.weakening), found
    weakened(SKIPPED["+SKIP"], f"{OWNER}: marks the example `x.foo` +SKIP")


GONE = {
    "docstring deleted": MODULE.replace(
        MODULE[MODULE.index('    """Much like') : MODULE.index("    def __init__")], ""
    ),
    "prompts removed": MODULE.replace(
        MODULE[MODULE.index('    """Much like') : MODULE.index("    def __init__")],
        '    """Much like the property builtin."""\n\n',
    ),
    "not the first statement": MODULE.replace(
        'class NonDataProperty:\n    """', 'class NonDataProperty:\n    x = 1\n    """'
    ),
    "an f-string": MODULE.replace(
        'class NonDataProperty:\n    """', 'class NonDataProperty:\n    f"""'
    ),
    "defined only if False": MODULE.replace(
        "class NonDataProperty:", "if False:\n  class NonDataProperty:"
    ).replace("\n    ", "\n      "),
    "defined only when type checking": MODULE.replace(
        "class NonDataProperty:",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n class NonDataProperty:",
    ).replace("\n    ", "\n     "),
    "rebound": MODULE + "\nNonDataProperty = None\n",
    "deleted by name": MODULE + "\ndel NonDataProperty\n",
}


@pytest.mark.parametrize("after", GONE.values(), ids=GONE.keys())
def test_examples_that_doctest_no_longer_finds_are_weakening(after: str) -> None:
    weakened(after, f"{OWNER}: its 5 doctest example(s) are gone or no longer found by doctest")


def test_the_module_docstring_and_functions_inside_functions() -> None:
    no_module_doc = MODULE[MODULE.index("import functools") :]
    weakened(
        no_module_doc, f"{PATH}: its 1 doctest example(s) are gone or no longer found by doctest"
    )
    clamp = MODULE[MODULE.index("def clamp") :]
    nested = MODULE.replace(clamp, "def _outer():\n" + textwrap.indent(clamp, "    "))
    weakened(
        nested, f"{PATH}::clamp: its 2 doctest example(s) are gone or no longer found by doctest"
    )


def test_a_removed_example_is_named() -> None:
    weakened(
        MODULE.replace(CLAMP_EXAMPLE, ""), f"{PATH}::clamp: removes the example `clamp(5, 0, 10)`"
    )


HIDDEN = {
    "__test__ = False": "__test__ = False",
    "__doc__ rebound": "NonDataProperty.__doc__ = None",
    "module __doc__": "__doc__ = 'replaced'",
}


@pytest.mark.parametrize("line", HIDDEN.values(), ids=HIDDEN.keys())
def test_rebinding_doc_or_test_is_weakening(line: str) -> None:
    weakened(MODULE + f"\n{line}\n", f"{PATH}: `{line}` can hide or replace its doctests")


def test_test_dict_entries_are_examples() -> None:
    with_dict = MODULE + '\n__test__ = {"extra": """\n>>> clamp(11, 0, 10)\n10\n""", "fn": clamp}\n'
    found = check(MODULE + "\n__test__ = {}\n", before=with_dict)
    assert (
        f"{PATH}::__test__.extra: its 1 doctest example(s) are gone or no longer found by doctest"
        in found.weakening
    )
    assert f"{PATH}: removes the doctest __test__.fn" in found.weakening
    found = check(with_dict.replace("\n10\n", "\n0\n"), before=with_dict)
    assert found.spec == [
        f"{PATH}::__test__.extra: changes the expected output of `clamp(11, 0, 10)`"
    ]
    assert not check(with_dict).weakening  # adding entries adds tests


def test_a_skip_in_an_examples_code_or_on_import_is_weakening() -> None:
    new = CLAMP_EXAMPLE + "    >>> import pytest; pytest.skip('later')\n"
    weakened(
        MODULE.replace(CLAMP_EXAMPLE, new),
        f"{PATH}::clamp: adds the example `import pytest; pytest.skip('later')` (pytest.skip)",
    )
    on_import = MODULE.replace(
        "import functools\n",
        "import functools\nimport pytest\n\npytest.skip('x', allow_module_level=True)\n",
    )
    weakened(
        on_import,
        f"{PATH}: adds a skip or exit run on import (pytest.skip), which skips its doctests",
    )
    main = MODULE + "\nif __name__ == '__main__':\n    import sys\n    sys.exit(0)\n"
    assert check(main) == Findings()  # runs as a script only, never on import


# --- expectations: refused when healing ----------------------------------------------------


def test_a_changed_expected_output_is_a_spec_change() -> None:
    spec(
        MODULE.replace("    >>> x.foo\n    3", "    >>> x.foo\n    0"),
        f"{OWNER}: changes the expected output of `x.foo`",
    )
    spec(
        MODULE.replace("ValueError: negative", "TypeError: negative"),
        f"{OWNER}.check: changes the exception `NonDataProperty(None).check(-1)` is expected to raise",
    )
    spec(
        MODULE.replace("ValueError: negative", "ValueError: whatever"),
        f"{OWNER}.check: changes the exception `NonDataProperty(None).check(-1)` is expected to raise",
    )


LOOSENED = {
    "ELLIPSIS": ("# doctest: +ELLIPSIS", "+ELLIPSIS"),
    "NORMALIZE_WHITESPACE": ("# doctest: +NORMALIZE_WHITESPACE", "+NORMALIZE_WHITESPACE"),
    "IGNORE_EXCEPTION_DETAIL": ("# doctest: +IGNORE_EXCEPTION_DETAIL", "+IGNORE_EXCEPTION_DETAIL"),
    "pytest's NUMBER": ("# doctest: +NUMBER", "+NUMBER"),
    "true for 1 accepted": ("# doctest: -DONT_ACCEPT_TRUE_FOR_1", "-DONT_ACCEPT_TRUE_FOR_1"),
}


@pytest.mark.parametrize(("directive", "named"), LOOSENED.values(), ids=LOOSENED.keys())
def test_a_loosening_directive_is_a_spec_change(directive: str, named: str) -> None:
    after = MODULE.replace("    >>> x.foo = 4\n", f"    >>> x.foo = 4  {directive}\n")
    spec(after, f"{OWNER}: loosens the example `x.foo = 4` ({named})")


def test_dropping_a_directive_that_made_an_example_stricter_is_a_spec_change() -> None:
    for directive in ("-ELLIPSIS", "+DONT_ACCEPT_TRUE_FOR_1"):
        strict = MODULE.replace(
            "    >>> x.foo = 4\n", f"    >>> x.foo = 4  # doctest: {directive}\n"
        )
        found = check(MODULE, before=strict)
        assert found.spec == [f"{OWNER}: loosens the example `x.foo = 4` (drops {directive})"]


def test_a_rewritten_example_and_new_decorators_are_spec_changes() -> None:
    spec(
        MODULE.replace(">>> clamp(5, 0, 10)", ">>> clamp(0, 0, 10)"),
        f"{PATH}::clamp: rewrites the example `clamp(5, 0, 10)` as `clamp(0, 0, 10)`",
    )
    spec(
        MODULE.replace("def clamp", "@functools.lru_cache\ndef clamp"),
        f"{PATH}::clamp: changes its decorators, which decide whether doctest finds its examples",
    )


# --- what must pass -------------------------------------------------------------------------


def test_an_honest_fix_next_to_doctests_has_no_findings() -> None:
    broken = MODULE.replace("min(value, high)", "min(value, low)")
    assert check(MODULE, before=broken) == Findings()


def test_a_setter_added_to_a_documented_property_passes() -> None:
    getter = '    @property\n    def size(self):\n        """\n        >>> NonDataProperty(1).size\n        1\n        """\n        return self.fget\n\n'
    setter = "    @size.setter\n    def size(self, value):\n        self.fget = value\n\n"
    before = MODULE.replace("    def __get__", getter + "    def __get__")
    after = MODULE.replace("    def __get__", getter + setter + "    def __get__")
    assert check(after, before=before) == Findings()
    assert check(after.replace("        1\n", "        2\n"), before=before).spec == [
        f"{OWNER}.size: changes the expected output of `NonDataProperty(1).size`"
    ]


def test_new_stronger_examples_are_only_listed() -> None:
    stronger = MODULE.replace(CLAMP_EXAMPLE, CLAMP_EXAMPLE + "    >>> clamp(11, 0, 10)\n    10\n")
    stronger = stronger.replace("# doctest", "") + '\ndef new():\n    """\n    >>> new()\n    """\n'
    for mode in ("heal", "implement"):
        found = check(stronger, mode)
        assert not found.weakening and not found.spec, found
        assert f"{PATH}::clamp: changes doctest examples" in found.listed
        assert f"{PATH}::new: adds doctest examples" in found.listed
    # Removing a directive, or a stricter one, is stronger too.
    skipped = SKIPPED["+SKIP"]
    assert not check(MODULE, before=skipped).weakening
    assert not check(
        MODULE.replace(">>> x.foo\n", ">>> x.foo  # doctest: +DONT_ACCEPT_BLANKLINE\n")
    ).spec


def test_implementing_may_add_a_documented_function_whose_examples_skip() -> None:
    new = (
        MODULE
        + '\ndef fetch():\n    """\n    >>> fetch()  # doctest: +SKIP\n    \'page\'\n    """\n'
    )
    assert not check(new, "implement").weakening
    assert check(new, "heal").weakening == [f"{PATH}::fetch: adds the example `fetch()` (+SKIP)"]


def test_a_renamed_owner_keeps_its_examples() -> None:
    renamed = MODULE.replace("def clamp(", "def limit(").replace(">>> clamp(", ">>> limit(")
    found = check(renamed.replace(">>> limit(", ">>> clamp("), "implement")
    assert not found.weakening and not found.spec, found
    assert f"{PATH}::limit: takes doctest examples from clamp" in found.listed


def test_reformatting_docstrings_changes_nothing(tmp_path: Path) -> None:
    """ruff format with docstring-code-format rewrites example code; quotes and indentation move."""
    ugly = MODULE.replace("clamp(5, 0, 10)", "clamp( 5,0 ,10 )").replace('"""Keep', "'''Keep")
    ugly = ugly.replace('    0\n    """\n    return', "    0\n    '''\n    return")
    ugly = ugly.replace("    >>> x.foo = 4\n", "    >>> x.foo = (\n    ...     4\n    ... )\n")
    (tmp_path / "pyproject.toml").write_text("[tool.ruff.format]\ndocstring-code-format = true\n")
    module = tmp_path / "properties.py"
    module.write_text(ugly)
    ruff = [sys.executable, "-m", "ruff", "format", "--no-cache", str(module)]
    subprocess.run(ruff, cwd=tmp_path, check=True, capture_output=True)
    formatted = module.read_text()
    assert formatted != ugly
    assert ">>> clamp(5, 0, 10)" in formatted  # the example's code itself was reformatted
    for before, after in ((MODULE, ugly), (ugly, formatted), (MODULE, formatted)):
        found = check(after, before=before)
        assert not found.weakening and not found.spec, found


# --- files that cannot be read: a finding, never a traceback ---------------------------------


def test_unreadable_files_raise_one_clear_error() -> None:
    with pytest.raises(Unreadable, match="line 1"):
        module_doctests(b"def broken(:\n")
    with pytest.raises(Unreadable, match=r"clamp: .*lacks blank after >>>"):
        module_doctests(MODULE.replace(">>> clamp(5", ">>>clamp(5").encode())
    with pytest.raises(Unreadable, match="not UTF-8"):
        text_doctests(b">>> 1\n\xff\n")
    assert (
        module_doctests(
            "# -*- coding: latin-1 -*-\n'''\n>>> 'é'\n'é'\n'''\n".encode("latin-1")
        ).count
        == 1
    )


def test_what_pytest_collects_doctests_from() -> None:
    assert is_doctest_module("jaraco/classes/properties.py")
    assert not is_doctest_module("setup.py") and not is_doctest_module("pkg/__main__.py")
    assert is_doctest_text("docs/test_usage.txt", ["test*.txt"])
    assert is_doctest_text("README.rst", ["*.rst"]) and is_doctest_text("docs/a.md", ["docs/*.md"])
    assert not is_doctest_text("README.rst", ["test*.txt"])
    assert not is_doctest_text("other/a.md", ["docs/*.md"])


# --- through every guard, on a real repository ----------------------------------------------

PROJECT = {
    "pyproject.toml": (
        '[project]\nname = "jaraco.classes"\nversion = "0"\n\n[tool.pytest.ini_options]\n'
        'addopts = "--doctest-modules --doctest-glob=*.rst"\n'
    ),
    PATH: MODULE,
    "README.rst": "Usage\n=====\n\n>>> from jaraco.classes.properties import clamp\n>>> clamp(5, 0, 10)\n5\n",
    "tests/test_usage.txt": ">>> 1 + 1\n2\n",
}


def test_a_skipped_doctest_is_refused_by_test_weakening(make_repo: MakeRepo) -> None:
    verdicts = guard(make_repo, PROJECT, {PATH: SKIPPED["+SKIP"]})
    assert refused(verdicts) == ["test-weakening"]
    assert verdicts["test-weakening"].reason.startswith(f"{OWNER}: marks the example `x.foo` +SKIP")
    assert verdicts["test-weakening"].file == PATH
    verdicts = guard(make_repo, PROJECT, {PATH: SKIPPED["+SKIP"]}, mode="implement")
    assert refused(verdicts) == ["test-weakening"]


def test_text_doctests_that_pytest_collects_are_guarded(make_repo: MakeRepo) -> None:
    readme = PROJECT["README.rst"].replace("\n5\n", "\n0\n")
    verdicts = guard(make_repo, PROJECT, {"README.rst": readme})
    assert refused(verdicts) == ["test-spec"]
    assert (
        "README.rst: changes the expected output of `clamp(5, 0, 10)`"
        in verdicts["test-spec"].reason
    )
    verdicts = guard(make_repo, PROJECT, {"tests/test_usage.txt": None})
    assert (
        "tests/test_usage.txt: its 1 doctest example(s) are gone"
        in verdicts["test-weakening"].reason
    )
    # A text file no --doctest-glob names is prose, not a test.
    other = {**PROJECT, "NOTES.md": ">>> 1\n1\n"}
    assert refused(guard(make_repo, other, {"NOTES.md": ">>> 1\n2\n"})) == []


def test_a_spec_change_in_a_doctest_passes_when_allowed_but_a_skip_never(
    make_repo: MakeRepo,
) -> None:
    changed = {PATH: MODULE.replace("    >>> x.foo\n    3", "    >>> x.foo\n    0")}
    verdicts = guard(make_repo, PROJECT, changed, allow_spec_changes=True)
    assert refused(verdicts) == []
    assert verdicts["test-spec"].reason.startswith("allowed by allow_spec_changes: ")
    assert refused(guard(make_repo, PROJECT, changed, mode="implement")) == []
    assert refused(
        guard(make_repo, PROJECT, {PATH: SKIPPED["+SKIP"]}, allow_spec_changes=True)
    ) == ["test-weakening"]


def test_an_honest_fix_passes_every_guard(make_repo: MakeRepo) -> None:
    broken = {**PROJECT, PATH: MODULE.replace("min(value, high)", "min(value, low)")}
    verdicts = guard(make_repo, broken, {PATH: MODULE})
    assert refused(verdicts) == []


@pytest.mark.parametrize(
    ("after", "words"),
    [
        (
            MODULE.encode("utf-8").replace(b"Properties.", b"Propert\xff\xfees."),
            ": (unicode error) 'utf-8' codec",  # at line 5, or line 1 on Python 3.12+
        ),
        (
            MODULE.replace("def clamp(", "def clamp(:").encode(),
            "(line",
        ),
        (
            MODULE.replace(">>> clamp(5", ">>>clamp(5").encode(),
            "(clamp: line",
        ),
    ],
    ids=["not UTF-8", "syntax error", "malformed example"],
)
def test_a_module_whose_doctests_cannot_be_read_is_a_finding(
    make_repo: MakeRepo, after: bytes, words: str
) -> None:
    verdicts = guard(make_repo, PROJECT, {PATH: after})
    assert "content" in refused(verdicts)
    reason = verdicts["content"].reason
    assert f"{PATH}: its doctests cannot be checked (" in reason
    assert words in reason


def test_a_module_without_doctests_that_does_not_parse_is_not_this_guards_finding(
    make_repo: MakeRepo,
) -> None:
    base = {**PROJECT, "jaraco/plain.py": "x = 1\n"}
    assert refused(guard(make_repo, base, {"jaraco/plain.py": "x = (\n"})) == []
