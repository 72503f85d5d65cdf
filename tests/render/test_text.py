"""The one capping function every report, prompt and tool result goes through."""

from __future__ import annotations

import re

import pytest

from bot.render.text import cap_text


@pytest.mark.parametrize("share", [0.0, 0.25, 1 / 3, 0.5, 1.0])
@pytest.mark.parametrize("cap", [0, 5, 40, 41, 100, 1000])
def test_never_longer_than_the_cap_and_says_how_much_was_cut(share: float, cap: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    capped = cap_text(text, cap, head_share=share)
    assert len(capped) <= cap
    marker = re.search(r"\[\.\.\. (\d+) characters cut \.\.\.\]", capped)
    if marker:
        kept = len(capped) - len(marker.group(0)) - capped.count("\n")
        assert int(marker.group(1)) == len(text) - kept


def test_head_and_tail_come_from_the_right_ends() -> None:
    text = "H" * 3000 + "T" * 3000
    both = cap_text(text, 600, head_share=0.25)
    assert both.startswith("H")
    assert both.endswith("T")
    assert cap_text(text, 600, head_share=1.0).startswith("HHH")
    assert cap_text(text, 600, head_share=0.0).endswith("TTT")
    assert cap_text("short", 600) == "short"
