"""The gate on a project with strict pytest settings (fixtures/strict): real pytest runs.

selfheal adds options to every pytest step (its plugin, a marker to leave out, a results
file); each must survive --strict-markers, --strict-config, xfail_strict, filterwarnings =
error, -W error, -p no:cacheprovider and pytest-xdist.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bot.config import GateStep
from bot.gate.runner import run_gate
from bot.report import StepResult, StepStatus
from tests.conftest import MakeRepo
from tests.fakes import nvidia_smi

PYTEST = GateStep(name="tests", run=["pytest"], kind="pytest")
XDIST = GateStep(name="tests", run=["pytest", "-n", "2"], kind="pytest")
GPU_LINE = '  "gpu: needs a CUDA device",\n'


@pytest.fixture
def cpu_env(gate_env: dict[str, str]) -> dict[str, str]:
    return nvidia_smi.without_gpu(gate_env)


@pytest.fixture
def gpu_env(tmp_path: Path, gate_env: dict[str, str]) -> dict[str, str]:
    fake = nvidia_smi.install(tmp_path / "gpu-bin")
    return {**gate_env, "PATH": f"{fake.bin_dir}{os.pathsep}{gate_env['PATH']}"}


def strict_repo(make_repo: MakeRepo, *, register_gpu: bool = True, gpu_tests: bool = True) -> Path:
    repo = make_repo(fixture="strict", origin=False)
    if not register_gpu:
        pyproject = repo / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        assert GPU_LINE in text
        pyproject.write_text(text.replace(GPU_LINE, ""), encoding="utf-8")
    if not gpu_tests:
        (repo / "tests" / "test_gpu.py").unlink()
    return repo


def run(step: GateStep, repo: Path, env: dict[str, str]) -> StepResult:
    (result,) = run_gate([step], repo, label="before", env=env).steps
    return result


@pytest.mark.parametrize("step", [PYTEST, XDIST], ids=["serial", "xdist"])
def test_on_a_cpu_runner_gpu_tests_are_left_out_and_the_rest_pass(
    make_repo: MakeRepo, cpu_env: dict[str, str], step: GateStep
) -> None:
    repo = strict_repo(make_repo)
    result = run(step, repo, cpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert result.tests_run == 7  # 3 parametrized adds, 3 more, the slow one; not the gpu two
    assert result.note == (
        "2 tests marked gpu deselected: no GPU on this runner (nvidia-smi is not on PATH)"
    )
    evidence = result.evidence
    assert evidence is not None
    assert (evidence.normal_end, evidence.collected, evidence.deselected) == (True, 9, 2)
    assert (evidence.passed, evidence.skipped, evidence.xfailed) == (7, 1, 1)


def test_a_project_that_never_registers_gpu_survives_strict_markers(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    # The bug: -m "not gpu" under --strict-markers stopped pytest with exit 4.
    repo = strict_repo(make_repo, register_gpu=False, gpu_tests=False)
    result = run(PYTEST, repo, cpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert "Unknown marker" not in result.output
    assert result.tests_run == 7


@pytest.mark.parametrize("step", [PYTEST, XDIST], ids=["serial", "xdist"])
def test_with_a_gpu_the_gpu_tests_run(
    make_repo: MakeRepo, gpu_env: dict[str, str], step: GateStep
) -> None:
    repo = strict_repo(make_repo)
    result = run(step, repo, gpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert (result.tests_run, result.gpu_tests_deselected) == (9, None)
    assert result.evidence is not None
    assert (result.evidence.collected, result.evidence.deselected) == (11, 0)


def test_with_a_gpu_an_unregistered_gpu_marker_is_the_projects_own_error(
    make_repo: MakeRepo, gpu_env: dict[str, str]
) -> None:
    # selfheal registers the marker only where it leaves the tests out: with a GPU the
    # project's own configuration decides, as in its own CI.
    repo = strict_repo(make_repo, register_gpu=False)
    result = run(PYTEST, repo, gpu_env)
    assert result.status is StepStatus.FAILED
    assert "'gpu' not found in `markers` configuration option" in result.output


def test_a_selection_runs_under_the_strict_settings(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    repo = strict_repo(make_repo)
    ids = ["tests/test_calc.py::test_add[1-2-3]", "tests/test_calc.py::test_mean"]
    (result,) = run_gate([XDIST], repo, label="verify", env=cpu_env, selection={"tests": ids}).steps
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None
    assert result.evidence.selected == dict.fromkeys(ids, "passed")
    assert result.evidence.collected == 2


def test_without_the_plugin_a_project_that_never_registers_gpu_still_runs(
    make_repo: MakeRepo, cpu_env: dict[str, str]
) -> None:
    # -E: PYTHONPATH is ignored, so the plugin cannot load; the junit run's -m "not gpu"
    # meets --strict-markers, and a last run goes without it (such a project has no gpu tests).
    repo = strict_repo(make_repo, register_gpu=False, gpu_tests=False)
    (repo / "conftest.py").write_text("import sys\nsys.path.insert(0, '.')\n")
    step = GateStep(name="tests", run=[sys.executable, "-E", "-m", "pytest"], kind="pytest")
    result = run(step, repo, cpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None
    assert (result.evidence.source, result.evidence.collected) == ("junit", 9)
    # Registered, the -m stays: the gpu tests are left out.
    repo = strict_repo(make_repo)
    (repo / "conftest.py").write_text("import sys\nsys.path.insert(0, '.')\n")
    result = run(step, repo, cpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert result.evidence is not None and result.evidence.collected == 9


@pytest.mark.parametrize(
    "off", [["-p", "no:cacheprovider"], ["-pno:cacheprovider"]], ids=["-p no:", "-pno:"]
)
@pytest.mark.parametrize("plugin", [True, False], ids=["plugin", "junit"])
def test_the_cache_plugin_turned_off_on_the_command_line_survives_strict_config(
    make_repo: MakeRepo, cpu_env: dict[str, str], off: list[str], plugin: bool
) -> None:
    """A CI script's `pytest -p no:cacheprovider`: selfheal's cache_dir would then be an
    option nobody declared, which --strict-config refuses (exit 4) and filterwarnings =
    error turns into an internal error (exit 3); the project's own run passes."""
    repo = strict_repo(make_repo)
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert '"-p", "no:cacheprovider", ' in text
    pyproject.write_text(text.replace('"-p", "no:cacheprovider", ', ""), encoding="utf-8")
    python = [sys.executable] if plugin else [sys.executable, "-E"]  # -E: the plugin can't load
    if not plugin:
        (repo / "conftest.py").write_text("import sys\nsys.path.insert(0, '.')\n")
    step = GateStep(name="tests", run=[*python, "-m", "pytest", *off], kind="pytest")
    result = run(step, repo, cpu_env)
    assert result.status is StepStatus.PASSED, result.output
    assert "cache_dir" not in result.output
    assert result.evidence is not None
    assert result.evidence.source == ("plugin" if plugin else "junit")
    assert result.tests_run == 7
    assert not (repo / ".pytest_cache").exists()
