"""The fix loop in process, with a fake agent: one test per way a run can end.

Real git, real pytest and ruff as subprocesses; only the agent is scripted (tests/fakes/agent.py).
"""

from __future__ import annotations

import py_compile
from pathlib import Path
from typing import Any

import pytest

from bot.agent.base import NoAgent
from bot.config import Config, GateStep
from bot.fix.loop import Job, Run
from bot.report import Report, Status, StopReason
from bot.transcript import Transcript
from tests import calc
from tests.calc import BROKEN, FIXED
from tests.conftest import MakeRepo, git
from tests.fakes.agent import Edit, FakeAgent

pytestmark = pytest.mark.slow

CALC = {**calc.CALC, ".gitignore": "build/\n"}
PYTEST = [GateStep(name="pytest", run=["pytest", "-q"], kind="pytest")]


def loop_run(
    repo: Path,
    agent: object,
    tmp_path: Path,
    *,
    mode: str = "heal",
    gate: list[GateStep] | None = None,
    ci_log: str = "",
    **config: object,
) -> Run:
    """A Run of the loop on `repo` (not started), its report dir under `tmp_path`."""
    report_dir = tmp_path / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    job = Job(
        mode=mode,  # type: ignore[arg-type]
        repo=repo,
        config=Config(gate=gate if gate is not None else PYTEST, flaky_check=False, **config),  # type: ignore[arg-type]
        agent=agent,  # type: ignore[arg-type]
        report_dir=report_dir,
        push=True,
        ci_log=ci_log,
    )
    return Run(job, Transcript(report_dir / "transcript.jsonl"))


def run_loop(repo: Path, agent: object, tmp_path: Path, **options: object) -> Report:
    return loop_run(repo, agent, tmp_path, **options).execute()  # type: ignore[arg-type]


def origin_refs(repo: Path) -> list[str]:
    origin = Path(git(repo, "remote", "get-url", "origin").strip())
    return git(origin, "for-each-ref", "--format=%(refname)").split()


def user_state(repo: Path) -> tuple[str, ...]:
    """What no run may change in the user's repository, selfheal's own branches aside."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return (
        "\n".join(r for r in refs if not r.startswith("refs/heads/selfheal/")),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        (repo / ".git" / "config").read_text(),
        (repo / ".git" / "index").read_bytes().hex(),
    )


def test_green_proposes_one_commit_with_exactly_the_fix(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    before = user_state(repo)

    def fix_and_litter(root: Path) -> None:
        (root / "calc" / "ops.py").write_text(FIXED)
        (root / "build").mkdir()
        (root / "build" / "junk.bin").write_bytes(b"\0" * 100)  # ignored: not part of the fix

    agent = FakeAgent([fix_and_litter])
    report = run_loop(repo, agent, tmp_path)
    assert report.status is Status.HEALED, report.detail
    assert report.stop_reason is StopReason.GREEN
    assert report.proposal is not None and report.proposal.pushed
    branch = report.proposal.branch
    assert f"refs/heads/{branch}" in origin_refs(repo)
    assert git(repo, "diff", "--name-only", "main", branch).split() == ["calc/ops.py"]
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    # The last full gate ran on exactly the proposed commit's files.
    assert report.gate_after is not None and report.gate_after.green
    assert report.gate_after.tree == git(repo, "rev-parse", f"{branch}^{{tree}}").strip()
    assert user_state(repo) == before
    assert len(agent.requests) == 1


def test_a_fix_that_lives_only_in_ignored_files_is_not_proposed(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)

    def hide(root: Path) -> None:
        # The gate goes green through an ignored conftest that patches the code under test;
        # the commit would hold only the .gitignore line.
        (root / ".gitignore").write_text("build/\n/conftest.py\n")
        (root / "conftest.py").write_text(
            "import calc.ops\n"
            "calc.ops.clamp = lambda value, low, high: max(low, min(value, high))\n"
        )

    report = run_loop(repo, FakeAgent([hide]), tmp_path, max_attempts=1)
    assert report.status is not Status.HEALED
    assert report.proposal is None
    assert not [r for r in origin_refs(repo) if "selfheal" in r]
    assert report.attempts[0].outcome != "green"


def test_a_fix_that_lives_only_in_compiled_bytecode_is_not_proposed(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)

    def shadow(root: Path) -> None:
        # A package directory beats a module of the same name, and a sourceless
        # __init__.pyc is importable: calc.ops now comes from bytecode no commit carries.
        package = root / "calc" / "ops"
        package.mkdir()
        source = root / "fixed_ops.py"
        source.write_text(FIXED)
        py_compile.compile(str(source), cfile=str(package / "__init__.pyc"), doraise=True)
        source.unlink()
        (root / "calc" / "__init__.py").write_text('"""calc."""\n')  # a visible change

    report = run_loop(repo, FakeAgent([shadow]), tmp_path, max_attempts=1)
    assert report.proposal is None
    assert report.status is Status.GAVE_UP
    attempt = report.attempts[0]
    assert attempt.outcome == "failing"
    assert attempt.verification is not None and attempt.verification.tree is not None
    assert {f.test_id for f in attempt.remaining} == {"tests/test_ops.py::test_inside"}
    assert not [r for r in origin_refs(repo) if "selfheal" in r]


def test_no_change_twice_then_the_cap(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    report = run_loop(repo, FakeAgent([{}]), tmp_path, max_attempts=2)
    assert report.status is Status.GAVE_UP
    assert report.stop_reason is StopReason.ATTEMPT_CAP
    assert [a.outcome for a in report.attempts] == ["no_change", "no_change"]
    assert report.proposal is None


def test_the_same_failures_twice_is_stuck(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    attempts: list[Edit] = [{"calc/ops.py": BROKEN + f"# try {n}\n"} for n in range(1, 4)]
    report = run_loop(repo, FakeAgent(attempts), tmp_path, max_attempts=3)
    assert report.status is Status.GAVE_UP
    assert report.stop_reason is StopReason.STUCK
    assert len(report.attempts) == 2


def test_a_spent_run_budget_stops_the_run(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    agent = FakeAgent([{"calc/ops.py": BROKEN + "# not it\n"}], stop_run_after=1)
    report = run_loop(repo, agent, tmp_path, max_attempts=3)
    assert report.status is Status.GAVE_UP
    assert report.stop_reason is StopReason.BUDGET
    assert len(report.attempts) == 1
    assert "max_usd" in report.detail


def test_a_deleted_test_is_refused_every_time(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    report = run_loop(repo, FakeAgent([{"tests/test_ops.py": None}]), tmp_path, max_attempts=2)
    assert report.status is Status.REFUSED
    assert report.stop_reason is StopReason.REFUSED
    assert all(a.outcome == "refused" for a in report.attempts)
    assert report.proposal is None
    assert (repo / "tests" / "test_ops.py").is_file()


def test_only_unfixable_failures_end_before_any_attempt(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    gate = [GateStep(name="train", run=["python", "-c", "pass"], requires="gpu")]
    agent = FakeAgent([{"calc/ops.py": FIXED}])
    report = run_loop(repo, agent, tmp_path, gate=gate)
    assert report.status is Status.GAVE_UP
    assert report.stop_reason is StopReason.NOTHING_TO_FIX
    assert report.attempts == [] and agent.requests == []


def test_without_an_agent_it_stops_when_only_agent_work_is_left(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    report = run_loop(repo, NoAgent(), tmp_path, max_attempts=3)
    assert report.status is Status.GAVE_UP
    assert report.stop_reason is StopReason.NEEDS_AGENT
    assert report.attempts == []
    assert "agent" in report.detail


def test_without_an_agent_the_fixers_still_heal_lint(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(
        {
            "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
            "mod.py": "import os\nimport sys\n\nprint(sys.argv)\n",
        }
    )
    gate = [GateStep(name="ruff", run=["ruff", "check", "."], kind="ruff")]
    report = run_loop(repo, NoAgent(), tmp_path, gate=gate, max_attempts=3)
    assert report.status is Status.HEALED, report.detail
    assert len(report.attempts) == 1


def test_a_rerun_moves_the_local_branch_and_says_so(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo(CALC)
    first = run_loop(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path / "one")
    second = run_loop(repo, FakeAgent([{"calc/ops.py": FIXED + "# again\n"}]), tmp_path / "two")
    assert first.proposal is not None and second.proposal is not None
    assert first.proposal.replaced is None
    assert second.proposal.replaced == first.proposal.commit
    branch = second.proposal.branch
    assert git(repo, "rev-parse", branch).strip() == second.proposal.commit


def test_a_ci_failure_the_gate_does_not_reproduce_is_said_and_nothing_runs(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({**CALC, "calc/ops.py": FIXED})  # green here
    ci_log = (
        "Job 'lint', failed step(s): Run mypy\n"
        "Run mypy --strict calc\n"
        "calc/ops.py:1: error: Function is missing a type annotation\n"
        "##[error]Process completed with exit code 1.\n"
    )
    agent = FakeAgent([{"calc/ops.py": FIXED}])
    report = run_loop(repo, agent, tmp_path, ci_log=ci_log)
    assert report.status is Status.NOT_REPRODUCED
    assert report.exit_code == 0
    assert agent.requests == [] and report.proposal is None
    assert "lint (failed step(s): Run mypy)" in report.detail
    assert "`mypy --strict calc`" in report.detail
    assert report.suggested_gate == 'gate:\n  - name: ci-1\n    run: "mypy --strict calc"\n'


ORDERED_TESTS = """\
from calc.ops import clamp

STATE = {}


def test_first_sets_the_limit():
    STATE["high"] = 10


def test_inside_reads_it():
    assert clamp(5, 0, STATE["high"]) == 5
"""


def test_an_order_dependent_test_is_judged_by_a_full_run(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # Re-run alone, the fixed test fails another way (KeyError: the state an earlier test
    # sets is missing); the full run shows the fix (found on pathspec by the field trials).
    repo = make_repo({**CALC, "tests/test_ops.py": ORDERED_TESTS})
    report = run_loop(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path)
    assert report.status is Status.HEALED, report.detail
    assert len(report.attempts) == 1


def test_a_fix_that_breaks_other_tests_alone_is_not_green(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # The full-run confirmation does not turn a new failure into green.
    repo = make_repo({**CALC, "tests/test_ops.py": ORDERED_TESTS})
    wrong = "def clamp(value, low, high):\n    raise KeyError('high')\n"
    report = run_loop(repo, FakeAgent([{"calc/ops.py": wrong}]), tmp_path, max_attempts=1)
    assert report.status is Status.GAVE_UP
    assert report.attempts[0].outcome == "failing"


UNSTABLE_IDS = """\
import pytest

from calc.ops import clamp

# A set of tuples holding objects hashed by address: the order, and so the ids pytest gives
# the cases, change from one run to the next (isodate's tests do this).
CASES = {(object(), 5, 5), (object(), -1, 0), (object(), 11, 10)}


@pytest.mark.parametrize(("token", "value", "expected"), CASES)
def test_clamped(token, value, expected):
    assert clamp(value, 0, 10) == expected
"""


def test_a_fixed_test_whose_parameter_ids_change_counts_by_its_cases(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({**CALC, "tests/test_ops.py": UNSTABLE_IDS})
    report = run_loop(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path)
    assert report.status is Status.HEALED, report.detail


def test_the_agent_is_told_what_the_red_commit_changed(make_repo: MakeRepo, tmp_path: Path) -> None:
    # The failing assertion's traceback never enters the broken module here (the value is
    # compared in the test): only the red commit's own change names calc/limits.py.
    files = {
        **CALC,
        "calc/ops.py": FIXED,
        "calc/limits.py": "HIGH = 10\n",
        "tests/test_ops.py": "from calc.limits import HIGH\n\n\ndef test_high():\n"
        "    assert HIGH == 10\n",
    }
    repo = make_repo(files)
    (repo / "calc" / "limits.py").write_text("HIGH = 11\n")
    git(repo, "commit", "-qam", "raise the limit")
    agent = FakeAgent([{"calc/limits.py": "HIGH = 10\n"}])
    report = run_loop(repo, agent, tmp_path)
    assert report.status is Status.HEALED, report.detail
    (section,) = [
        c for c in agent.requests[0].context if c.title == "What the commit being healed changed"
    ]
    assert section.text.startswith("Files it changed (1): calc/limits.py")
    assert "-HIGH = 10\n+HIGH = 11" in section.text
    assert not section.trusted


WRITES_FILES = """\
from pathlib import Path
from typing import Any

from calc.ops import clamp


def test_inside():
    Path("diagram.html").write_text("<p>" * 100_000)  # as pyparsing's example tests do
    Path("out").mkdir(exist_ok=True)
    Path("out", "result.txt").write_text(str(clamp(5, 0, 10)))
    assert clamp(5, 0, 10) == 5
"""


def test_files_the_gates_runs_write_are_not_part_of_the_fix(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({**CALC, "tests/test_ops.py": WRITES_FILES})
    report = run_loop(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path)
    assert report.status is Status.HEALED, report.detail
    assert report.proposal is not None
    assert git(repo, "diff", "--name-only", "main", report.proposal.branch).split() == [
        "calc/ops.py"
    ]
    transcript = (tmp_path / "report" / "transcript.jsonl").read_text()
    assert '"event": "gate_products"' in transcript and "diagram.html" in transcript


def test_a_verified_fix_whose_rebuild_fails_is_kept_whole_in_the_patch(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault while the proposal is rebuilt on the base (here the patch will not apply):
    nothing is proposed, and fix.patch is still the fix the gate proved green."""
    from bot.errors import ProposalError
    from bot.forge.workspace import Workspace

    def refuse(self: Workspace, patch: str) -> str:
        raise ProposalError("the patch does not apply (injected)")

    monkeypatch.setattr(Workspace, "tree_with", refuse)
    repo = make_repo(CALC)
    run = loop_run(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path)
    report = run.execute()
    assert report.status is Status.NOT_PROPOSED, report.detail
    assert "does not apply (injected)" in report.detail
    assert report.proposal is None or not report.proposal.pushed
    assert "+++ b/calc/ops.py" in run.patch
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(repo), str(check))
    (tmp_path / "fix.patch").write_text(run.patch)
    git(check, "apply", str(tmp_path / "fix.patch"))
    assert (check / "calc" / "ops.py").read_text() == FIXED


def test_a_write_after_the_final_gate_is_neither_proposed_nor_in_the_patch(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process the agent left behind writes into the work tree once the final gate is
    done: the proposal and fix.patch are what that gate ran on, without the write."""
    original = Run._gate

    def gate_then_late_write(self: Run, steps: Any, label: str, **options: Any) -> Any:
        done = original(self, steps, label, **options)
        if label.startswith("gate "):  # the full gate on the sealed candidate
            (self.ws.path / "calc" / "late.py").write_text("UNVERIFIED = 1\n")
            ops = self.ws.path / "calc" / "ops.py"
            ops.write_text(ops.read_text() + "UNVERIFIED = 2\n")
        return done

    monkeypatch.setattr(Run, "_gate", gate_then_late_write)
    repo = make_repo(CALC)
    run = loop_run(repo, FakeAgent([{"calc/ops.py": FIXED}]), tmp_path)
    report = run.execute()
    assert report.status is Status.HEALED, report.detail
    assert report.proposal is not None
    branch = report.proposal.branch
    assert git(repo, "diff", "--name-only", "main", branch).split() == ["calc/ops.py"]
    assert git(repo, "show", f"{branch}:calc/ops.py") == FIXED
    assert report.gate_after is not None
    assert report.gate_after.tree == git(repo, "rev-parse", f"{branch}^{{tree}}").strip()
    assert "UNVERIFIED" not in run.patch and "+++ b/calc/ops.py" in run.patch
