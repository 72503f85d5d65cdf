"""Targeted reproduce: when the failing tests are known (a CI log names them, `--tests`, or
pytest's last run in the checkout failed them), the baseline runs those alone and the full
gate runs once, on the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import Config, GateStep
from bot.fix.loop import Job, Run
from bot.report import Report, Status
from bot.transcript import Transcript
from tests import calc
from tests.calc import FAILING, FIXED
from tests.conftest import FIXTURES, MakeRepo
from tests.fakes.agent import FakeAgent

pytestmark = pytest.mark.slow

CALC = {
    **{k: v for k, v in calc.CALC.items() if k != "pyproject.toml"},
    "tests/test_more.py": "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(30)),
}
# A CI log as GitHub serves it, naming the failing test in pytest's short summary.
CI_LOG = (
    "2026-11-21T10:00:02.0Z ##[group]Run pytest\n"
    f"2026-11-21T10:00:03.0Z \x1b[31mFAILED\x1b[0m {FAILING} - assert 0 == 5\n"
    "2026-11-21T10:00:03.1Z \x1b[31m1 failed, 31 passed in 0.20s\x1b[0m\n"
    "2026-11-21T10:00:03.5Z ##[error]Process completed with exit code 1.\n"
)


def heal(repo: Path, tmp_path: Path, **job: object) -> tuple[Report, FakeAgent]:
    report_dir = tmp_path / "report"
    report_dir.mkdir(exist_ok=True)
    agent = FakeAgent([{"calc/ops.py": FIXED}])
    run = Run(
        Job(
            mode="heal",
            repo=repo,
            config=Config(gate=[GateStep(name="pytest", run=["pytest", "-q"], kind="pytest")]),
            agent=agent,  # type: ignore[arg-type]
            report_dir=report_dir,
            push=False,
            **job,  # type: ignore[arg-type]
        ),
        Transcript(report_dir / "transcript.jsonl"),
    )
    return run.execute(), agent


def test_a_ci_log_naming_the_failure_reproduces_it_alone_then_gates_the_fix_in_full(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    report, agent = heal(make_repo(CALC), tmp_path, ci_log=CI_LOG)
    assert report.status is Status.HEALED, report.detail
    before = report.gate_before
    assert before is not None and before.partial
    assert before.steps[0].selection == [FAILING]
    assert before.steps[0].tests_run == 1  # not the other 31
    assert [f.test_id for f in report.failures] == [FAILING]
    assert [f.test_id for f in agent.requests[0].failures] == [FAILING]
    # The evidence check compared the final full gate with that: the named test was
    # watched there, collected and passed, among all the others.
    after = report.gate_after
    assert after is not None and after.green and not after.partial
    assert after.steps[0].evidence is not None
    assert after.steps[0].evidence.watched == {FAILING: "passed"}
    assert after.steps[0].evidence.collected == 32


def test_named_tests_that_pass_here_fall_back_to_the_whole_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # The log names a test that passes here (another runner's trouble): the baseline is the
    # whole gate after all, and finds the real failure.
    report, _ = heal(make_repo(CALC), tmp_path, failing_tests=("tests/test_ops.py::test_below",))
    assert report.status is Status.HEALED, report.detail
    before = report.gate_before
    assert before is not None and not before.partial
    assert before.steps[0].tests_run == 32
    assert [f.test_id for f in report.failures] == [FAILING]


def test_a_coverage_floor_holds_the_whole_gate_not_the_named_tests_run_alone(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # pytest-cov's floor in addopts, over the tests too: one test alone covers less. The
    # fix's verification (the named test alone) is green, and the whole gate, which holds
    # the floor, runs once.
    floor = calc.PYPROJECT.replace(
        "[tool.pytest.ini_options]\n",
        '[tool.pytest.ini_options]\naddopts = "--cov=. --cov-fail-under=100"\n',
    )
    report_dir = tmp_path / "report"
    report, _ = heal(make_repo({**CALC, "pyproject.toml": floor}), tmp_path, ci_log=CI_LOG)
    assert report.status is Status.HEALED, report.detail
    assert report.gate_before is not None and report.gate_before.partial
    assert [f.test_id for f in report.failures] == [FAILING]
    assert len(report.attempts) == 1
    verify = [e for e in _events(report_dir) if e.get("label") == "verify 1"]
    assert [e["green"] for e in verify] == [True]
    runs = ["gate: before", "gate: flaky check", "gate: gate 1", "gate: verify 1", "total"]
    assert sorted(report.timings) == runs  # no whole run besides the last
    after = report.gate_after
    assert after is not None and after.green and not after.partial
    assert "Required test coverage of 100" in after.steps[0].output


def _events(report_dir: Path) -> list[dict[str, object]]:
    lines = (report_dir / "transcript.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_named_tests_that_are_not_collected_fall_back_to_the_whole_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    report, _ = heal(make_repo(CALC), tmp_path, failing_tests=("tests/gone.py::test_x",))
    assert report.status is Status.HEALED, report.detail
    assert report.gate_before is not None and not report.gate_before.partial
    assert [f.test_id for f in report.failures] == [FAILING]


def reproduced_alone(
    report: Report, tmp_path: Path, selection: list[str], *, ran: int, collected: int
) -> None:
    """Healed: the baseline ran `selection` alone (`ran` tests), the final gate everything."""
    assert report.status is Status.HEALED, report.detail
    before = report.gate_before
    assert before is not None and before.partial
    assert before.steps[0].selection == selection and before.steps[0].tests_run == ran
    after = report.gate_after
    assert after is not None and after.green and not after.partial
    assert after.steps[0].evidence is not None
    assert after.steps[0].evidence.collected == collected


def _red_run_in(repo: Path) -> None:
    """The developer's own pytest run in the checkout, red: pytest records what failed."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], cwd=repo, env=env, capture_output=True, check=False
    )
    assert done.returncode == 1, done.stdout


def test_pytests_last_red_run_in_the_checkout_names_the_tests_to_reproduce(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    _red_run_in(repo)
    report, _ = heal(repo, tmp_path)
    reproduced_alone(report, tmp_path, [FAILING], ran=1, collected=32)
    transcript = (tmp_path / "report" / "transcript.jsonl").read_text()
    assert "pytest's last run in the checkout" in transcript


def test_a_stale_record_of_pytests_last_run_falls_back_to_the_whole_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(CALC)
    cache = repo / ".pytest_cache" / "v" / "cache"
    cache.mkdir(parents=True)
    (repo / ".pytest_cache" / ".gitignore").write_text("*\n")
    (cache / "lastfailed").write_text('{"tests/test_more.py::test_3": true}')
    report, _ = heal(repo, tmp_path)
    assert report.status is Status.HEALED, report.detail
    assert report.gate_before is not None and not report.gate_before.partial
    assert [f.test_id for f in report.failures] == [FAILING]


def test_heal_takes_the_failing_tests_on_the_command_line() -> None:
    args = build_parser().parse_args(["heal", "--tests", FAILING, "tests/a.py::test_b[1 2]"])
    assert args.tests == [FAILING, "tests/a.py::test_b[1 2]"]
    assert build_parser().parse_args(["heal"]).tests is None
    assert (FIXTURES / "ci-logs" / "pytest-job.log").is_file()  # the recorded log's home


# --- the test files of what the red commit changed (bot/fix/suspects.py) ---------------------

OTHER = {
    "calc/other.py": "def double(x):\n    return 2 * x\n",
    "tests/test_other.py": "from calc.other import double\n\n\ndef test_double():\n"
    "    assert double(2) == 4\n",
}


def _commit(repo: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (repo / path).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "-qm",
            message,
        ],
        check=True,
    )


def test_the_commit_that_broke_a_module_names_its_tests_to_reproduce(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({**CALC, **OTHER, "calc/ops.py": FIXED})
    _commit(repo, {"calc/ops.py": calc.BROKEN}, "a change to clamp")
    report, agent = heal(repo, tmp_path)
    # That file's two tests, not the other 31; the fix gated on all 33.
    reproduced_alone(report, tmp_path, ["tests/test_ops.py"], ran=2, collected=33)
    assert [f.test_id for f in agent.requests[0].failures] == [FAILING]
    transcript = (tmp_path / "report" / "transcript.jsonl").read_text()
    assert "the test files of what the commit changed" in transcript


def test_a_commit_that_points_elsewhere_falls_back_to_the_whole_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # clamp broke in the first commit; the last one changed calc/other.py, whose tests pass.
    repo = make_repo({**CALC, **OTHER})
    _commit(repo, {"calc/other.py": "def double(x):\n    return x + x\n"}, "another change")
    report, _ = heal(repo, tmp_path)
    assert report.status is Status.HEALED, report.detail
    before = report.gate_before
    assert before is not None and not before.partial
    assert before.steps[0].tests_run == 33
    assert [f.test_id for f in report.failures] == [FAILING]
    # The guess ran first (tests/test_other.py, green) and was not taken as the reproduction.
    transcript = (tmp_path / "report" / "transcript.jsonl").read_text()
    assert '"ids": ["tests/test_other.py"]' in transcript


# --- nothing names the failure: a large suite stops at its first -----------------------------

MANY = (
    "import pytest\n\n\n@pytest.mark.parametrize('i', range(1200))\ndef test_many(i):\n    pass\n"
)


def test_a_large_suite_with_nothing_naming_its_failure_stops_at_the_first_then_gates_in_full(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({**CALC, "tests/test_zmany.py": MANY})
    _commit(repo, {"NOTES.md": "a later change\n"}, "notes")  # points at no test
    report, agent = heal(repo, tmp_path)
    assert report.status is Status.HEALED, report.detail
    before = report.gate_before
    assert before is not None and not before.partial  # every test collected, in order
    (step,) = before.steps
    assert step.evidence is not None and step.evidence.cut_short
    assert step.evidence.collected == 1232
    assert step.tests_run is not None and step.tests_run < 40  # test_zmany's 1,200 never ran
    assert "stopped at its first failure" in step.note
    assert [f.test_id for f in agent.requests[0].failures] == [FAILING]
    # The fix is judged by the whole gate, against the collected count of that run.
    after = report.gate_after
    assert after is not None and after.green and not after.partial
    assert after.steps[0].evidence is not None
    assert after.steps[0].evidence.collected == 1232
    assert after.steps[0].evidence.watched == {FAILING: "passed"}
    assert after.steps[0].tests_run == 1232


def test_a_first_failure_that_is_flaky_sends_the_heal_to_the_whole_gate(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # The first test to fail fails once only; the real failure comes after it. A heal that
    # stopped at the flaky one would say "flaky, nothing to fix" and miss the bug.
    flag = tmp_path / "failed-once"
    flaky = (
        "from pathlib import Path\n\n\ndef test_once():\n"
        f"    flag = Path({str(flag)!r})\n"
        "    if not flag.exists():\n        flag.touch()\n        assert False, 'first run'\n"
    )
    repo = make_repo({**CALC, "tests/test_aflaky.py": flaky, "tests/test_zmany.py": MANY})
    _commit(repo, {"NOTES.md": "a later change\n"}, "notes")
    report, agent = heal(repo, tmp_path)
    assert report.status is Status.HEALED, report.detail
    assert [f.test_id for f in report.flaky] == ["tests/test_aflaky.py::test_once"]
    assert [f.test_id for f in agent.requests[0].failures] == [FAILING]
    before = report.gate_before
    assert before is not None and before.steps[0].evidence is not None
    assert not before.steps[0].evidence.cut_short
    assert before.steps[0].tests_run == 1233
