"""branch_name_problem: git's ref rules, and names that would read as another one."""

from __future__ import annotations

import pytest

from bot.github.refs import branch_name_problem


@pytest.mark.parametrize(
    "name", ["main", "master", "feature/x-1", "release/1.2", "fix_ünïcode", "a@b", "v1.0-rc.1"]
)
def test_ordinary_branch_names_pass(name: str) -> None:
    assert branch_name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        "../../x",
        "a..b",
        "x.lock",
        "a/b.lock/c",
        ".hidden",
        "a/.b",
        "/a",
        "a/",
        "a//b",
        "a.",
        "HEAD",
        "@",
        "a@{b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[b",
        "a\\b",
        "a\x00b",
        "a\x7fb",
        "a\tb",
        "a\u202eb",  # right-to-left override
        "a\u200bb",  # zero-width space
        "a\u00a0b",  # no-break space
        "a\ud800",  # a lone surrogate from JSON's \ud800
        "x" * 256,
        "é" * 128,  # 256 bytes in UTF-8
    ],
)
def test_unsafe_branch_names_are_named(name: str) -> None:
    problem = branch_name_problem(name)
    assert problem is not None and "\n" not in problem


def test_the_length_limit_is_255_bytes() -> None:
    assert branch_name_problem("x" * 255) is None
    assert branch_name_problem("é" * 127) is None
