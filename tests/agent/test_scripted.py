"""The scripted agent: replays known edits, attempt by attempt. Not a language model."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.agent.base import AgentRequest
from bot.agent.command import CommandAgent
from bot.agent.rules import agent_rules
from bot.agent.scripted import apply_attempt, main
from bot.config import Config
from bot.proc import run_process, scrubbed_env

PY = sys.executable

SCRIPT: dict[str, Any] = {
    "attempts": [
        {"summary": "first try", "edits": [{"path": "calc.py", "old": "a - b", "new": "a * b"}]},
        {"summary": "second try", "edits": [{"path": "calc.py", "old": "a - b", "new": "a + b"}]},
    ]
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b  # a - b\n")
    (root / "old.py").write_text("gone soon\n")
    return root


@pytest.mark.parametrize(
    ("attempt", "summary", "body"),
    [
        (1, "first try", "a * b  # a - b"),
        (2, "second try", "a + b  # a - b"),
        (3, "second try", "a + b  # a - b"),  # the last entry repeats
        (9, "second try", "a + b  # a - b"),
    ],
)
def test_attempt_n_replays_entry_n(repo: Path, attempt: int, summary: str, body: str) -> None:
    assert apply_attempt(SCRIPT, attempt, repo) == summary
    assert (repo / "calc.py").read_text() == f"def add(a, b):\n    return {body}\n"


def test_delete_write_and_replace(repo: Path) -> None:
    script = {
        "attempts": [
            {
                "edits": [
                    {"path": "old.py", "delete": True},
                    {"path": "never-there.py", "delete": True},
                    {"path": "pkg/sub/new.py", "write": "VALUE = 1\n"},
                    {"path": "calc.py", "old": "nowhere in the file", "new": "x"},
                ]
            }
        ]
    }
    assert apply_attempt(script, 1, repo) == "scripted edits applied"
    assert not (repo / "old.py").exists()
    assert not (repo / "never-there.py").exists()
    assert (repo / "pkg" / "sub" / "new.py").read_text() == "VALUE = 1\n"
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a - b  # a - b\n"


def test_an_empty_script_changes_nothing(repo: Path) -> None:
    before = {p.name: p.read_text() for p in repo.iterdir()}
    assert apply_attempt({}, 1, repo) == "scripted edits applied"
    assert {p.name: p.read_text() for p in repo.iterdir()} == before


def test_main_without_arguments_prints_usage_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "python -m bot.agent.scripted SCRIPT.json" in captured.err
    assert captured.out == ""


def test_main_reads_attempt_and_repo_from_the_environment(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    monkeypatch.setenv("SELFHEAL_ATTEMPT", "2")
    monkeypatch.setenv("SELFHEAL_REPO", str(repo))
    assert main([str(script)]) == 0
    assert capsys.readouterr().out == "scripted agent (not a language model): second try\n"
    assert "a + b" in (repo / "calc.py").read_text()


def test_as_a_process_without_arguments(tmp_path: Path) -> None:
    result = run_process([PY, "-m", "bot.agent.scripted"], tmp_path, env=scrubbed_env())
    assert result.returncode == 2
    assert "SCRIPT.json" in result.stderr
    assert result.stdout == ""


def test_as_the_command_agent(repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    agent = CommandAgent(
        f"{shlex.quote(PY)} -m bot.agent.scripted {shlex.quote(str(script))} {{prompt_file}}"
    )
    for attempt, body in ((1, "a * b"), (2, "a + b")):
        (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
        request = AgentRequest(
            mode="heal",
            workdir=repo,
            rules=agent_rules(Config(), "heal"),
            task="Fix add().",
            context=(),
            failures=[],
            attempt=attempt,
            scratch=tmp_path / "report",
            env=scrubbed_env(),
        )
        outcome = agent.attempt(request)
        assert outcome.exit_code == 0
        assert outcome.summary.endswith(("first try", "second try")[attempt - 1])
        assert (repo / "calc.py").read_text() == f"def add(a, b):\n    return {body}\n"
