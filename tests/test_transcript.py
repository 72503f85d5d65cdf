"""transcript.jsonl: one JSON object per line, no secret values."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from bot.transcript import Transcript


def read_events(path: Path) -> list[dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_one_json_object_per_line_in_order(tmp_path: Path) -> None:
    path = tmp_path / "run" / "transcript.jsonl"
    transcript = Transcript(path, secrets=[])
    transcript.write({"event": "gate", "label": "before", "output": "line one\nline two"})
    transcript.write({"event": "agent", "argv": ["agent", "--x"], "where": Path("/w"), "n": 2})
    transcript.write({"event": "done", "note": "caf\u00e9 \u2713"})
    events = read_events(path)
    assert [e["event"] for e in events] == ["gate", "agent", "done"]
    assert events[0]["output"] == "line one\nline two"  # newlines stay inside the string
    assert events[1]["argv"] == ["agent", "--x"]
    assert events[1]["where"] == "/w"  # not JSON by nature: written as text
    assert events[1]["n"] == 2
    assert events[2]["note"] == "caf\u00e9 \u2713"
    for event in events:
        assert datetime.fromisoformat(str(event["at"])).tzinfo is not None


def test_a_new_transcript_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "transcript.jsonl"
    path.write_text('{"event": "from an earlier run"}\n')
    Transcript(path, secrets=[])
    assert path.read_text() == ""


def test_secret_values_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "transcript.jsonl"
    transcript = Transcript(path, secrets=["s3cr3t-value", "other-secret"])
    transcript.write({"event": "agent", "output": "token s3cr3t-value!", "argv": ["other-secret"]})
    text = path.read_text()
    assert "s3cr3t-value" not in text
    assert "other-secret" not in text
    (event,) = read_events(path)
    assert event["output"] == "token ***!"
    assert event["argv"] == ["***"]


def test_secrets_default_to_our_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_transcript_token_1")
    monkeypatch.setenv("SOME_PASSWORD", "pw-in-the-env")
    path = tmp_path / "transcript.jsonl"
    transcript = Transcript(path)
    transcript.write(
        {"event": "push", "output": "https://x:ghs_transcript_token_1@h pw-in-the-env"}
    )
    (event,) = read_events(path)
    assert event["output"] == "https://x:***@h ***"


def test_a_secret_that_json_escapes_is_still_redacted(tmp_path: Path) -> None:
    # A password with a quote or a backslash is written escaped; the escaped form must go too.
    secret = 'pa"ss\\word-123'
    path = tmp_path / "transcript.jsonl"
    transcript = Transcript(path, secrets=[secret])
    transcript.write({"event": "agent", "output": f"logging in with {secret}"})
    (event,) = read_events(path)
    assert secret not in str(event["output"])
    assert "word-123" not in path.read_text()


def test_no_path_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    transcript = Transcript(None, secrets=[])
    transcript.write({"event": "gate"})
    assert transcript.path is None
    assert list(tmp_path.iterdir()) == []
