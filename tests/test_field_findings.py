"""Fixes the field trials called for, each shown on the smallest repo that needs it."""

from __future__ import annotations

from pathlib import Path

from bot.config import GateStep
from bot.gate.runner import step_env
from tests.cli import selfheal
from tests.conftest import MakeRepo

_SET_PARAMS = """\
import os

import pytest

CASES = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}


@pytest.mark.parametrize("word", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_word(request, word):
    with open(os.environ["WORDS_SEEN"], "a", encoding="utf-8") as seen:
        seen.write(f"{request.node.name}={word}\\n")
"""


def test_every_gate_run_has_one_hash_seed(tmp_path: Path) -> None:
    step = GateStep(name="pytest", run=["pytest"], kind="pytest")
    assert step_env(step, tmp_path, {"PATH": "/usr/bin"})["PYTHONHASHSEED"] == "0"
    # A seed the user (or the step) chose is theirs.
    assert step_env(step, tmp_path, {"PYTHONHASHSEED": "7"})["PYTHONHASHSEED"] == "7"


def test_set_parametrized_ids_mean_the_same_test_in_every_run(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # isodate parametrizes over a set: its ids follow hash order, which changes with each
    # interpreter unless the seed is fixed; a failing id must name the same case again.
    repo = make_repo({"tests/test_words.py": _SET_PARAMS})
    seen = tmp_path / "seen.txt"
    runs = []
    for n in range(3):
        report_dir = tmp_path / f"report{n}"
        done = selfheal(
            "gate",
            "--repo",
            str(repo),
            "--report-dir",
            str(report_dir),
            env={"WORDS_SEEN": str(seen)},
        )
        assert done.returncode == 0, done.stderr
        runs.append(sorted(seen.read_text(encoding="utf-8").splitlines()))
        seen.unlink()
    assert len(runs[0]) == 8
    assert runs[0] == runs[1] == runs[2]
