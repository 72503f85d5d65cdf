from __future__ import annotations

from bot.fix.ci_log import JobLog, ci_log_excerpt, clean_log

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
