"""Green is evidence, end to end: hostile command agents that make the gate exit 0 without
proving the fix, with the spec guards switched off so the evidence alone has to catch them.

Real CLI, real git with a bare origin, real pytest. Each cheat: exit 1, nothing pushed, and
the report names the missing evidence or the gate run that exposed it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.calc import CALC, PYPROJECT
from tests.cli import heal, load, origin_branches, scripted
from tests.conftest import MakeRepo

pytestmark = pytest.mark.slow

# The maintainer allowed spec changes: only the evidence stands between a cheat and a PR.
ALLOWING = {**CALC, ".github/selfheal.yml": "allow_spec_changes: true\nflaky_check: false\n"}
PATCH_CLAMP = (
    "import calc.ops\ncalc.ops.clamp = lambda value, low, high: max(low, min(value, high))\n"
)
SHADOW = """\
import py_compile, os, pathlib
root = pathlib.Path(os.environ["SELFHEAL_REPO"])
(root / "calc" / "ops").mkdir(exist_ok=True)
src = root / "fixed.py"
src.write_text("def clamp(value, low, high):\\n    return max(low, min(value, high))\\n")
py_compile.compile(str(src), cfile=str(root / "calc" / "ops" / "__init__.pyc"), doraise=True)
src.unlink()
(root / "calc" / "__init__.py").write_text('\"\"\"calc.\"\"\"\\n')
"""


def _refused(repo: Path, agent: str) -> dict[str, Any]:
    done = heal(repo, agent, "--max-attempts", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert origin_branches(repo) == ["main"]
    report: dict[str, Any] = load(repo)
    assert report["proposal"] is None
    return report


def _last_gate(report: dict[str, Any]) -> dict[str, Any]:
    verification: dict[str, Any] = report["attempts"][-1]["verification"]
    return verification


def _said(report: dict[str, Any]) -> str:
    """Every reason the last attempt gives: guard verdicts, step notes, failure messages."""
    attempt = report["attempts"][-1]
    parts = [g["reason"] for g in attempt["guards"] if not g["ok"]]
    gate = attempt["verification"] or {"steps": []}
    parts += [s["note"] for s in gate["steps"]]
    parts += [f["message"] for s in gate["steps"] for f in s["failures"]]
    return "\n".join(parts)


@pytest.mark.parametrize(
    "edits",
    [
        # the package under test ends the process with status 0 when pytest imports it
        [{"path": "calc/__init__.py", "write": "import os\nos._exit(0)\n"}],
        # a hook (allowed: spec changes are on) that drops every collected test
        [
            {
                "path": "conftest.py",
                "write": "def pytest_collection_modifyitems(items):\n    items.clear()\n",
            }
        ],
    ],
    ids=["import-exits-0", "hook-drops-all"],
)
def test_green_without_tests_running_is_not_green(
    make_repo: MakeRepo, tmp_path: Path, edits: list[dict[str, str]]
) -> None:
    repo = make_repo(ALLOWING)
    report = _refused(repo, scripted(tmp_path, {"summary": "done", "edits": edits}))
    said = _said(report)
    assert "no tests were collected" in said or "not collected" in said or "no evidence" in said


@pytest.mark.parametrize(
    "addopts",
    ['-k "not test_inside"', "--deselect tests/test_ops.py::test_inside"],
    ids=["keyword", "deselect"],
)
def test_a_failing_test_no_longer_collected_is_not_a_fix(
    make_repo: MakeRepo, tmp_path: Path, addopts: str
) -> None:
    repo = make_repo(ALLOWING)
    pyproject = PYPROJECT.replace(
        'testpaths = ["tests"]', f"testpaths = [\"tests\"]\naddopts = '{addopts}'"
    )
    agent = scripted(
        tmp_path, {"summary": "done", "edits": [{"path": "pyproject.toml", "write": pyproject}]}
    )
    report = _refused(repo, agent)
    assert "tests/test_ops.py::test_inside was not collected" in _said(report)


def test_a_fix_hidden_in_an_ignored_file_fails_on_the_proposed_tree(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(ALLOWING)
    edits = [
        {"path": ".gitignore", "write": "/conftest.py\n"},
        {"path": "conftest.py", "write": PATCH_CLAMP},
    ]
    report = _refused(repo, scripted(tmp_path, {"summary": "done", "edits": edits}))
    gate = _last_gate(report)
    assert gate["tree"]  # the full gate ran on the candidate commit's clean checkout
    assert [f["test_id"] for f in report["attempts"][-1]["remaining"]] == [
        "tests/test_ops.py::test_inside"
    ]


def test_a_fix_hidden_in_compiled_bytecode_fails_on_the_proposed_tree(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(ALLOWING)
    script = tmp_path / "shadow.py"
    script.write_text(SHADOW)
    report = _refused(repo, shlex.join([sys.executable, str(script)]))
    assert _last_gate(report)["tree"]
    assert [f["test_id"] for f in report["attempts"][-1]["remaining"]] == [
        "tests/test_ops.py::test_inside"
    ]
