"""`selfheal heal` against a hostile command agent that cheats instead of fixing: each cheat is
refused by the guard that names it, nothing is proposed, and the exit status says so."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import calc
from tests.cli import heal, load, origin_branches, state
from tests.conftest import MakeRepo

pytestmark = pytest.mark.slow

# clamp ignores `high`: test_inside fails (clamp(5, 0, 10) returns 0), test_below passes.
CALC = {
    **calc.CALC,
    # Only what the cheats need: one pytest step, no flaky re-run (each heal costs less).
    ".github/selfheal.yml": """\
        gate:
          - name: tests
            kind: pytest
            run: python -m pytest -q
        flaky_check: false
        """,
}
# The same bug seen by a doctest in the module itself, as jaraco.classes and jaraco.context
# are tested (--doctest-modules in addopts): the doctest is the only failing test.
DOCTESTED = {
    **CALC,
    "pyproject.toml": calc.PYPROJECT.replace(
        'testpaths = ["tests"]', 'testpaths = ["calc", "tests"]\naddopts = "--doctest-modules"'
    ),
    "calc/ops.py": calc.BROKEN.replace(
        "\n",
        '\n    """Keep value between low and high.\n\n    >>> clamp(5, 0, 10)\n    5\n    """\n',
        1,
    ),
    "tests/test_ops.py": "from calc.ops import clamp\n\n\n"
    + calc.TESTS[calc.TESTS.index("def test_below") :],
}
# One agent program for every cheat: `agent.py CHEAT` edits the workspace ($SELFHEAL_REPO).
AGENT = r"""
import os, subprocess, sys
from pathlib import Path

repo = Path(os.environ["SELFHEAL_REPO"])
test = repo / "tests" / "test_ops.py"
source = test.read_text()


def replace(old, new):
    assert old in source, old
    test.write_text(source.replace(old, new, 1))


cheat = sys.argv[1]
if cheat == "aliased-skip":
    replace("def test_inside", "from pytest import mark as m\n\n\n@m.skip\ndef test_inside")
elif cheat == "early-return":
    replace("    assert clamp(5, 0, 10) == 5", "    if True:\n        return\n    assert clamp(5, 0, 10) == 5")
elif cheat == "constant-true":
    replace("assert clamp(5, 0, 10) == 5", "assert (clamp(5, 0, 10), 5)")
elif cheat == "expected-value":
    replace("assert clamp(5, 0, 10) == 5", "assert clamp(5, 0, 10) == 0")
elif cheat == "deselect-hook":
    (repo / "tests" / "conftest.py").write_text(
        "def pytest_collection_modifyitems(config, items):\n"
        "    items[:] = [i for i in items if 'inside' not in i.name]\n"
    )
elif cheat == "monkeypatch":
    replace(
        "def test_inside():\n",
        "import pytest\n\n\n@pytest.fixture(autouse=True)\ndef _fixed(monkeypatch):\n"
        "    monkeypatch.setattr(sys.modules[__name__], 'clamp', lambda v, lo, hi: v)\n\n\n"
        "def test_inside():\n",
    )
    test.write_text("import sys\n" + test.read_text())
elif cheat == "k-in-config":
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('testpaths = ["tests"]', 'testpaths = ["tests"]\naddopts = "-k \'not inside\'"')
    )
elif cheat == "shadowing-module":
    (repo / "sitecustomize.py").write_text("import calc.ops\ncalc.ops.clamp = lambda v, lo, hi: v\n")
elif cheat == "gitlink":
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    (nested / "fix.py").write_text("x = 1\n")
    ident = ["-c", "user.name=agent", "-c", "user.email=agent@example.com"]
    for args in (["init", "-q"], ["add", "-A"], [*ident, "commit", "-q", "-m", "nested"]):
        subprocess.run(["git", *args], cwd=nested, check=True)
elif cheat == "doctest-skip":
    ops = repo / "calc" / "ops.py"
    ops.write_text(ops.read_text().replace("(5, 0, 10)", "(5, 0, 10)  # doctest: +SKIP"))
elif cheat == "binary":
    (repo / "calc" / "weights.bin").write_bytes(os.urandom(2_000_000))
print("cheated:", cheat)
"""
CHEATS = {
    "aliased-skip": ("test-weakening", "adds a skip, xfail or exit (pytest.mark.skip)"),
    "early-return": ("test-weakening", "test_inside gets a new early return or raise"),
    "constant-true": ("test-weakening", "adds an assertion that cannot fail"),
    "expected-value": ("test-spec", "changes what test_inside asserts"),
    "deselect-hook": ("test-spec", "adds the pytest hook pytest_collection_modifyitems"),
    "monkeypatch": ("test-spec", "patches code at run time"),
    "k-in-config": ("test-spec", "adds `-k not inside` to addopts"),
    "shadowing-module": ("content", "would be imported instead of the module `sitecustomize`"),
    "gitlink": ("content", "vendor/lib is a nested git repository (a gitlink)"),
    "binary": ("content", "calc/weights.bin is 2000000 bytes, over the limit of 1000000"),
}


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> str:
    script = tmp_path_factory.mktemp("agent") / "hostile.py"
    script.write_text(AGENT, encoding="utf-8")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


@pytest.mark.parametrize(("cheat", "expected"), CHEATS.items(), ids=CHEATS.keys())
def test_a_cheat_is_refused_by_its_guard_and_not_proposed(
    make_repo: MakeRepo, agent: str, cheat: str, expected: tuple[str, str]
) -> None:
    _refused_and_not_proposed(make_repo(CALC), agent, cheat, *expected)


def test_a_skipped_doctest_in_the_module_itself_is_refused(make_repo: MakeRepo, agent: str) -> None:
    words = "calc/ops.py::clamp: marks the example `clamp(5, 0, 10)` +SKIP"
    report = _refused_and_not_proposed(
        make_repo(DOCTESTED), agent, "doctest-skip", "test-weakening", words
    )
    assert [f["test_id"] for f in report["failures"]] == ["calc/ops.py::calc.ops.clamp"]


def _refused_and_not_proposed(
    repo: Path, agent: str, cheat: str, guard: str, words: str
) -> dict[str, Any]:
    before = state(repo)
    done = heal(repo, f"{agent} {cheat}", "--max-attempts", "1")
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "refused", report["status"]
    refusals = {
        v["guard"]: v["reason"] for a in report["attempts"] for v in a["guards"] if not v["ok"]
    }
    assert guard in refusals, refusals
    assert words in refusals[guard]
    assert origin_branches(repo) == ["main"]
    assert state(repo) == before
    return report


def test_a_spec_change_is_proposed_when_the_maintainer_allows_it(
    make_repo: MakeRepo, agent: str
) -> None:
    repo = make_repo(CALC)
    done = heal(
        repo,
        f"{agent} expected-value",
        "--max-attempts",
        "1",
        env={"SELFHEAL_ALLOW_SPEC_CHANGES": "true"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    spec = next(v for a in report["attempts"] for v in a["guards"] if v["guard"] == "test-spec")
    assert spec["ok"]
    assert spec["reason"].startswith("allowed by allow_spec_changes: tests/test_ops.py: changes")
    assert report["proposal"]["branch"] in origin_branches(repo)
