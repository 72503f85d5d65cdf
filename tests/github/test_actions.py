"""The runner I/O: outputs, summary and workflow commands, with untrusted values."""

from __future__ import annotations

import io
from pathlib import Path

from bot.github.actions import SUMMARY_LIMIT, Runner
from tests.github_env import read_outputs


def test_outputs_survive_newlines_and_fake_delimiters(tmp_path: Path) -> None:
    out = tmp_path / "output"
    runner = Runner({"GITHUB_OUTPUT": str(out)})
    hostile = "line1\nEOF\nstatus=healed\nghadelimiter_0\n"
    runner.set_outputs({"reason": hostile, "status": "gave_up"})
    runner.set_outputs({"branch": "selfheal/heal-abc1234"})
    assert read_outputs(out) == {
        "reason": hostile,
        "status": "gave_up",
        "branch": "selfheal/heal-abc1234",
    }


def test_no_runner_no_files_no_commands(tmp_path: Path) -> None:
    stdout = io.StringIO()
    runner = Runner({}, out=stdout)
    runner.set_outputs({"a": "b"})
    runner.summary("# hi")
    runner.error("boom", file="a.py", line=3)
    runner.mask("secret")
    assert stdout.getvalue() == ""
    assert list(tmp_path.iterdir()) == []


def test_workflow_commands_are_escaped() -> None:
    stdout = io.StringIO()
    runner = Runner({"GITHUB_ACTIONS": "true"}, out=stdout)
    runner.error("50% done\n::warning::injected", file="a,b:c.py", line=7)
    runner.mask("tok1\ntok2")
    assert stdout.getvalue().splitlines() == [
        "::error file=a%2Cb%3Ac.py,line=7::50%25 done%0A::warning::injected",
        "::add-mask::tok1",
        "::add-mask::tok2",
    ]


def test_summary_is_appended_and_capped(tmp_path: Path) -> None:
    path = tmp_path / "summary"
    runner = Runner({"GITHUB_STEP_SUMMARY": str(path)})
    runner.summary("first")
    runner.summary("x" * (SUMMARY_LIMIT + 10))
    text = path.read_text()
    assert text.startswith("first\n")
    assert len(text.encode()) <= SUMMARY_LIMIT + len("first\n") + 1
    assert "1 MiB limit" in text
