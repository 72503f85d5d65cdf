from __future__ import annotations

from dataclasses import dataclass

from bot.render.comment import COMMENT_LIMIT, MARKER, find_sticky, render_comment, runs_so_far
from bot.report import Status, StopReason
from tests.render.reports import ASSERT, healed, red_gate, report


@dataclass(frozen=True)
class C:
    id: int
    body: str
    author_type: str


def test_only_a_bots_comment_with_the_marker_is_sticky() -> None:
    comments = [C(1, MARKER, "User"), C(2, "plain", "Bot"), C(3, f"x\n{MARKER}", "Bot")]
    assert find_sticky(comments) == comments[2]
    assert find_sticky(comments[:2]) is None


def test_run_count_round_trips_and_tolerates_garbage() -> None:
    assert runs_so_far(render_comment(healed(), runs=3)) == 3
    for body in (
        None,
        "",
        "<!-- selfheal:state {bad json} -->",
        '<!-- selfheal:state {"runs": "9"} -->',
        '<!-- selfheal:state {"runs": true} -->',
        '<!-- selfheal:state {"runs": -4} -->',
    ):
        assert runs_so_far(body) == 0
    assert runs_so_far('<!-- selfheal:state {"runs": 99999999999} -->') == 1_000_000


def test_comment_fits_githubs_limit_and_starts_with_the_marker() -> None:
    body = render_comment(healed(), runs=1, links=["Pull request: https://x/pull/1"])
    assert body.startswith(MARKER)
    assert "Pull request: https://x/pull/1" in body
    assert len(body) <= COMMENT_LIMIT


def test_giving_up_hands_over_what_was_tried_and_what_is_left() -> None:
    gave_up = healed().model_copy(
        update={
            "status": Status.GAVE_UP,
            "stop_reason": StopReason.ATTEMPT_CAP,
            "detail": "3 attempt(s) used; 1 failure(s) left",
        }
    )
    gave_up = gave_up.model_copy(
        update={
            "attempts": [a.model_copy(update={"remaining": [ASSERT]}) for a in gave_up.attempts]
        }
    )
    body = render_comment(gave_up, runs=1)
    assert "### Over to you" in body
    assert "- attempt 1: ruff check --fix, ruff format -> failing" in body
    assert "Still failing (1 failure):" in body
    assert "fix.patch" in body
    assert "Over to you" not in render_comment(report(gate_before=red_gate()), runs=1)


def test_a_huge_report_is_cut_to_fit() -> None:
    many = [
        ASSERT.model_copy(update={"message": "x" * 5000, "signature": str(i)}) for i in range(40)
    ]
    body = render_comment(report(status=Status.GAVE_UP, failures=many), runs=1)
    assert len(body) <= COMMENT_LIMIT
