"""Gate steps: detection, resolution, and the argv each step runs with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bot.config import GateStep
from bot.errors import BadInput
from bot.gate.kinds.pytest_argv import turns_off
from bot.gate.steps import (
    PLUGIN_MODULE,
    apply_selection,
    default_gate,
    fixer_argv,
    install_plugin,
    plugin_dir,
    prepare,
    resolve_executable,
    resolve_gate,
)
from tests.conftest import MakeRepo, write_files

RUFF = GateStep(name="ruff", run=["ruff", "check", "."], kind="ruff")
FORMAT = GateStep(name="ruff format", run=["ruff", "format", "--check", "."], kind="ruff-format")
PYTEST = GateStep(name="pytest", run=["pytest"], kind="pytest")
EVERYWHERE = str(Path(sys.executable).parent)  # a PATH on which our tools are found


# --- detection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"ruff.toml": "line-length = 100\n", "app.py": ""}, ["ruff", "ruff format"]),
        ({".ruff.toml": "", "app.py": ""}, ["ruff", "ruff format"]),
        ({"pyproject.toml": "[tool.ruff.lint]\nselect = ['E']\n"}, ["ruff", "ruff format"]),
        ({"pyproject.toml": "[tool.black]\n", "pkg/test_core.py": ""}, ["pytest"]),
        ({"src/app.py": "", "src/app_test.py": ""}, ["pytest"]),
        ({"tests/__init__.py": ""}, ["pytest"]),
        ({"test/helpers.py": ""}, ["pytest"]),
        ({"pytest.ini": "[pytest]\n"}, ["pytest"]),
        ({"setup.cfg": "[metadata]\nname = x\n[tool:pytest]\naddopts = -q\n"}, ["pytest"]),
        ({"tox.ini": "[pytest]\nminversion = 8\n"}, ["pytest"]),
        (
            {"pyproject.toml": "[tool.pytest.ini_options]\n", "ruff.toml": ""},
            ["ruff", "ruff format", "pytest"],
        ),
        ({"app.py": "", "setup.cfg": "[flake8]\n", "README.md": ""}, []),
        # tests inside a virtualenv are not the project's
        ({".venv/lib/site-packages/x/test_x.py": "", "app.py": ""}, []),
    ],
)
def test_default_gate_detection(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    write_files(tmp_path, files)
    assert [s.name for s in default_gate(tmp_path)] == expected


def test_default_gate_commands(make_repo: MakeRepo) -> None:
    repo = make_repo({"ruff.toml": "", "tests/test_a.py": "def test_a(): pass\n"}, origin=False)
    assert default_gate(repo) == [RUFF, FORMAT, PYTEST]


def test_resolve_gate_prefers_configured_steps(tmp_path: Path) -> None:
    write_files(tmp_path, {"ruff.toml": ""})
    custom = [GateStep(name="types", run=["mypy", "src"])]
    assert resolve_gate(custom, tmp_path) == custom
    assert [s.name for s in resolve_gate(None, tmp_path)] == ["ruff", "ruff format"]


def test_resolve_gate_with_nothing_to_run_says_how_to_configure(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": "print('hi')\n"})
    with pytest.raises(BadInput, match=r"\.github/selfheal\.yml") as info:
        resolve_gate(None, tmp_path)
    assert "gate:" in str(info.value)
    with pytest.raises(BadInput, match="empty"):
        resolve_gate([], tmp_path)


def test_resolve_gate_refuses_repeated_names(tmp_path: Path) -> None:
    twice = [GateStep(name="t", run=["pytest"]), GateStep(name="t", run=["pytest", "-x"])]
    with pytest.raises(BadInput, match="unique; repeated: t"):
        resolve_gate(twice, tmp_path)


# --- prepare ----------------------------------------------------------------------------


def test_prepare_ruff_asks_for_json(tmp_path: Path) -> None:
    step = GateStep(
        name="lint",
        run=["ruff", "check", "--output-format", "github", "--statistics", "src"],
        kind="ruff",
    )
    prepared = prepare(step, tmp_path, search_path=EVERYWHERE)
    assert prepared.argv == ["ruff", "check", "src", "--output-format=json"]
    assert prepared.junit_path is None
    other = GateStep(
        name="lint",
        run=["ruff", "check", "--output-format=full", "-o", "ruff.txt", "."],
        kind="ruff",
    )
    assert prepare(other, tmp_path, search_path=EVERYWHERE).argv[1:] == [
        "check",
        ".",
        "--output-format=json",
    ]


def test_prepare_ruff_format_ensures_check(tmp_path: Path) -> None:
    step = GateStep(name="fmt", run=["ruff", "format", "src"], kind="ruff-format")
    assert prepare(step, tmp_path, search_path=EVERYWHERE).argv == [
        "ruff",
        "format",
        "src",
        "--check",
    ]
    assert prepare(FORMAT, tmp_path, search_path=EVERYWHERE).argv == FORMAT.run
    quiet = GateStep(
        name="fmt",
        run=["ruff", "format", "-s", "--output-format", "json", "--check"],
        kind="ruff-format",
    )
    assert prepare(quiet, tmp_path, search_path=EVERYWHERE).argv == ["ruff", "format", "--check"]


def test_prepare_pytest_loads_selfheals_plugin(tmp_path: Path) -> None:
    step = GateStep(name="unit tests/fast", run=["pytest", "-q", "tests"], kind="pytest")
    prepared = prepare(step, tmp_path, search_path=EVERYWHERE)
    assert prepared.junit_path is None
    assert prepared.results_path is not None
    assert prepared.results_path.parent == tmp_path
    assert "/" not in prepared.results_path.name.removesuffix(".jsonl")
    assert prepared.argv == [
        "pytest",
        "-q",
        "tests",
        "-p",
        PLUGIN_MODULE,
        f"--selfheal-results={prepared.results_path}",
        "-o",  # pytest's own cache goes to the scratch dir, never the work tree
        f"cache_dir={tmp_path / 'pytest-cache'}",
    ]
    twin = GateStep(name="unit tests_fast", run=["pytest"], kind="pytest")
    assert prepare(twin, tmp_path).results_path != prepared.results_path


def test_prepare_pytest_without_the_plugin_adds_a_junit_file_in_scratch(tmp_path: Path) -> None:
    step = GateStep(name="unit tests/fast", run=["pytest", "-q", "tests"], kind="pytest")
    prepared = prepare(step, tmp_path, search_path=EVERYWHERE, plugin=False)
    assert prepared.results_path is None
    assert prepared.junit_path is not None
    assert prepared.junit_path.parent == tmp_path
    assert "/" not in prepared.junit_path.name.removesuffix(".xml")
    assert prepared.argv == [
        "pytest",
        "-q",
        "tests",
        f"--junitxml={prepared.junit_path}",
        "-o",
        "junit_family=xunit1",
        "-o",
        "junit_logging=no",
        "-o",
        f"cache_dir={tmp_path / 'pytest-cache'}",
    ]
    twin = GateStep(name="unit tests_fast", run=["pytest"], kind="pytest")
    assert prepare(twin, tmp_path, plugin=False).junit_path != prepared.junit_path


def test_install_plugin_copies_a_standalone_module(tmp_path: Path) -> None:
    where = install_plugin(tmp_path)
    assert where == plugin_dir(tmp_path)
    assert where.parent == tmp_path
    assert [p.name for p in where.iterdir()] == [f"{PLUGIN_MODULE}.py"]
    source = (where / f"{PLUGIN_MODULE}.py").read_text()
    # It runs in the project's interpreter, which may not have selfheal installed.
    assert "bot" not in {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }


def test_prepare_pytest_puts_options_before_a_double_dash(tmp_path: Path) -> None:
    step = GateStep(name="t", run=["pytest", "--", "-weird-file.py"], kind="pytest")
    argv = prepare(step, tmp_path, search_path=EVERYWHERE).argv
    assert argv[-2:] == ["--", "-weird-file.py"]
    assert argv[1:3] == ["-p", PLUGIN_MODULE]
    argv = prepare(step, tmp_path, search_path=EVERYWHERE, plugin=False).argv
    assert argv[-2:] == ["--", "-weird-file.py"]
    assert argv[1].startswith("--junitxml=")


def test_prepare_leaves_command_steps_alone(tmp_path: Path) -> None:
    step = GateStep(name="types", run=["mypy", "--strict", "src"])
    prepared = prepare(step, tmp_path, ["tests/test_a.py::test_x"], search_path=EVERYWHERE)
    assert prepared.argv == ["mypy", "--strict", "src"]
    assert prepared.junit_path is None


def test_prepare_pytest_with_a_selection(tmp_path: Path) -> None:
    step = GateStep(
        name="t", run=["pytest", "-x", "-k", "not slow", "tests", "-m", "gpu"], kind="pytest"
    )
    ids = ["tests/test_a.py::test_x", "tests/test_b.py::test_p[a b]"]
    prepared = prepare(step, tmp_path, ids, search_path=EVERYWHERE)
    # The plugin selects: the user's command is left as it is, the ids go in a file.
    assert prepared.argv[:9] == [*step.run, "-p", PLUGIN_MODULE]
    assert prepared.argv[9].startswith("--selfheal-results=")
    assert prepared.argv[10:12] == ["-o", f"cache_dir={tmp_path / 'pytest-cache'}"]
    option, _, path = prepared.argv[12].partition("=")
    assert option == "--selfheal-select"
    assert json.loads(Path(path).read_text()) == ids
    assert prepared.selection == tuple(ids)
    # Without the plugin the ids replace the paths on the command line.
    plain = prepare(step, tmp_path, ids, search_path=EVERYWHERE, plugin=False).argv
    assert plain[:6] == ["pytest", "-x", "-k", "not slow", "-m", "gpu"]
    assert plain[6:8] == ids
    assert "tests" not in plain


def test_prepare_pytest_with_a_watch_list(tmp_path: Path) -> None:
    prepared = prepare(PYTEST, tmp_path, watch=["tests/test_a.py::test_x"])
    option, _, path = prepared.argv[-1].partition("=")
    assert option == "--selfheal-watch"
    assert json.loads(Path(path).read_text()) == ["tests/test_a.py::test_x"]
    # Only test steps select or watch tests.
    other = GateStep(name="types", run=["mypy", "src"])
    assert prepare(other, tmp_path, ["a.py::t"], watch=["a.py::t"]).argv[1:] == ["src"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pytest", "tests", "src/pkg"], ["pytest"]),
        (
            ["pytest", "-c", "ci/pytest.ini", "-p", "no:cacheprovider", "-o", "x=y", "tests"],
            ["pytest", "-c", "ci/pytest.ini", "-p", "no:cacheprovider", "-o", "x=y"],
        ),
        (
            ["pytest", "--rootdir", "sub", "--tb=short", "sub/tests"],
            ["pytest", "--rootdir", "sub", "--tb=short"],
        ),
        (
            ["pytest", "-qk", "fast", "tests"],
            ["pytest", "-qk", "fast"],
        ),  # -k's value after a cluster
        (["pytest", "-kfast", "-n", "4", "tests"], ["pytest", "-kfast", "-n", "4"]),
        (
            ["pytest", "--reruns", "2", "--my-plugin-level", "3", "tests"],
            ["pytest", "--reruns", "2", "--my-plugin-level", "3"],
        ),
        (["python", "-m", "pytest", "tests"], ["python", "-m", "pytest"]),
        (["uv", "run", "pytest", "-x", "tests"], ["uv", "run", "pytest", "-x"]),
        (["pytest", "-x", "--", "tests"], ["pytest", "-x"]),
    ],
)
def test_apply_selection_keeps_options_and_their_values(
    argv: list[str], expected: list[str]
) -> None:
    selection = ["tests/test_a.py::TestC::test_p[a b]", "tests/test_b.py::test_y"]
    assert apply_selection(argv, selection) == [*expected, *selection]


@pytest.mark.parametrize(
    ("argv", "off"),
    [
        (["pytest", "-p", "no:cacheprovider"], True),
        (["python", "-m", "pytest", "-q", "-pno:cacheprovider", "tests"], True),
        (["uv", "run", "pytest", "-p", " no:cacheprovider "], True),  # pytest strips it
        (["pytest", "tests", "--", "-p", "no:cacheprovider"], True),  # pytest reads on
        (["pytest", "-qp", "no:cacheprovider"], False),  # a cluster: not before anything
        (["pytest", "-p", "-p", "no:cacheprovider"], False),  # the value of the first -p
        (["pytest", "-p", "no:cacheprovider2"], False),
        (["pytest", "-p", "xdist", "-p"], False),
        (["pytest", "-k", "no:cacheprovider"], False),
    ],
)
def test_turns_off_reads_dash_p_as_pytest_does(argv: list[str], off: bool) -> None:
    assert turns_off(argv, "cacheprovider") is off


def test_resolve_executable_falls_back_to_our_interpreters_tools(tmp_path: Path) -> None:
    ours = Path(sys.executable).parent
    assert resolve_executable(["ruff", "check"], search_path=str(tmp_path)) == [
        str(ours / "ruff"),
        "check",
    ]
    assert resolve_executable(["pytest"], search_path=str(tmp_path)) == [str(ours / "pytest")]
    # Found on PATH: the user's own copy wins.
    fake = tmp_path / "ruff"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert resolve_executable(["ruff", "check"], search_path=str(tmp_path)) == ["ruff", "check"]
    # A path, or a tool we do not have either: left for the process runner to report.
    assert resolve_executable(["./run.sh"], search_path=str(tmp_path)) == ["./run.sh"]
    assert resolve_executable(["no-such-tool-xyz"], search_path=str(tmp_path)) == [
        "no-such-tool-xyz"
    ]


def test_prepare_resolves_the_tool_when_path_lacks_it(tmp_path: Path) -> None:
    prepared = prepare(PYTEST, tmp_path, search_path=str(tmp_path / "empty"))
    assert prepared.argv[0] == str(Path(sys.executable).parent / "pytest")


# --- fixers -----------------------------------------------------------------------------


def _name_and_args(argv: list[str] | None) -> list[str]:
    assert argv is not None
    return [Path(argv[0]).name, *argv[1:]]


def test_fixer_argv() -> None:
    assert _name_and_args(fixer_argv(RUFF)) == ["ruff", "check", ".", "--fix"]
    assert _name_and_args(fixer_argv(FORMAT)) == ["ruff", "format", "."]
    diff = GateStep(name="f", run=["ruff", "format", "--diff", "src"], kind="ruff-format")
    assert _name_and_args(fixer_argv(diff)) == ["ruff", "format", "src"]
    quiet = GateStep(
        name="l",
        run=["ruff", "check", "--exit-zero", "--no-fix", "--statistics", "src"],
        kind="ruff",
    )
    assert _name_and_args(fixer_argv(quiet)) == ["ruff", "check", "src", "--fix"]
    already = GateStep(name="l", run=["ruff", "check", "--fix", "."], kind="ruff")
    assert _name_and_args(fixer_argv(already)) == ["ruff", "check", "--fix", "."]
    assert fixer_argv(PYTEST) is None
    assert fixer_argv(GateStep(name="types", run=["mypy", "src"])) is None
