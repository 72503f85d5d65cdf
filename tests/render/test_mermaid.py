from __future__ import annotations

import re

from bot.render.mermaid import attempts_flowchart, label
from bot.report import Attempt, Status, StopReason
from tests.render import reports
from tests.render.reports import HOSTILE

# A node line: an id, then a quoted label in a rectangle, rhombus or stadium.
_NODE = re.compile(
    r'^  (\w+)(\["[^"\[\]{}()<>`#;|]*"\]|\{"[^"\[\]{}()<>`#;|]*"\}|\(\["[^"\[\]{}()<>`#;|]*"\]\))$'
)


def nodes(chart: str) -> dict[str, str]:
    found = {}
    for line in chart.splitlines()[1:]:
        match = _NODE.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def edges(chart: str) -> list[tuple[str, str]]:
    return re.findall(r"^  (\w+) --> (\w+)$", chart, flags=re.M)


def test_healed_run_is_a_chain_of_attempts() -> None:
    chart = attempts_flowchart(reports.healed())
    assert chart.startswith("flowchart TD\n")
    assert nodes(chart) == {
        "before": '["gate before: 2 failing"]',
        "a1": '["attempt 1: ruff check --fix, ruff format - 1 still failing"]',
        "a2": '["attempt 2: command agent - green"]',
        "result": '(["healed"])',
    }
    assert edges(chart) == [("before", "a1"), ("a1", "a2"), ("a2", "result")]
    assert "  class a2,result ok" in chart
    assert "  class before bad" in chart


def test_refused_attempt_is_drawn_as_refused() -> None:
    chart = attempts_flowchart(reports.refused())
    assert nodes(chart)["a1"] == '["attempt 1: command agent - refused by protected-paths"]'
    assert nodes(chart)["result"] == '(["refused by a guard"])'
    assert "  class a1 refused" in chart


def test_flaky_check_sits_between_gate_and_result() -> None:
    chart = attempts_flowchart(reports.flaky())
    assert nodes(chart)["flaky"] == '{"flaky check: 1 flaky"}'
    assert edges(chart) == [("before", "flaky"), ("flaky", "result")]
    assert nodes(chart)["result"] == '(["flaky, nothing to fix"])'


def test_gave_up_names_the_stop_reason() -> None:
    chart = attempts_flowchart(reports.stuck())
    assert nodes(chart)["result"] == '(["gave up: stuck"])'
    capped = reports.stuck().model_copy(update={"stop_reason": StopReason.ATTEMPT_CAP})
    assert nodes(attempts_flowchart(capped))["result"] == '(["gave up: attempt cap"])'


def test_green_and_not_run() -> None:
    chart = attempts_flowchart(reports.green())
    assert nodes(chart) == {
        "before": '["gate before: green"]',
        "result": '(["green, nothing to do"])',
    }
    early = reports.report(status=Status.ERROR)
    assert nodes(attempts_flowchart(early))["before"] == '["gate not run"]'


def test_untrusted_text_cannot_escape_a_label() -> None:
    attempt = Attempt(number=1, fixers=['x"] --> evil[("pwn', HOSTILE], outcome="no_change")
    chart = attempts_flowchart(reports.report(status=Status.GAVE_UP, attempts=[attempt]))
    lines = chart.splitlines()
    node_lines = [line for line in lines[1:] if "-->" not in line and "class" not in line]
    # Every node line parses as one node with one clean label; no extra node or edge appeared.
    assert all(_NODE.match(line) for line in node_lines), node_lines
    assert set(nodes(chart)) == {"before", "a1", "result"}
    assert edges(chart) == [("before", "a1"), ("a1", "result")]
    assert "evil" in nodes(chart)["a1"]


def test_label_is_one_capped_line() -> None:
    assert label('a "b"\n[c] {d} <e> `f` #35; g|h') == '"a b c d e f 35 g h"'
    long = label("word " * 100)
    assert len(long) <= 72
    assert long.endswith('..."')
