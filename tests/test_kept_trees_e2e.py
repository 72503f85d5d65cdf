"""Heals of one repository, one after the other, in the work tree the last one left
(bot.forge.kept_trees): whatever was done to it between them is not what the next one sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.report import Report, Status
from tests.calc import BROKEN, CALC, FAILING, FIXED
from tests.conftest import MakeRepo, git
from tests.fakes.agent import FakeAgent
from tests.forge.test_kept_trees import kept_tree
from tests.test_bytecode_run import heal_once

pytestmark = pytest.mark.slow

# The fix with one space less: the same size as BROKEN, so only its bytes tell them apart.
FIXED_SAME_SIZE = FIXED.replace("max(low, min", "max(low,min")
# Tests that pass whatever the code does: pytest collects nothing beside this conftest.
COLLECT_NOTHING = 'collect_ignore_glob = ["test_*.py"]\n'


def heal(repo: Path, report_dir: Path) -> Report:
    return heal_once(repo, report_dir, FakeAgent([{"calc/ops.py": FIXED}]))


def test_a_kept_tree_made_to_look_fixed_is_healed_from_the_base(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    assert len(FIXED_SAME_SIZE) == len(BROKEN)
    repo = make_repo(CALC)
    first = heal(repo, tmp_path / "first")
    assert first.status is Status.HEALED, first.detail
    # Between the runs, a process of the user's (an agent left running, say) makes the kept
    # tree look healed: the fix with the base's size and mtime, and a conftest that makes
    # pytest collect nothing.
    tree = kept_tree(repo)
    ops = tree / "calc" / "ops.py"
    ops.write_text(BROKEN)
    base = ops.stat()
    ops.write_text(FIXED_SAME_SIZE)
    os.utime(ops, ns=(base.st_atime_ns, base.st_mtime_ns))
    (tree / "tests" / "conftest.py").write_text(COLLECT_NOTHING)
    second = heal(repo, tmp_path / "second")
    assert "an earlier run left" in second.workspace
    # The base's failure was reproduced (not "green already"), and the proposal is the fix.
    assert second.status is Status.HEALED, second.detail
    assert [f.test_id for f in second.failures] == [FAILING]
    assert second.gate_after is not None and second.gate_after.steps[0].tests_run == 2
    branches = git(repo, "branch", "--list", "selfheal/*", "--format=%(refname:short)").split()
    assert branches and all(
        git(repo, "diff", "--name-only", "HEAD", b).split() == ["calc/ops.py"] for b in branches
    )
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
