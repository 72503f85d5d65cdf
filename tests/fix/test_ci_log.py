from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.fix.ci_log import (
    MAX_NAMED_TESTS,
    JobLog,
    ci_failure,
    ci_log_excerpt,
    clean_log,
    failing_test_ids,
    last_failed_ids,
)
from tests.conftest import FIXTURES

LOG = (
    "\ufeff2026-11-21T10:00:00.1234567Z ##[group]Run actions/checkout@v4\n"
    "2026-11-21T10:00:00.2Z checking out\n"
    "2026-11-21T10:00:01.0Z ##[endgroup]\n"
    "2026-11-21T10:00:02.0Z ##[group]Run pytest\n"
    "2026-11-21T10:00:03.0Z \x1b[31mFAILED\x1b[0m tests/test_a.py::test_x - assert 1 == 2\n"
    "2026-11-21T10:00:03.5Z ##[error]Process completed with exit code 1.\n"
    "2026-11-21T10:00:04.0Z Post job cleanup.\n"
)


def test_clean_log_drops_timestamps_colours_and_group_markers() -> None:
    text = clean_log(LOG)
    assert "2026-11-21" not in text
    assert "\x1b" not in text
    assert "FAILED tests/test_a.py::test_x - assert 1 == 2" in text
    assert "Run pytest" in text and "##[group]" not in text


def test_excerpt_ends_at_the_failure_and_names_the_step() -> None:
    text = ci_log_excerpt([JobLog("test", ("pytest",), LOG)], 2000)
    assert text.startswith("Job 'test', failed step(s): pytest\n")
    assert text.rstrip().endswith("Process completed with exit code 1.")
    assert "Post job cleanup" not in text


def test_excerpt_keeps_the_tail_within_budget() -> None:
    noise = "".join(f"2026-11-21T10:00:00Z line {i}\n" for i in range(10_000))
    text = ci_log_excerpt(
        [JobLog("a", (), noise + LOG), JobLog("b", ("lint",), "E501 too long\n")], 3000
    )
    assert len(text) <= 3000 + 200
    assert "FAILED tests/test_a.py" in text  # the end of job a survives the cut
    assert "E501 too long" in text
    assert ci_log_excerpt([], 100) == ""


# --- the failing tests a CI log names --------------------------------------------------------

RECORDED = FIXTURES / "ci-logs" / "pytest-job.log"  # a real pytest -n 2 -v --color=yes run


def test_failing_ids_from_a_recorded_job_log() -> None:
    text = RECORDED.read_text(encoding="utf-8")
    assert failing_test_ids(text) == [
        "tests/test_calc.py::test_sub",
        "tests/test_calc.py::TestDiv::test_zero",
        "tests/test_calc.py::test_split[a b]",  # a parametrization with a space
        "tests/test_calc.py::test_uses_db",  # ERROR: its fixture failed
    ]
    # The excerpt the loop gets (the tail of the failing step) still names them all.
    excerpt = ci_log_excerpt([JobLog("test", ("pytest",), text)], 3000)
    assert failing_test_ids(excerpt) == failing_test_ids(text)


def test_failing_ids_in_order_once_and_only_from_summary_lines() -> None:
    text = (
        "[gw0] [ 50%] FAILED tests/a.py::test_progress_line\n"
        "FAILED tests/a.py::test_x - assert 1 == 2\n"
        "FAILED tests/a.py::test_p[a - b] - ValueError: x - y\n"
        "FAILED tests/a.py::test_x - assert 1 == 2\n"
        "ERROR: file or directory not found: tests/b.py\n"
        "FAILED (failures=1)\n"
        "FAILED --pdb::x\n"
    )
    assert failing_test_ids(text) == ["tests/a.py::test_x", "tests/a.py::test_p[a - b]"]


def test_failing_ids_empty_when_the_log_cannot_name_every_failure() -> None:
    collection_error = "ERROR tests/test_b.py - ImportError: no module named b\n"
    assert failing_test_ids("FAILED tests/a.py::test_x\n" + collection_error) == []
    many = "".join(f"FAILED tests/a.py::test_{i}\n" for i in range(MAX_NAMED_TESTS + 1))
    assert failing_test_ids(many) == []
    assert failing_test_ids(f"FAILED tests/a.py::test_{'x' * 600}\n") == []
    assert failing_test_ids("all 12 tests passed\n") == []


def test_a_failed_run_names_its_jobs_steps_and_the_command_that_failed() -> None:
    text = (FIXTURES / "ci-logs" / "pytest-job.log").read_text(encoding="utf-8")
    excerpt = ci_log_excerpt([JobLog("tests", ("Run tests",), text)], 20_000)
    failed = ci_failure(excerpt)
    assert failed.jobs == ("tests (failed step(s): Run tests)",)
    assert failed.commands == ("python -m pytest -n 2 -v --color=yes",)
    assert failed.gate_yaml() == (
        'gate:\n  - name: ci-1\n    run: "python -m pytest -n 2 -v --color=yes"\n'
    )
    assert ci_failure("").gate_yaml() == ""


def _last_failed(root: Path, text: str) -> Path:
    cache = root / ".pytest_cache" / "v" / "cache"
    cache.mkdir(parents=True)
    (cache / "lastfailed").write_text(text)
    return root


def test_last_failed_ids_read_pytests_own_record(tmp_path: Path) -> None:
    record = {"tests/a.py::test_x": True, "tests/a.py::test_p[1-2]": True}
    assert last_failed_ids(_last_failed(tmp_path, json.dumps(record))) == list(record)
    assert last_failed_ids(tmp_path / "nowhere") == []


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"tests/test_b.py": True}),  # a file that failed to collect
        json.dumps({f"tests/a.py::test_{i}": True for i in range(MAX_NAMED_TESTS + 1)}),
        json.dumps({"tests/a.py::test_x\nFAILED": True}),
        json.dumps(["tests/a.py::test_x"]),
        "{not json",
        json.dumps({f"tests/a.py::test_{'x' * 600}": True}),
    ],
)
def test_last_failed_ids_empty_for_anything_but_a_short_list_of_tests(
    tmp_path: Path, text: str
) -> None:
    assert last_failed_ids(_last_failed(tmp_path, text)) == []


def test_last_failed_ids_follow_no_link_and_read_no_huge_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"tests/a.py::test_x": True}))
    linked = tmp_path / "linked"
    (linked / ".pytest_cache" / "v" / "cache").mkdir(parents=True)
    (linked / ".pytest_cache" / "v" / "cache" / "lastfailed").symlink_to(target)
    assert last_failed_ids(linked) == []
    huge = json.dumps({"tests/a.py::test_x": True, "pad": "x" * (2 << 20)})
    assert last_failed_ids(_last_failed(tmp_path / "huge", huge)) == []
