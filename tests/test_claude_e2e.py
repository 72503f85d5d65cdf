"""`selfheal heal --agent claude` end to end: the real SDK over HTTP to the replay server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.agent.replay import ReplayServer
from tests.calc import CALC
from tests.cli import heal, load, origin_branches, state
from tests.conftest import MakeRepo, git
from tests.fakes.messages_api import failure, reply, tool_use, usage

pytestmark = pytest.mark.slow

KEY = "sk-ant-canary-0123456789abcdef"
FIX = {"path": "calc/ops.py", "old": "min(value, low)", "new": "min(value, high)"}
SPENT = [
    usage(500, 80, 2000, 0),
    usage(200, 60, 100, 2000),
    usage(150, 40, 0, 2100),
    usage(90, 20, 0, 2100),
]
SESSION = [
    reply(tool_use("search", pattern="def clamp"), spent=SPENT[0], stop_reason="tool_use"),
    reply(tool_use("read_file", path="calc/ops.py"), spent=SPENT[1], stop_reason="tool_use"),
    reply(
        tool_use("edit_file", **FIX),
        tool_use("run_tests", test_ids=[]),
        spent=SPENT[2],
        stop_reason="tool_use",
    ),
    reply(
        tool_use("finish", summary="clamp now bounds by high"),
        spent=SPENT[3],
        stop_reason="tool_use",
    ),
]


def claude_env(server: ReplayServer) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url}


def test_claude_heals_and_reports_exact_usage(make_repo: MakeRepo) -> None:
    # Overloaded, then a server error, then the session: retried (this was its own test,
    # test_overloaded_then_ok_is_retried, healing the very same repo with the same session).
    repo = make_repo(CALC)
    before = state(repo)
    script = [failure(529, "overloaded_error"), failure(500, "api_error"), *SESSION]
    with ReplayServer(script) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
        bodies = [json.dumps(r.body) for r in server.message_requests]
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed"
    assert report["proposal"]["branch"] in origin_branches(repo)
    assert state(repo) == before
    attempt = report["attempts"][0]
    assert attempt["agent_turns"] == 4
    assert attempt["agent_tool_calls"] == {
        "search": 1,
        "read_file": 1,
        "edit_file": 1,
        "run_tests": 1,
        "finish": 1,
    }
    for field in (
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ):
        assert attempt["agent_usage"][field] == sum(s[field] for s in SPENT)
    assert report["agent_totals"]["usage"] == attempt["agent_usage"]
    assert report["agent_totals"]["cost_usd"] == attempt["agent_cost_usd"]
    assert "clamp now bounds by high" in (repo / ".selfheal" / "report.md").read_text()
    everything = [
        *bodies,
        *(p.read_text() for p in (repo / ".selfheal").iterdir()),
        git(repo, "log", "-p", "--all"),
    ]
    assert all(KEY not in text for text in everything)


def test_no_key_is_bad_input_before_any_work(make_repo: MakeRepo) -> None:
    repo = make_repo(CALC)
    done = heal(repo, None, "--agent", "claude", env={"ANTHROPIC_API_KEY": ""})
    assert done.returncode == 2
    assert "ANTHROPIC_API_KEY" in done.stderr
    assert not (repo / ".selfheal" / "report.json").exists()  # refused before the gate ran


def test_bad_key_exits_2_and_says_what_to_fix(make_repo: MakeRepo) -> None:
    repo = make_repo(CALC)
    with ReplayServer([failure(401, "authentication_error", "invalid x-api-key")]) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
    assert done.returncode == 2, done.stderr
    assert "ANTHROPIC_API_KEY" in done.stderr
    assert state(repo)[0] == git(repo, "rev-parse", "HEAD")


def test_usd_budget_stops_the_run_and_names_itself(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo({**CALC, ".github/selfheal.yml": "budget:\n  max_usd: 0.001\n"})
    with ReplayServer(SESSION) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["stop_reason"] == "budget"
    assert "max_usd=0.001" in report["detail"]
    assert (repo / ".selfheal" / "fix.patch").exists()


def test_hostile_tool_calls_are_refused_and_the_run_goes_on(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("OUTSIDE-CANARY-5f2c\n")
    repo = make_repo(CALC)
    (repo / "calc" / "leak").symlink_to(outside)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a symlink out of the repo")
    hostile = [
        tool_use("read_file", path="/etc/passwd"),
        tool_use("read_file", path="../../../../etc/passwd"),
        tool_use("read_file", path="calc/leak"),
        tool_use("read_file", path=".git/config"),
        tool_use("write_file", path=".github/workflows/x.yml", content="on: push\n"),
        tool_use("write_file", path="../escaped.txt", content="out\n"),
    ]
    script = [reply(*hostile, stop_reason="tool_use"), *SESSION]
    with ReplayServer(script) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
        second = server.message_requests[1].body
    assert done.returncode == 0, done.stdout + done.stderr
    results = [
        b
        for m in second["messages"]
        if m["role"] == "user"
        for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    assert len(results) == len(hostile)
    assert all(r["is_error"] for r in results)
    sent = json.dumps(second)
    assert "root:x:0:0" not in sent
    assert "OUTSIDE-CANARY-5f2c" not in sent
    assert "repositoryformatversion" not in sent  # .git/config was not read
    assert not (tmp_path / "escaped.txt").exists()
    assert outside.read_text() == "OUTSIDE-CANARY-5f2c\n"
    assert load(repo)["status"] == "healed"
    assert git(
        repo, "show", "--name-only", "--format=", load(repo)["proposal"]["branch"]
    ).split() == ["calc/ops.py"]


def test_canaries_never_reach_the_model(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    canaries = {
        "GITHUB_TOKEN": "ghs_canary_c4f1e2d3",
        "BUILD_SERVICE_TOKEN": "canary-custom-88aa77bb",
    }
    for name, value in canaries.items():
        monkeypatch.setenv(name, value)
    loud = {
        **CALC,
        "tests/test_env.py": "import os\n\n\ndef test_env():\n    assert False, dict(os.environ)\n",
    }
    repo = make_repo(loud)
    session = [
        reply(
            tool_use("run_tests", test_ids=["tests/test_env.py::test_env"]), stop_reason="tool_use"
        ),
        reply(tool_use("finish", summary="looked"), stop_reason="tool_use"),
    ]
    with ReplayServer(session * 3) as server:
        heal(repo, None, "--agent", "claude", "--max-attempts", "1", env=claude_env(server))
        bodies = [json.dumps(r.body) for r in server.message_requests]
    assert any("test_env" in b for b in bodies)  # the environment dump did go to the model...
    everything = [*bodies, *(p.read_text() for p in (repo / ".selfheal").iterdir())]
    for value in [KEY, *canaries.values()]:  # ...without a single secret in it
        assert all(value not in text for text in everything), value


def test_service_down_after_retries_is_an_error_that_loses_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo(CALC)
    before = state(repo)
    with ReplayServer([failure(500, "api_error", "upstream down")] * 10) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
        tries = len(server.message_requests)
    assert done.returncode == 3, done.stderr
    assert tries == 3  # the first call and the SDK's two retries
    report = load(repo)
    assert report["status"] == "error"
    assert "500" in report["detail"]
    assert report["gate_before"] is not None  # what was learned before the outage is kept
    assert state(repo) == before


def test_token_budget_stops_the_run_and_names_itself(make_repo: MakeRepo) -> None:
    repo = make_repo({**CALC, ".github/selfheal.yml": "budget:\n  max_total_tokens: 1000\n"})
    with ReplayServer(SESSION) as server:
        done = heal(repo, None, "--agent", "claude", env=claude_env(server))
    assert done.returncode == 1, done.stdout + done.stderr
    report = load(repo)
    assert report["stop_reason"] == "budget"
    assert "max_total_tokens=1000" in report["detail"]
