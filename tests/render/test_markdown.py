from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bot.render.markdown import render_markdown, status_line
from bot.render.text import ZWJ
from bot.report import (
    Attempt,
    Category,
    Failure,
    FileChange,
    GuardVerdict,
    Report,
    Status,
    StepStatus,
    StopReason,
)
from tests.render import reports
from tests.render.reports import HOSTILE, LINT, gate, step

_FENCE_OPEN = re.compile(r"^(`{3,})[^`]*$")


def split_fences(md: str) -> tuple[str, list[str]]:
    """(text outside fenced code, bodies of the fenced blocks) the way CommonMark sees them."""
    outside: list[str] = []
    bodies: list[str] = []
    fence: str | None = None
    body: list[str] = []
    for line in md.split("\n"):
        if fence is None:
            match = _FENCE_OPEN.match(line)
            if match:
                fence, body = match.group(1), []
            else:
                outside.append(line)
        elif re.fullmatch(rf"`{{{len(fence)},}}\s*", line):
            bodies.append("\n".join(body))
            fence = None
        else:
            body.append(line)
    assert fence is None, "a fence was left open"
    return "\n".join(outside), bodies


def tables(md: str) -> list[list[str]]:
    outside, _ = split_fences(md)
    found: list[list[str]] = []
    current: list[str] = []
    for line in [*outside.split("\n"), ""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def cells(row: str) -> int:
    """Cells in a GFM table row: pipes not escaped by a backslash split them."""
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def without_code_spans(text: str) -> str:
    """`text` with inline code spans removed (their content is literal: no HTML, no pings)."""
    text = text.replace("\\\\", "").replace("\\`", "")
    out: list[str] = []
    pos = 0
    for run in re.finditer(r"`+", text):
        if run.start() < pos:
            continue
        closing = re.compile(rf"(?<!`){run.group()}(?!`)").search(text, run.end())
        if closing is None:
            continue
        out.append(text[pos : run.start()])
        pos = closing.end()
    out.append(text[pos:])
    return "".join(out)


def assert_well_formed(md: str) -> None:
    outside, _ = split_fences(md)
    # Our inline content is always one line, so code spans never cross a line.
    outside = "\n".join(without_code_spans(line) for line in outside.split("\n"))
    for table in tables(md):
        width = cells(table[0])
        assert all(cells(row) == width for row in table), table
    # Only our own <details>/<summary> tags are live HTML; nothing else opens a tag.
    tags = re.findall(r"<(/?)([A-Za-z!][^>\s]*)", outside)
    assert {name for _, name in tags} <= {"details", "summary"}, tags
    assert outside.count("<details>") == outside.count("</details>")
    assert "@someone" not in outside
    assert "<!--" not in outside


@pytest.mark.parametrize(
    ("build", "first"),
    [
        (
            reports.healed,
            "**selfheal: healed** - 2 failures fixed in 2 attempts"
            " (ruff check --fix, ruff format, command agent); gate green.",
        ),
        (
            reports.stuck,
            "**selfheal: gave up** - stopped after 2 attempts, stuck: the same failures came"
            " back; 1 failure still failing."
            " The same failure signature came back after attempt 2.",
        ),
        (
            reports.refused,
            "**selfheal: refused** - a guard refused the change"
            " (protected-paths: touches a protected path).",
        ),
        (
            reports.flaky,
            "**selfheal: flaky** - 1 test failed, then passed on a rerun;"
            " nothing was handed to a fixer.",
        ),
        (reports.green, "**selfheal: green** - the gate passed; nothing to do."),
        (
            reports.implemented,
            "**selfheal: proposed** - issue #42 implemented in 1 attempt (command agent);"
            " gate green.",
        ),
    ],
)
def test_status_line_comes_first(build: Callable[[], Report], first: str) -> None:
    report = build()
    md = render_markdown(report)
    assert md.split("\n")[0] == first
    assert status_line(report) == first
    assert_well_formed(md)


def test_gave_up_at_the_attempt_cap_names_the_cap() -> None:
    report = reports.stuck().model_copy(
        update={"stop_reason": StopReason.ATTEMPT_CAP, "detail": "", "max_attempts": 2}
    )
    assert status_line(report) == (
        "**selfheal: gave up** - stopped after 2 attempts, reached the attempt cap (2);"
        " 1 failure still failing."
    )


def test_budget_and_error_lines() -> None:
    budget = reports.stuck().model_copy(update={"stop_reason": StopReason.BUDGET, "detail": ""})
    assert "the time budget ran out" in status_line(budget)
    error = reports.report(status=Status.ERROR, detail="git crashed")
    assert status_line(error) == (
        "**selfheal: error** - the run stopped on an internal error. git crashed"
    )


def test_agent_note_sits_under_the_status_line() -> None:
    lines = render_markdown(reports.healed()).split("\n")
    assert lines[1] == ""
    assert lines[2] == "> Note: scripted: this agent replays a known fix"
    assert "> Note" not in render_markdown(reports.stuck())


def test_gate_table_before_and_after() -> None:
    md = render_markdown(reports.healed())
    assert "| step | before | after |" in md
    assert "| `ruff` | **failed**, 0.3 s, 1 failure | **passed**, 0.2 s |" in md
    assert (
        "| `pytest` | **failed**, 2.5 s, 12 tests, 1 failure | **passed**, 2.4 s, 12 tests |"
    ) in md
    # Without a final gate the after column says so.
    assert "| `pytest` | **failed**, 2.5 s, 12 tests, 1 failure | not run |" in render_markdown(
        reports.stuck()
    )


def test_failures_by_category() -> None:
    md = render_markdown(reports.healed())
    assert "| category | count | examples |" in md
    assert "| lint | 1 | `src/calc.py:1` `F401` \\`os\\` imported but unused |" in md
    assert "| assertion | 1 | `tests/test_calc.py::test_add` `AssertionError` assert 3 == 4 |" in md
    many = [LINT.model_copy(update={"line": n, "signature": f"s{n}"}) for n in range(1, 6)]
    md = render_markdown(reports.stuck().model_copy(update={"failures": many}))
    row = next(line for line in md.split("\n") if line.startswith("| lint |"))
    assert row.startswith("| lint | 5 | `src/calc.py:1`")
    assert "`src/calc.py:4`" not in row
    assert row.endswith("; and 2 more |")


def test_flaky_tests_listed_apart_and_not_as_failures() -> None:
    md = render_markdown(reports.flaky())
    assert "Flaky (1 test failed, then passed on a rerun; not handed to a fixer):" in md
    assert "- `tests/test_net.py::test_ping`" in md
    assert "| category |" not in md


def test_attempt_rows() -> None:
    md = render_markdown(reports.healed())
    assert (
        "| # | fixers | files changed | +/- | duration | outcome | still failing | guard refusals |"
    ) in md
    assert (
        "| 1 | ruff check --fix, ruff format | 1: `src/calc.py` | +0 / -1 | 0.5 s | failing"
        " | 1: `tests/test_calc.py::test_add` | none |"
    ) in md
    assert (
        "| 2 | command agent | 2: `src/calc.py`, `src/util.py` | +5 / -1 | 10.0 s | green"
        " | none | none |"
    ) in md
    assert "<details><summary>Attempt 2: what command said</summary>" in md
    assert "Fixed add() to return the sum." in md


def test_refusals_are_listed_with_reasons() -> None:
    md = render_markdown(reports.refused())
    assert (
        "- Attempt 1: **protected-paths** refused: touches a protected path"
        " (`.github/workflows/ci.yml`)"
    ) in md
    row = next(line for line in md.split("\n") if line.startswith("| 1 |"))
    assert "| refused |" in row
    assert row.endswith("| protected-paths: touches a protected path |")
    assert "+4 / -9" in row


def test_all_guards_passed_and_no_guard_ran() -> None:
    assert "All guards passed (2 checks over 2 attempts)." in render_markdown(reports.healed())
    assert "No diff was checked by the guards." in render_markdown(reports.green())


def test_proposal_pushed_not_pushed_and_none() -> None:
    assert "Branch `selfheal/heal-1`, commit `bbbbbbbbbbbb`, pushed to `origin`." in (
        render_markdown(reports.healed())
    )
    assert "Branch `selfheal/issue-42`, commit `cccccccccccc`, not pushed: rejected." in (
        render_markdown(reports.implemented())
    )
    assert "### Proposal\n\nNothing proposed.\n" in render_markdown(reports.stuck())


def test_timings_memory_and_artifacts() -> None:
    md = render_markdown(reports.healed())
    assert "| fix loop | 10.5 s |" in md
    assert "| total | 1 min 15 s |" in md
    assert "Peak memory (RSS): 88.2 MB." in md
    assert "- fix.patch: `.selfheal/fix.patch`" in md
    assert "No timings recorded." in render_markdown(reports.green())


def test_metadata_and_issue_line() -> None:
    md = render_markdown(reports.implemented())
    assert "mode implement · repo `octo/calc` · base `main` at `aaaaaaaaaaaa`" in md
    assert "Issue #42: Add subtraction" in md


def test_mermaid_block_is_embedded() -> None:
    _, bodies = split_fences(render_markdown(reports.healed()))
    chart = next(b for b in bodies if b.startswith("flowchart TD"))
    assert 'a2["attempt 2: command agent - green"]' in chart
    assert "```mermaid\nflowchart TD" in render_markdown(reports.healed())


def test_failing_logs_are_folded_with_verification_runs() -> None:
    md = render_markdown(reports.healed())
    assert "<details><summary>ruff: failed (gate before)</summary>" in md
    assert "<details><summary>pytest: failed (gate before)</summary>" in md
    assert "<details><summary>pytest: failed (attempt 1 check)</summary>" in md
    _, bodies = split_fences(md)
    assert "E  assert 3 == 4 (verify)" in bodies
    assert "src/calc.py:1:8: F401" in bodies
    # Passing steps have no log section.
    assert "(gate after)" not in md
    assert "No failing step output." in render_markdown(reports.green())


def test_logs_are_capped_head_and_tail() -> None:
    log = "HEAD-LINE\n" + "x" * 100_000 + "\nTAIL-LINE"
    report = reports.stuck().model_copy(
        update={"gate_before": gate("before", step("pytest", StepStatus.FAILED, output=log))}
    )
    _, bodies = split_fences(render_markdown(report, log_cap=1000))
    body = next(b for b in bodies if "TAIL-LINE" in b)
    assert body.startswith("HEAD-LINE")
    assert "characters cut ...]" in body
    assert len(body) <= 1000 + 60


def test_log_content_cannot_break_out_of_its_fence() -> None:
    log = "before\n```\n</details>\n`````\n<!-- x --> @someone\nafter"
    report = reports.stuck().model_copy(
        update={"gate_before": gate("before", step("pytest", StepStatus.FAILED, output=log))}
    )
    md = render_markdown(report)
    assert "``````\n" + log + "\n``````" in md
    _, bodies = split_fences(md)
    assert log in bodies
    assert_well_formed(md)


def test_hostile_text_does_not_break_the_structure() -> None:
    bad = Failure(
        step=HOSTILE,
        category=Category.ERROR,
        message=HOSTILE,
        file=HOSTILE,
        line=3,
        rule=HOSTILE,
        signature="hostile",
    )
    attempt = Attempt(
        number=1,
        fixers=[HOSTILE],
        agent=HOSTILE,
        agent_summary=HOSTILE,
        changes=[FileChange(path=HOSTILE, added=1)],
        guards=[GuardVerdict(guard=HOSTILE, ok=False, reason=HOSTILE, file=HOSTILE)],
        refused=True,
        remaining=[bad],
        outcome="refused",
    )
    report = reports.report(
        status=Status.REFUSED,
        detail=HOSTILE,
        agent_note=HOSTILE,
        repo=HOSTILE,
        base_ref=HOSTILE,
        gate_before=gate(
            "before",
            step("pytest", StepStatus.FAILED, bad, output=HOSTILE).model_copy(
                update={"name": HOSTILE}
            ),
        ),
        failures=[bad],
        attempts=[attempt],
        timings={HOSTILE: 1.0},
        artifacts={HOSTILE: HOSTILE},
    )
    md = render_markdown(report)
    assert_well_formed(md)
    assert md.startswith("**selfheal: refused** - a guard refused the change (")
    assert f"@{ZWJ}someone" in md
    assert "pipe \\| here new line &lt;/details&gt; &lt;!-- hidden --&gt;" in md
    assert f"owner/repo#{ZWJ}12" in md
    assert "\\[link\\](javascript:alert(1))" in md
    summary = next(line for line in md.split("\n") if "(gate before)</summary>" in line)
    assert "&lt;/details&gt;" in summary
    assert f"@{ZWJ}someone &#96;&#96;&#96; fence" in summary
    # The hostile log still shows in full, inside its fence.
    _, bodies = split_fences(md)
    assert HOSTILE in bodies


def test_max_chars_shrinks_then_drops_logs() -> None:
    big = "y" * 50_000
    report = reports.stuck().model_copy(
        update={"gate_before": gate("before", step("pytest", StepStatus.FAILED, output=big))}
    )
    assert len(render_markdown(report)) > 20_000
    fitted = render_markdown(report, max_chars=8_000)
    assert len(fitted) <= 8_000
    assert "characters cut" in fitted
    without_logs = render_markdown(report, max_chars=1)
    assert "Logs left out to keep this short." in without_logs
    assert "yyy" not in without_logs
    assert render_markdown(report, max_chars=len(without_logs) + 100) == without_logs


def test_round_trips_through_json() -> None:
    report = reports.healed()
    again = Report.model_validate_json(report.model_dump_json())
    assert render_markdown(again) == render_markdown(report)


def test_failures_fall_back_to_the_gate_when_the_loop_recorded_none() -> None:
    report = reports.report(status=Status.GAVE_UP, gate_before=reports.red_gate())
    md = render_markdown(report)
    assert status_line(report) == (
        "**selfheal: gave up** - stopped after 0 attempts; 2 failures still failing."
    )
    assert "| lint | 1 |" in md
    assert "| assertion | 1 |" in md


def test_changes_to_tests_the_guards_let_through_come_before_the_gate() -> None:
    healed = reports.healed()
    kept = healed.attempts[-1].model_copy(
        update={
            "guards": [
                GuardVerdict(guard="test-changes", ok=True, reason="adds test_edge in tests/t.py"),
                GuardVerdict(guard="test-spec", ok=True, reason="not checked: implementing"),
            ]
        }
    )
    dropped = healed.attempts[0].model_copy(
        update={
            "outcome": "refused",
            "guards": [GuardVerdict(guard="test-changes", ok=True, reason="rolled back")],
        }
    )
    md = render_markdown(healed.model_copy(update={"attempts": [dropped, kept]}))
    section = md.split("### Changes to tests: review these\n\n", 1)[1].split("\n\n")[0]
    assert section == f"- Attempt {kept.number}, **test-changes**: adds test\\_edge in tests/t.py"
    assert md.index("### Changes to tests") < md.index("### Gate")
    assert "### Changes to tests" not in render_markdown(reports.healed())


def test_not_reproduced_shows_the_gate_that_would_run_what_ci_ran() -> None:
    report = reports.green().model_copy(
        update={
            "status": Status.NOT_REPRODUCED,
            "detail": "CI failed (lint), but the gate is green on this commit",
            "suggested_gate": 'gate:\n  - name: ci-1\n    run: "mypy --strict calc"\n',
        }
    )
    md = render_markdown(report)
    assert md.startswith("**selfheal: not reproduced** - the gate is green on this commit")
    block = md.split("### A gate that would run what CI ran\n\n", 1)[1]
    assert block.startswith('```yaml\ngate:\n  - name: ci-1\n    run: "mypy --strict calc"\n')
