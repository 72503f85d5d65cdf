"""Specification changes when healing: hooks that change what runs, patches of the code under
test, collection settings in conftest.py, and the switch that allows them."""

from __future__ import annotations

import ast
import textwrap

import pytest

from bot.guard.pynames import Names
from bot.guard.spec import spec_changes
from tests.conftest import MakeRepo
from tests.guard.guarded import guard, refused

CONFTEST = """\
import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true")


@pytest.fixture
def calc():
    return 1
"""


def found(after: str, before: str = CONFTEST, path: str = "tests/conftest.py") -> list[str]:
    old, new = ast.parse(before), ast.parse(textwrap.dedent(after))
    return spec_changes(path, old, Names(old), new, Names(new))


HOOKS = {
    "deselect": "def pytest_collection_modifyitems(config, items):\n    items[:] = []\n",
    "deselect with hookimpl": (
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_collection_modifyitems(session, config, items):\n"
        "    config.hook.pytest_deselected(items=items)\n"
    ),
    "ignore": "def pytest_ignore_collect(collection_path, config):\n    return True\n",
    "outcome rewrite": (
        "@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n"
    ),
    "report status": "def pytest_report_teststatus(report, config):\n    return 'passed', '.', 'PASSED'\n",
    "configure edits config": (
        "def pytest_configure(config):\n    config.option.keyword = 'not test_inside'\n"
    ),
    "session finish": "def pytest_sessionfinish(session, exitstatus):\n    session.exitstatus = 0\n",
    "hook on a plugin class": (
        "class Plugin:\n    def pytest_collection_modifyitems(self, items):\n        items.clear()\n"
    ),
}


@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
def test_a_new_hook_that_changes_what_runs_is_found(hook: str) -> None:
    (finding,) = found(CONFTEST + "\n\n" + hook)
    assert finding.startswith("tests/conftest.py: adds the pytest hook pytest_")
    assert "which can change what runs" in finding


def test_a_changed_hook_is_found_and_an_unchanged_one_is_not() -> None:
    hook = "def pytest_collection_modifyitems(items):\n    items.sort(key=str)\n"
    base = CONFTEST + "\n\n" + hook
    assert found(base + "\n# comment\n", before=base) == []
    changed = base.replace("items.sort(key=str)", "items.pop()")
    assert found(changed, before=base) == [
        "tests/conftest.py: changes the pytest hook pytest_collection_modifyitems, "
        "which can change what runs"
    ]


HARMLESS = {
    "markers": 'def pytest_configure(config):\n    config.addinivalue_line("markers", "slow: slow")\n',
    "header": "def pytest_report_header(config):\n    return 'calc'\n",
    "new fixture": "@pytest.fixture\ndef other():\n    return 2\n",
}


@pytest.mark.parametrize("addition", HARMLESS.values(), ids=HARMLESS.keys())
def test_harmless_conftest_additions_are_not_found(addition: str) -> None:
    assert found(CONFTEST + "\n\n" + addition) == []


COLLECTION = {
    "collect_ignore": "collect_ignore = ['test_ops.py']\n",
    "collect_ignore_glob": "collect_ignore_glob = ['test_*.py']\n",
    "append": "collect_ignore = []\ncollect_ignore.append('test_ops.py')\n",
    "pytest_plugins": "pytest_plugins = ['tests.plugin']\n",
}


@pytest.mark.parametrize("setting", COLLECTION.values(), ids=COLLECTION.keys())
def test_collection_settings_in_conftest_are_found(setting: str) -> None:
    assert found(CONFTEST + setting) == [
        "tests/conftest.py: changes collect_ignore or pytest_plugins"
    ]


PATCHES = {
    "monkeypatch.setattr": (
        "def test_x(monkeypatch):\n    monkeypatch.setattr('calc.ops.clamp', lambda *a: 5)\n"
    ),
    "monkeypatch.setitem": (
        "def test_x(monkeypatch):\n    monkeypatch.setitem(ops.TABLE, 'k', 1)\n"
    ),
    "monkeypatch under another name": (
        "def test_x(monkeypatch):\n    mp = monkeypatch\n    mp.delattr(ops, 'clamp')\n"
    ),
    "autouse fixture": (
        "@pytest.fixture(autouse=True)\ndef fake(monkeypatch):\n"
        "    monkeypatch.setattr(ops, 'clamp', lambda *a: 5)\n"
    ),
    "mock.patch decorator": "@mock.patch('calc.ops.clamp')\ndef test_x(fake):\n    pass\n",
    "patch imported by name": "@patch('calc.ops.clamp', return_value=5)\ndef test_x(fake):\n    pass\n",
    "patch.object": "def test_x():\n    with patch.object(ops, 'clamp'):\n        pass\n",
    "unittest.mock.patch": (
        "def test_x():\n    with unittest.mock.patch('calc.ops.clamp'):\n        pass\n"
    ),
    "mocker": "def test_x(mocker):\n    mocker.patch('calc.ops.clamp')\n",
    "assignment into a module": "ops.clamp = lambda *a: 5\n",
    "assignment through the package": "calc.ops.clamp = max\n",
    "sys.modules": "sys.modules['calc.ops'] = object()\n",
    "builtin setattr": "setattr(ops, 'clamp', max)\n",
}
IMPORTS = (
    "import sys\nimport unittest.mock\nfrom unittest import mock\nfrom unittest.mock import patch\n"
    "import calc.ops\nfrom calc import ops\n"
)


@pytest.mark.parametrize("patch", PATCHES.values(), ids=PATCHES.keys())
def test_patching_the_code_under_test_is_found(patch: str) -> None:
    base = IMPORTS + CONFTEST
    findings = found(base + "\n\n" + patch, before=base)
    assert findings, patch
    assert all("patches code at run time (`" in f for f in findings)


def test_a_patch_that_was_there_before_is_not_new() -> None:
    base = IMPORTS + CONFTEST + "\n\n" + PATCHES["mocker"]
    assert found(base.replace("def test_x", "def test_y"), before=base) == []


def test_a_local_attribute_assignment_is_not_a_patch() -> None:
    local = "def test_x():\n    thing = Thing()\n    thing.value = 3\n    assert thing.value == 3\n"
    assert found(IMPORTS + CONFTEST + local, before=IMPORTS + CONFTEST) == []


# --- over real diffs: the verdict, the switch, and implement mode ------------------------

BASE = {
    "calc/__init__.py": "",
    "calc/ops.py": "def clamp(value, low, high):\n    return max(low, min(value, low))\n",
    "tests/conftest.py": CONFTEST,
    "tests/test_ops.py": (
        "from calc.ops import clamp\n\n\ndef test_inside():\n    assert clamp(5, 0, 10) == 5\n"
    ),
}
DESELECT = {"tests/conftest.py": CONFTEST + "\n\n" + HOOKS["deselect"]}


def test_healing_refuses_a_spec_change_and_says_how_to_allow_it(make_repo: MakeRepo) -> None:
    verdict = guard(make_repo, BASE, DESELECT)["test-spec"]
    assert not verdict.ok
    assert verdict.file == "tests/conftest.py"
    assert verdict.reason.startswith(
        "tests/conftest.py: adds the pytest hook pytest_collection_modifyitems"
    )
    assert "`allow_spec_changes: true` in .github/selfheal.yml" in verdict.reason


def test_the_switch_allows_spec_changes_and_says_so(make_repo: MakeRepo) -> None:
    result = guard(make_repo, BASE, DESELECT, allow_spec_changes=True)
    assert refused(result) == []
    assert result["test-spec"].reason.startswith(
        "allowed by allow_spec_changes: tests/conftest.py: adds the pytest hook"
    )


def test_implementing_may_change_the_specification(make_repo: MakeRepo) -> None:
    result = guard(make_repo, BASE, DESELECT, mode="implement")
    assert refused(result) == []


def test_a_new_conftest_is_a_spec_change_when_healing(make_repo: MakeRepo) -> None:
    base = {k: v for k, v in BASE.items() if k != "tests/conftest.py"}
    new = {
        "tests/unit/conftest.py": "import pytest\n\n\n@pytest.fixture\ndef calc():\n    return 2\n"
    }
    verdict = guard(make_repo, base, new)["test-spec"]
    assert not verdict.ok
    assert "adds tests/unit/conftest.py, which can override fixtures and hooks" in verdict.reason
    assert refused(guard(make_repo, base, new, mode="implement")) == []


def test_no_more_than_three_findings_are_named(make_repo: MakeRepo) -> None:
    hooks = "\n\n".join(HOOKS[k] for k in ("deselect", "ignore", "report status", "session finish"))
    verdict = guard(make_repo, BASE, {"tests/conftest.py": CONFTEST + "\n\n" + hooks})["test-spec"]
    assert verdict.reason.count("adds the pytest hook") == 3
    assert "; and 1 more." in verdict.reason
