"""pytest settings that select tests or decide outcomes, in each file pytest reads them from."""

from __future__ import annotations

import json
import shlex

import pytest

from bot.guard.pytest_config import Unreadable, compare_settings, doctest_globs, pytest_section
from tests.conftest import MakeRepo
from tests.guard.guarded import guard, refused

PYPROJECT = """\
[project]
name = "calc"
version = "0"

[tool.pytest.ini_options]
addopts = "-ra --strict-markers"
testpaths = ["tests"]
"""
INI = "[pytest]\naddopts = -ra --strict-markers\ntestpaths = tests\n"
SETUP_CFG = (
    "[metadata]\nname = calc\n\n[tool:pytest]\naddopts = -ra --strict-markers\ntestpaths = tests\n"
)
NATIVE = '[pytest]\naddopts = ["-ra", "--strict-markers"]\ntestpaths = ["tests"]\n'
FILES = {
    "pyproject.toml": PYPROJECT,
    "pytest.ini": INI,
    "tox.ini": "[tox]\nenvlist = py311\n\n" + INI,
    "setup.cfg": SETUP_CFG,
    "pytest.toml": NATIVE,
}
ADDOPTS_CHEATS = {
    "-k": ("-ra --strict-markers", "-ra --strict-markers -k 'not test_inside'", "-k"),
    "-m": ("-ra --strict-markers", "-ra --strict-markers -m slow", "-m"),
    "--deselect": (
        "-ra --strict-markers",
        "-ra --strict-markers --deselect tests/test_ops.py",
        "--deselect",
    ),
    "--ignore=": (
        "-ra --strict-markers",
        "-ra --strict-markers --ignore=tests/test_ops.py",
        "--ignore=",
    ),
    "-p": ("-ra --strict-markers", "-ra --strict-markers -p no:python", "-p"),
    "--co": ("-ra --strict-markers", "-ra --strict-markers --co", "--co"),
    "--lf": ("-ra --strict-markers", "-ra --strict-markers --lf", "--lf"),
    "-x": ("-ra --strict-markers", "-x -ra --strict-markers", "-x"),
    "a path": (
        "-ra --strict-markers",
        "-ra --strict-markers tests/test_other.py",
        "tests/test_other.py",
    ),
}


def _with_addopts(name: str, addopts: str) -> str:
    """FILES[name] with `addopts` in that file's own syntax."""
    if name == "pytest.toml":
        return NATIVE.replace('["-ra", "--strict-markers"]', json.dumps(shlex.split(addopts)))
    if name == "pyproject.toml":  # a TOML literal string: no escapes, quotes kept
        return PYPROJECT.replace('"-ra --strict-markers"', f"'''{addopts}'''")
    return FILES[name].replace("-ra --strict-markers", addopts)


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(("old", "new", "word"), ADDOPTS_CHEATS.values(), ids=ADDOPTS_CHEATS.keys())
def test_selecting_addopts_are_found_in_every_file(
    name: str, old: str, new: str, word: str
) -> None:
    before = pytest_section(name, FILES[name].encode())
    after = pytest_section(name, _with_addopts(name, new).encode())
    (finding,) = compare_settings(name, before, after)
    assert finding.startswith(f"{name}: adds `")
    assert word in finding
    assert "to addopts, which changes which tests run or how" in finding


SHOWN_ONLY = [
    "-ra --strict-markers -v",
    "-ra --strict-markers --tb short",
    "-q -ra --strict-markers --durations=5",
    "-rfE --strict-markers --strict-config",
]


@pytest.mark.parametrize("addopts", SHOWN_ONLY)
def test_addopts_that_change_only_the_display_pass(addopts: str) -> None:
    before = pytest_section("pytest.ini", INI.encode())
    after = pytest_section("pytest.ini", INI.replace("-ra --strict-markers", addopts).encode())
    assert compare_settings("pytest.ini", before, after) == []


SETTINGS = {
    "testpaths": ("testpaths = tests", "testpaths = tests/unit"),
    "python_files": ("testpaths = tests", "testpaths = tests\npython_files = check_*.py"),
    "python_functions": ("testpaths = tests", "testpaths = tests\npython_functions = check"),
    "norecursedirs": ("testpaths = tests", "testpaths = tests\nnorecursedirs = tests"),
    "xfail_strict": ("testpaths = tests", "testpaths = tests\nxfail_strict = false"),
    "filterwarnings": ("testpaths = tests", "testpaths = tests\nfilterwarnings = ignore"),
    "markers": ("testpaths = tests", "testpaths = tests\nmarkers = slow"),
    "doctest_optionflags": (
        "testpaths = tests",
        "testpaths = tests\ndoctest_optionflags = ELLIPSIS",
    ),
}


@pytest.mark.parametrize(("key", "old", "new"), [(k, *v) for k, v in SETTINGS.items()])
def test_selection_settings_are_found(key: str, old: str, new: str) -> None:
    before = pytest_section("pytest.ini", INI.encode())
    after = pytest_section("pytest.ini", INI.replace(old, new).encode())
    assert compare_settings("pytest.ini", before, after) == [
        f"pytest.ini: changes the pytest setting {key}"
    ]


@pytest.mark.parametrize(
    ("old", "new", "dropped"),
    [
        ("-ra --doctest-modules", "-ra", "--doctest-modules"),
        ("--doctest-glob='*.rst' -ra", "-ra", "--doctest-glob=*.rst"),
        ("--doctest-glob=*.rst --doctest-glob=*.md", "--doctest-glob=*.md", "--doctest-glob=*.rst"),
    ],
)
def test_dropping_doctest_collection_from_addopts_is_found(
    old: str, new: str, dropped: str
) -> None:
    before = pytest_section("pytest.ini", INI.replace("-ra --strict-markers", old).encode())
    after = pytest_section("pytest.ini", INI.replace("-ra --strict-markers", new).encode())
    assert compare_settings("pytest.ini", before, after) == [
        f"pytest.ini: removes `{dropped}` from addopts, so doctests no longer run"
    ]


@pytest.mark.parametrize("name", FILES)
def test_doctest_globs_are_read_from_every_file(name: str) -> None:
    text = _with_addopts(name, "--doctest-modules --doctest-glob '*.rst' --doctest-glob=docs/*.md")
    assert doctest_globs(pytest_section(name, text.encode())) == ["*.rst", "docs/*.md"]
    assert doctest_globs(pytest_section(name, FILES[name].encode())) == []
    assert doctest_globs(None) == []


def test_a_new_or_removed_section_is_found() -> None:
    assert compare_settings("tests/pytest.ini", None, {"addopts": ""}) == [
        "tests/pytest.ini: adds a pytest configuration, which may replace the project's own"
    ]
    assert compare_settings("pyproject.toml", {"testpaths": ["tests"]}, None) == [
        "pyproject.toml: removes the pytest configuration"
    ]
    assert compare_settings("setup.cfg", None, None) == []


def test_files_without_a_pytest_section_have_none() -> None:
    assert pytest_section("pyproject.toml", b"[project]\nname = 'x'\n") is None
    assert pytest_section("tox.ini", b"[tox]\nenvlist = py\n") is None
    assert pytest_section("setup.cfg", None) is None
    with pytest.raises(Unreadable, match=r"pyproject\.toml cannot be parsed"):
        pytest_section("pyproject.toml", b"[tool.pytest.ini_options\n")
    with pytest.raises(Unreadable, match=r"pytest\.ini cannot be parsed"):
        pytest_section("pytest.ini", b"addopts = -k x\n")  # no section header


# --- over real diffs ---------------------------------------------------------------------

BASE = {
    "pyproject.toml": PYPROJECT,
    "calc/__init__.py": "",
    "tests/test_ops.py": "def test_inside():\n    assert 1 + 1 == 2\n",
}


def test_the_spec_guard_refuses_k_in_pyproject_when_healing(make_repo: MakeRepo) -> None:
    edits = {"pyproject.toml": PYPROJECT.replace('"-ra --strict-markers"', '"-ra -k not_inside"')}
    result = guard(make_repo, BASE, edits)
    assert refused(result) == ["test-spec"]
    assert "pyproject.toml: adds `-k not_inside` to addopts" in result["test-spec"].reason
    assert refused(guard(make_repo, BASE, edits, mode="implement")) == []


def test_a_new_pytest_ini_that_replaces_the_settings_is_refused(make_repo: MakeRepo) -> None:
    result = guard(make_repo, BASE, {"pytest.ini": "[pytest]\n"})
    assert refused(result) == ["test-spec"]
    assert "pytest.ini: adds a pytest configuration" in result["test-spec"].reason


def test_an_unparseable_config_and_pytest_addopts_are_refused(make_repo: MakeRepo) -> None:
    broken = guard(make_repo, BASE, {"pyproject.toml": PYPROJECT + "[oops\n"})["test-spec"]
    assert "pyproject.toml cannot be parsed" in broken.reason
    tox = "[tox]\nenvlist = py\n\n[testenv]\nsetenv =\n    PYTEST_ADDOPTS=-k not_inside\n"
    env = guard(make_repo, BASE, {"tox.ini": tox})["test-spec"]
    assert not env.ok
    assert "tox.ini sets PYTEST_ADDOPTS" in env.reason


def test_an_ordinary_pyproject_edit_passes(make_repo: MakeRepo) -> None:
    edits = {"pyproject.toml": PYPROJECT.replace('version = "0"', 'version = "1"')}
    assert refused(guard(make_repo, BASE, edits)) == []
