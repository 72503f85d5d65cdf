"""The small broken project most end-to-end tests heal: `clamp` ignores `high`, so
test_inside fails (clamp(5, 0, 10) returns 0) and test_below passes. One home for it."""

from __future__ import annotations

BROKEN = "def clamp(value, low, high):\n    return max(low, min(value, low))\n"
FIXED = "def clamp(value, low, high):\n    return max(low, min(value, high))\n"
FAILING = "tests/test_ops.py::test_inside"
PYPROJECT = """\
[project]
name = "calc"
version = "0"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""
TESTS = """\
from calc.ops import clamp


def test_inside():
    assert clamp(5, 0, 10) == 5


def test_below():
    assert clamp(-1, 0, 10) == 0
"""
CALC = {
    "pyproject.toml": PYPROJECT,
    "calc/__init__.py": "",
    "calc/ops.py": BROKEN,
    "tests/test_ops.py": TESTS,
}
# The scripted agent's edit that fixes it (see bot/agent/scripted.py).
FIX = {"path": "calc/ops.py", "old": "min(value, low)", "new": "min(value, high)"}
