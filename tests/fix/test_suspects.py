"""The test files a red commit's change points at (bot/fix/suspects.py): pure logic."""

from __future__ import annotations

import pytest

from bot.fix.pyfiles import imported_modules, module_of
from bot.fix.suspects import MAX_SUSPECTS, suspect_tests


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("pkg/mod.py", "pkg.mod"),
        ("src/pkg/mod.py", "pkg.mod"),
        ("pkg/__init__.py", "pkg"),
        ("setup.py", "setup"),
        ("pkg/my-mod.py", None),  # not importable
        ("docs/conf.txt", None),
    ],
)
def test_module_of(path: str, module: str | None) -> None:
    assert module_of(path) == module


def test_imported_modules_reads_every_form_of_import() -> None:
    text = (
        "import os, pkg.a as a\n"
        "from pkg import b, c as cc  # comment\n"
        "from pkg.d import (\n    e,\n    f as ff,\n)\n"
        "from . import helpers\n"
        "from .local import thing\n"
        "    import pkg.g  # inside a function\n"
        "x = 'import not_a_module'\n"
    )
    assert imported_modules(text) == {
        "os",
        "pkg.a",
        "pkg",
        "pkg.b",
        "pkg.c",
        "pkg.d",
        "pkg.d.e",
        "pkg.d.f",
        "pkg.g",
    }


TRACKED = [
    "pkg/__init__.py",
    "pkg/mod.py",
    "pkg/other.py",
    "tests/conftest.py",
    "tests/test_mod.py",
    "tests/test_other.py",
    "tests/test_both.py",
    "tests/helpers_test.py",
]
SOURCES = {
    "tests/test_mod.py": "from pkg.mod import f\n",
    "tests/test_other.py": "import pkg.other\n",
    "tests/test_both.py": "from pkg import mod, other\n",
    "tests/helpers_test.py": "import json\n",
}


def suspects(changed: list[str], tracked: list[str] = TRACKED) -> list[str]:
    return suspect_tests(changed, tracked, SOURCES.get)


def test_the_tests_that_import_a_changed_module_and_changed_tests_are_suspects() -> None:
    assert suspects(["pkg/mod.py", "README.md"]) == ["tests/test_mod.py", "tests/test_both.py"]
    assert suspects(["tests/helpers_test.py"]) == ["tests/helpers_test.py"]


def test_no_guess_when_the_change_points_at_nothing_or_everything() -> None:
    assert suspects(["README.md", "pyproject.toml"]) == []
    assert suspects(["tests/conftest.py", "pkg/mod.py"]) == []  # a conftest: everything
    # pkg/__init__.py is imported by every test that imports from pkg: over half of them.
    assert suspects(["pkg/__init__.py"]) == []
    many = [f"tests/test_{i}.py" for i in range(2 * MAX_SUSPECTS + 4)]
    assert suspect_tests(many[: MAX_SUSPECTS + 1], many, lambda _: "") == []


def test_an_unreadable_test_file_or_one_named_like_an_option_is_no_suspect() -> None:
    assert suspect_tests(["pkg/mod.py"], TRACKED, lambda _: None) == []
    tracked = [*TRACKED, "-p_test.py", "--co_test.py"]
    changed = ["-p_test.py", "--co_test.py", "tests/test_mod.py"]
    assert suspect_tests(changed, tracked, SOURCES.get) == ["tests/test_mod.py"]
