"""bot.progress and bot.lines: what a line of step output becomes on its way to a live log,
with real child processes where output comes from one."""

from __future__ import annotations

import base64
import io
import sys
import textwrap
from pathlib import Path

import pytest

from bot.github.actions import Runner
from bot.lines import MAX_LINE_BYTES
from bot.proc import run_process
from bot.progress import LoopProgress, current_steps, loop_progress
from bot.progress.actions import ActionsSteps, SummaryStages
from bot.progress.text import StepEnd, StepLog, StreamCap, defuse, inert
from tests.fakes.actions_log import commands, groups

PY = sys.executable
SECRET = "Zq9-secret-value-41"


def python(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def lines_of(argv: list[str], tmp_path: Path, **kwargs: object) -> tuple[list[str], str]:
    seen: list[str] = []
    result = run_process(argv, tmp_path, on_line=seen.append, **kwargs)  # type: ignore[arg-type]
    return seen, result.stdout


# --- run_process's line callback ----------------------------------------------------------


def test_lines_come_as_printed_and_the_capture_is_unchanged(tmp_path: Path) -> None:
    code = """
        import sys, time
        print("one", flush=True)
        sys.stdout.write("two, in two "); sys.stdout.flush(); time.sleep(0.05)
        print("writes\\r\\nthree", flush=True)
        print("on stderr", file=sys.stderr, flush=True)
        sys.stdout.write("no newline at the end")
    """
    seen, streamed = lines_of(python(code), tmp_path)
    # Each stream in its own order (the two pipes race each other).
    assert [line for line in seen if line != "on stderr"] == [
        "one",
        "two, in two writes",
        "three",
        "no newline at the end",
    ]
    assert "on stderr" in seen
    quiet = run_process(python(code), tmp_path)
    assert streamed == quiet.stdout


def test_a_secret_is_redacted_in_each_encoding_and_each_line_of_a_multiline_one(
    tmp_path: Path,
) -> None:
    pem = "-----BEGIN KEY-----\nAAAAlineONEofthekey\nBBBBlineTWOofthekey\n-----END KEY-----"
    code = f"""
        import base64
        s = {SECRET!r}
        print(s, base64.b64encode(s.encode()).decode(), s.encode().hex(), s[::-1])
        print({pem!r})
    """
    seen, _ = lines_of(python(code), tmp_path, redact_values=[SECRET, pem])
    text = "\n".join(seen)
    assert seen[0] == "*** *** *** ***"
    for form in (SECRET, base64.b64encode(SECRET.encode()).decode(), "lineONEofthekey"):
        assert form not in text
    assert "lineTWO" not in text


def test_a_long_line_is_cut_without_the_first_part_of_a_secret(tmp_path: Path) -> None:
    # The cut falls inside the secret: what is shown must not end in its first characters.
    pad = MAX_LINE_BYTES - 6
    code = f"print('a' * {pad} + {SECRET!r} + 'b' * 20000); print('next line')"
    seen, stdout = lines_of(python(code), tmp_path, redact_values=[SECRET])
    cut, following = seen
    kept = cut.removesuffix(" [... line cut by selfheal]")
    assert kept != cut
    assert SECRET[:3] not in kept and set(kept) == {"a"}
    assert following == "next line"
    assert SECRET not in stdout and "***" in stdout  # the capture redacts as it did


def test_a_view_that_fails_stops_being_told_and_the_step_runs_on(tmp_path: Path) -> None:
    told: list[str] = []

    def broken(line: str) -> None:
        told.append(line)
        raise BrokenPipeError("stdout closed")

    result = run_process(python("for i in range(5000): print(i)"), tmp_path, on_line=broken)
    assert result.returncode == 0
    assert told == ["0"]
    assert result.stdout.splitlines()[-1] == "4999"


# --- pure formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("::error::x", "> ::error::x"),
        ("  \t::add-mask::x", ">       ::add-mask::x"),
        ("\u00a0::warning::x", "> \u00a0::warning::x"),
        ("progress 10%\rprogress 100%\r", "progress 100%"),
        ("text\r::notice::x", "> ::notice::x"),
        ("a ##[error]b", "a # #[error]b"),
        ("a\u2028::error::b", "a ::error::b"),
        ("\x1b[31mred\x1b[0m", "\x1b[31mred\x1b[0m"),
        ("ok: a::b", "ok: a::b"),
    ],
)
def test_defuse(line: str, shown: str) -> None:
    assert defuse(line) == shown


def test_inert_names() -> None:
    assert inert("lint\n::error::x") == "lint :error:x"
    assert inert("a::::b ##[x]") == "a:b # #[x]"
    assert len(inert("n" * 500, 80)) == 80


def test_a_step_log_shows_its_head_then_its_tail_and_counts_the_rest() -> None:
    log = StepLog(StreamCap(head_lines=3, head_bytes=1000, tail_lines=2))
    shown = [log.take(f"line {i}") for i in range(10)]
    assert shown[:3] == ["line 0", "line 1", "line 2"]
    assert shown[3:] == [None] * 7
    left, *tail = log.closing()
    assert tail == ["line 8", "line 9"]
    assert left.startswith("[... 5 lines (35 bytes)")


# --- the Actions log ----------------------------------------------------------------------


def test_steps_at_once_come_out_in_order_and_never_inside_each_other() -> None:
    out = io.StringIO()
    steps = ActionsSteps(0.0, out)
    steps.gate_started("gate 1", ["slow", "quick"])
    steps.step_started("slow")
    steps.step_started("quick")
    steps.step_line("quick", "quick 1")
    steps.step_line("slow", "slow 1")
    steps.step_ended(StepEnd("quick", "failed", 0.2, failures=2))
    steps.step_line("slow", "slow 2")
    steps.step_line("quick", "too late")  # after its end: dropped
    steps.step_ended(StepEnd("slow", "passed", 1.5))
    steps.gate_ended()
    log = out.getvalue()
    (slow_title, slow), (quick_title, quick) = groups(log)
    assert slow_title.startswith("slow [gate 1] (started at")
    assert slow == ["slow 1", "slow 2"]
    assert quick_title == "quick [gate 1]: failed, 2 failures, 0.2 s"
    assert quick == ["quick 1"]
    assert "slow [gate 1]: passed, 1.5 s" in log.splitlines()  # a live group's outcome
    names = [c.name for c in commands(log)]
    assert names == ["group", "stop-commands", "resume", "endgroup"] * 2
    tokens = {c.data for c in commands(log) if c.name == "stop-commands"}
    assert len(tokens) == 2 and all(len(t) == 32 for t in tokens)


def test_a_gate_that_ends_with_a_step_never_reported_still_closes_its_group() -> None:
    out = io.StringIO()
    steps = ActionsSteps(0.0, out)
    steps.gate_started("before", ["a", "b", "c"])
    steps.step_started("a")
    steps.step_line("a", "half")
    steps.step_ended(StepEnd("b", "needs_gpu", 0.0, failures=1))  # never started
    steps.gate_ended()  # a crashed: no end; c never came
    log = out.getvalue()
    assert [c.name for c in commands(log)] == ["group", "stop-commands", "resume", "endgroup"] * 2
    assert [title for title, _ in groups(log)][1] == "b [before]: needs gpu, 1 failure, 0.0 s"


def test_stages_are_a_list_in_the_step_summary_closed_before_the_report(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    runner = Runner({"GITHUB_STEP_SUMMARY": str(path)})
    stages = SummaryStages(runner, 0.0)
    stages("gate red: 2 failure(s)")
    stages("gave_up: <img src=x> @someone")
    stages.close()
    runner.summary("**selfheal: gave up** the report")
    text = path.read_text()
    head, first, second, end, report = text.splitlines()
    assert head == "### Progress"
    assert first.startswith("- `") and first.endswith("gate red: 2 failure(s)")
    assert "<img" not in second and "@someone" not in second
    assert end.startswith("<!--") and report.startswith("**selfheal")


def test_loop_progress_shows_gates_only_inside_its_block(tmp_path: Path) -> None:
    err, out = io.StringIO(), io.StringIO()
    said: list[str] = []
    shown = loop_progress(said.append, env={}, out=out, err=err)
    assert isinstance(shown, LoopProgress)
    with shown.shown():
        assert current_steps() is shown.steps
        shown("gate red: 1 failure(s)")
    assert current_steps() is None
    assert said == ["gate red: 1 failure(s)"]
    assert "] gate red: 1 failure(s)" in err.getvalue()
    assert out.getvalue() == ""
