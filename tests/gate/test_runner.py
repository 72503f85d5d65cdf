"""The gate end to end: real ruff and pytest processes on small repos."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate.runner import rerun_plan, run_gate, step_env
from bot.gate.steps import default_gate
from bot.report import Category, Failure, GateRun, StepResult, StepStatus
from tests.conftest import MakeRepo, git

RUFF = GateStep(name="ruff", run=["ruff", "check", "."], kind="ruff")
FORMAT = GateStep(name="ruff format", run=["ruff", "format", "--check", "."], kind="ruff-format")
PYTEST = GateStep(name="pytest", run=["pytest"], kind="pytest")
PY = sys.executable


def only_step(run: GateRun) -> StepResult:
    (step,) = run.steps
    return step


# --- lint and format --------------------------------------------------------------------


def test_lint(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    repo = make_repo(
        {
            "ruff.toml": "[lint]\nselect = ['F']\n",
            "app.py": "import os\n\n\ndef f():\n    return 1\n",
        },
        origin=False,
    )
    step = only_step(run_gate([RUFF], repo, label="before", env=gate_env))
    assert step.status is StepStatus.FAILED
    assert step.argv == ["ruff", "check", "."]  # the user's command, not ours
    (failure,) = step.failures
    assert (failure.category, failure.rule, failure.file, failure.line) == (
        Category.LINT,
        "F401",
        "app.py",
        1,
    )
    assert failure.fixable
    # The user reads ruff's own text, not the JSON we asked for.
    assert step.output.startswith("app.py:1:8: F401 [*] `os` imported but unused\nFound 1 error.")
    assert step.output_bytes > len(step.output)


def test_format(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    repo = make_repo(
        {"ruff.toml": "", "ok.py": "x = 1\n", "messy.py": "x=[1,\n  2]\n"}, origin=False
    )
    step = only_step(run_gate([FORMAT], repo, label="before", env=gate_env))
    assert step.status is StepStatus.FAILED
    (failure,) = step.failures
    assert (failure.category, failure.file, failure.fixable) == (Category.FORMAT, "messy.py", True)
    assert "messy.py" in step.output


def test_ruff_exit_zero_passes(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    repo = make_repo({"ruff.toml": "", "app.py": "import os\n"}, origin=False)
    step = GateStep(name="lint", run=["ruff", "check", "--exit-zero", "."], kind="ruff")
    result = only_step(run_gate([step], repo, label="before", env=gate_env))
    assert result.status is StepStatus.PASSED
    assert result.failures == []
    assert "F401" in result.output


# --- pytest, one repo per category ------------------------------------------------------

CALC = "def add(a, b):\n    return a + b\n\n\ndef parse(text):\n    raise ValueError(f'bad input: {text!r}')\n"

CASES = {
    "syntax": (
        {"tests/test_s.py": "def test_x(:\n    pass\n"},
        (Category.SYNTAX, "tests/test_s.py", 1, None, "SyntaxError"),
    ),
    "import": (
        {"tests/test_i.py": "from pkg.calc import subtract\n\n\ndef test_x():\n    pass\n"},
        (Category.IMPORT, "tests/test_i.py", 1, None, "ImportError"),
    ),
    "dependency": (
        {"tests/test_d.py": "import selfheal_not_installed_xyz\n\n\ndef test_x():\n    pass\n"},
        (Category.DEPENDENCY, "tests/test_d.py", 1, None, "ModuleNotFoundError"),
    ),
    "collection": (
        {"tests/test_c.py": "import pkg\n\nLIMIT = pkg.LIMIT\n\n\ndef test_x():\n    pass\n"},
        (Category.COLLECTION, "tests/test_c.py", 3, None, "AttributeError"),
    ),
    "type": (
        {"tests/test_t.py": "from pkg.calc import add\n\n\ndef test_add():\n    add(1, 'x')\n"},
        (Category.TYPE, "src/pkg/calc.py", 2, "tests/test_t.py::test_add", "TypeError"),
    ),
    "assertion": (
        {
            "tests/test_a.py": (
                "from pkg.calc import add\n\n\nclass TestAdd:\n"
                "    def test_small(self):\n        assert add(1, 2) == 4\n"
            )
        },
        (
            Category.ASSERTION,
            "tests/test_a.py",
            6,
            "tests/test_a.py::TestAdd::test_small",
            "AssertionError",
        ),
    ),
    "error": (
        {"tests/test_e.py": "from pkg.calc import parse\n\n\ndef test_parse():\n    parse('x')\n"},
        (Category.ERROR, "src/pkg/calc.py", 6, "tests/test_e.py::test_parse", "ValueError"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_pytest_failure_category(make_repo: MakeRepo, gate_env: dict[str, str], name: str) -> None:
    files, expected = CASES[name]
    # A src layout with no pytest config: the runner puts src/ on PYTHONPATH itself.
    repo = make_repo({"src/pkg/__init__.py": "", "src/pkg/calc.py": CALC, **files}, origin=False)
    step = only_step(run_gate([PYTEST], repo, label="before", env=gate_env))
    assert step.status is StepStatus.FAILED
    (failure,) = step.failures
    assert (failure.category, failure.file, failure.line, failure.test_id, failure.rule) == expected
    assert failure.step == "pytest"
    assert failure.excerpt
    assert str(repo) not in failure.message + failure.excerpt


def test_flat_layout_imports_its_own_package(make_repo: MakeRepo, gate_env: dict[str, str]) -> None:
    # No pytest config and no tests/__init__.py: plain `pytest` alone would not find `calc`.
    files = {
        "calc/__init__.py": "VALUE = 1\n",
        "tests/test_value.py": "from calc import VALUE\n\n\ndef test_value():\n    assert VALUE == 2\n",
    }
    repo = make_repo(files, origin=False)
    (failure,) = only_step(run_gate([PYTEST], repo, label="before", env=gate_env)).failures
    assert (failure.category, failure.test_id) == (
        Category.ASSERTION,
        "tests/test_value.py::test_value",
    )


# --- processes that misbehave -----------------------------------------------------------


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc").is_dir():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
        except FileNotFoundError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


HANGS = """\
import os, subprocess, sys, time
from pathlib import Path


def test_hangs():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path("pids.txt").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(600)
"""


def test_timeout_kills_the_step_and_everything_it_started(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"tests/test_hang.py": HANGS}, origin=False)
    step = GateStep(name="pytest", run=["pytest"], kind="pytest", timeout=2)
    started = time.monotonic()
    result = only_step(run_gate([step], repo, label="before", env=gate_env))
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 4
    assert result.status is StepStatus.TIMEOUT
    assert result.note == "killed after 2 s (its timeout)"
    (failure,) = result.failures
    assert failure.category is Category.TIMEOUT
    assert failure.file == "tests/test_hang.py"  # where pytest was when it stopped
    pids = [int(p) for p in (repo / "pids.txt").read_text().split()]
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


def test_deadline_shortens_the_timeout_and_skips_what_it_cannot_start(
    tmp_path: Path, gate_env: dict[str, str]
) -> None:
    sleepy = GateStep(name="sleepy", run=[PY, "-c", "import time; time.sleep(30)"])
    started = time.monotonic()
    run = run_gate([sleepy], tmp_path, label="x", env=gate_env, deadline=started + 1)
    assert time.monotonic() - started < 1 + 4
    step = only_step(run)
    assert step.status is StepStatus.TIMEOUT
    assert step.note.endswith("(the run's deadline)")

    late = run_gate([sleepy], tmp_path, label="x", env=gate_env, deadline=time.monotonic() - 1)
    step = only_step(late)
    assert (step.status, step.exit_code, step.note) == (
        StepStatus.TIMEOUT,
        None,
        "not started: deadline reached",
    )
    assert step.failures[0].category is Category.TIMEOUT
    assert not late.green


def test_missing_command_is_infra(tmp_path: Path, gate_env: dict[str, str]) -> None:
    step = GateStep(name="tool", run=["selfheal-no-such-tool-xyz", "--check"])
    result = only_step(run_gate([step], tmp_path, label="before", env=gate_env))
    assert result.status is StepStatus.ERROR
    (failure,) = result.failures
    assert failure.category is Category.INFRA
    assert failure.message.startswith("could not start selfheal-no-such-tool-xyz")


def test_steps_run_concurrently(tmp_path: Path, gate_env: dict[str, str]) -> None:
    steps = [
        GateStep(name=f"sleep {i}", run=[PY, "-c", "import time; time.sleep(1)"]) for i in range(2)
    ]
    started = time.monotonic()
    run = run_gate(steps, tmp_path, label="before", env=gate_env)
    assert time.monotonic() - started < 1.8
    assert run.green
    assert [s.name for s in run.steps] == ["sleep 0", "sleep 1"]
    assert all(s.duration_s >= 1 for s in run.steps)


def test_step_environment(tmp_path: Path, gate_env: dict[str, str]) -> None:
    (tmp_path / "src").mkdir()
    show = "import os; print(os.environ['PYTHONPATH']); print(os.environ['MODE'])"
    step = GateStep(name="env", run=[PY, "-c", show], env={"MODE": "ci"})
    env = {**gate_env, "PYTHONPATH": "/opt/extra"}
    result = only_step(run_gate([step], tmp_path, label="before", env=env))
    assert result.output.split() == [f"{tmp_path / 'src'}{os.pathsep}/opt/extra", "ci"]
    # Without a bytecode cache outside the tree (bot.bytecode), no bytecode is written.
    no_cache = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
    assert step_env(step, tmp_path, no_cache)["PYTHONDONTWRITEBYTECODE"] == "1"
    cached = step_env(step, tmp_path, {**no_cache, "PYTHONPYCACHEPREFIX": "/elsewhere"})
    assert "PYTHONDONTWRITEBYTECODE" not in cached
    # A flat layout: the repo root comes first, so its own package (not an installed copy,
    # which may point at another checkout) is what the tests import.
    flat = tmp_path / "flat"
    flat.mkdir()
    assert step_env(step, flat, gate_env)["PYTHONPATH"].split(os.pathsep)[0] == str(flat)


# --- whole gates, selections, signatures ------------------------------------------------

GOOD = {
    "ruff.toml": "",
    "src/pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_pkg.py": "from pkg import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
}


def test_green_gate_leaves_the_working_tree_clean(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo(GOOD, origin=False)
    steps = default_gate(repo)
    run = run_gate(steps, repo, label="before", env=gate_env)
    assert run.green, [(s.name, s.output) for s in run.steps]
    assert not run.partial
    assert [s.status for s in run.steps] == [StepStatus.PASSED] * 3
    assert run.steps[2].tests_run == 1
    assert "generated xml file" not in run.steps[2].output
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_pytest_with_no_tests_is_unverified_not_green(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    # Exit 5 used to count as passed: a gate with nothing run is no evidence of anything.
    repo = make_repo({"tests/__init__.py": "", "tests/helpers.py": "X = 1\n"}, origin=False)
    run = run_gate([PYTEST], repo, label="before", env=gate_env)
    step = only_step(run)
    assert (step.status, step.exit_code, step.tests_run) == (StepStatus.UNVERIFIED, 5, 0)
    assert step.note == "no tests were collected (pytest exit code 5)"
    assert not run.green
    (failure,) = step.failures
    assert (failure.category, failure.rule, failure.message) == (
        Category.INFRA,
        "no-evidence",
        step.note,
    )


MIXED = "\n\n".join(
    [
        "def test_one():\n    assert True",
        "def test_two():\n    assert sum([1, 1]) == 3",
        "def test_three():\n    assert True",
        "def test_four():\n    assert 'a'.upper() == 'b'",
        "def test_five():\n    assert True",
    ]
)


def test_selection_reruns_only_the_failing_tests(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    repo = make_repo({"ruff.toml": "", "tests/test_mixed.py": MIXED + "\n"}, origin=False)
    steps = [RUFF, PYTEST]
    full = run_gate(steps, repo, label="before", env=gate_env)
    assert full.steps[1].tests_run == 5
    assert full.steps[0].status is StepStatus.PASSED
    only, selection = rerun_plan(full.failures, steps)
    ids = ["tests/test_mixed.py::test_two", "tests/test_mixed.py::test_four"]
    assert (only, selection) == ({"pytest"}, {"pytest": ids})

    again = run_gate(steps, repo, label="verify 1", env=gate_env, only=only, selection=selection)
    assert again.partial
    step = only_step(again)  # ruff was not asked for, so it is absent
    assert step.tests_run == len(ids)
    assert step.selection == ids
    assert step.argv == ["pytest", *ids]
    assert [f.signature for f in step.failures] == [f.signature for f in full.failures]


SIGNED = """\
def test_paths(tmp_path):
    target = tmp_path / "out.txt"
    assert target.exists(), f"{object()} has no {target}"
"""


def test_signature_is_stable_across_runs_and_places(
    make_repo: MakeRepo, gate_env: dict[str, str]
) -> None:
    def failure_of(name: str, test: str) -> Failure:
        repo = make_repo({"tests/test_sig.py": test}, name=name, origin=False)
        (failure,) = only_step(run_gate([PYTEST], repo, label="x", env=gate_env)).failures
        return failure

    first = failure_of("first", SIGNED)
    second = failure_of("second", SIGNED)
    # Different temp dirs, pytest basetemps and object addresses; the same failure.
    assert "0x" in first.message
    assert first.message != second.message
    assert first.signature == second.signature
    different = SIGNED.replace(
        'target.exists(), f"{object()} has no {target}"', "target.name == 'in.txt'"
    )
    other = failure_of("third", different)
    assert other.test_id == first.test_id
    assert other.signature != first.signature


# --- rerun_plan ------------------------------------------------------------------------


def _failure(step: str, test_id: str | None, category: Category = Category.ASSERTION) -> Failure:
    return Failure(step=step, category=category, message="m", test_id=test_id, signature="s")


def test_rerun_plan_selects_failing_tests() -> None:
    steps = [RUFF, PYTEST, GateStep(name="types", run=["mypy", "src"])]
    failures = [
        _failure("pytest", "tests/test_a.py::test_x"),
        _failure("pytest", "tests/test_a.py::test_x"),  # twice: selected once
        _failure("pytest", "tests/test_b.py::test_y"),
        _failure("ruff", None, Category.LINT),
    ]
    only, selection = rerun_plan(failures, steps)
    assert only == {"pytest", "ruff"}
    assert selection == {"pytest": ["tests/test_a.py::test_x", "tests/test_b.py::test_y"]}


def test_rerun_plan_reruns_the_whole_step_when_a_failure_names_no_test() -> None:
    failures = [
        _failure("pytest", "tests/test_a.py::test_x"),
        _failure("pytest", None, Category.COLLECTION),
        _failure("gone", None),  # a step no longer in the gate
    ]
    assert rerun_plan(failures, [PYTEST]) == ({"pytest"}, {})
    assert rerun_plan([], [PYTEST]) == (set(), {})
