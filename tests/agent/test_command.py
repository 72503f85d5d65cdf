"""CommandAgent with real child processes, and make_agent."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from bot.agent.base import AgentRequest, ContextSection, NoAgent
from bot.agent.command import CommandAgent, split_command
from bot.agent.prompt import markdown_prompt
from bot.agent.rules import agent_rules
from bot.agent.select import make_agent
from bot.config import Config
from bot.errors import BadInput
from bot.proc import scrubbed_env
from bot.reaper import TAG_VARIABLE
from tests.agent.briefs import INJECTION, LOCKED, hostile_brief, trusted_part, untrusted_bodies
from tests.render.reports import ASSERT, LINT

PY = sys.executable
RULES = agent_rules(Config(), "heal")
TASK = "Fix the failing test."
CONTEXT = (ContextSection("Failing checks", "`assert 3 == 4` in tests/test_calc.py"),)
PROMPT = markdown_prompt(RULES, TASK, CONTEXT)

# Writes down everything it was given, then talks like an agent: the last line is its summary.
RECORDER = """
import json, os, sys
from pathlib import Path

seen = {
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith("SELFHEAL_")},
    "prompt": Path(os.environ["SELFHEAL_PROMPT_FILE"]).read_text(),
    "failures": json.loads(Path(os.environ["SELFHEAL_FAILURES_JSON"]).read_text()),
}
Path(os.environ["RECORD_TO"]).write_text(json.dumps(seen))
print("reading the prompt...")
print("  Fixed add() to return the sum.  ")
print()
print("warning: nothing else", file=sys.stderr)
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def make_request(tmp_path: Path, **changes: Any) -> AgentRequest:
    workdir = tmp_path / "worktree"
    workdir.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "mode": "heal",
        "workdir": workdir,
        "rules": RULES,
        "task": TASK,
        "context": CONTEXT,
        "failures": [LINT, ASSERT],
        "attempt": 2,
        "scratch": tmp_path / "report",
        "env": scrubbed_env(extra={"RECORD_TO": str(tmp_path / "seen.json")}),
    }
    values.update(changes)
    return AgentRequest(**values)


@pytest.fixture
def recorder(tmp_path: Path) -> str:
    script = tmp_path / "recorder.py"
    script.write_text(textwrap.dedent(RECORDER), encoding="utf-8")
    return f"{shlex.quote(PY)} {shlex.quote(str(script))}"


def seen(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "seen.json").read_text())
    return data


def test_prompt_file_placeholder(tmp_path: Path, recorder: str) -> None:
    request = make_request(tmp_path)
    outcome = CommandAgent(f"{recorder} --prompt={{prompt_file}} --fast").attempt(request)
    prompt_file = tmp_path / "report" / "prompt-2.md"
    got = seen(tmp_path)
    assert got["argv"] == [f"--prompt={prompt_file}", "--fast"]
    assert got["stdin"] == ""  # the prompt went by file, not by stdin
    assert got["prompt"] == PROMPT
    assert prompt_file.read_text() == PROMPT
    assert outcome.exit_code == 0


def test_without_placeholder_the_prompt_arrives_on_stdin(tmp_path: Path, recorder: str) -> None:
    CommandAgent(f"{recorder} --yes").attempt(make_request(tmp_path))
    got = seen(tmp_path)
    assert got["argv"] == ["--yes"]
    assert got["stdin"] == PROMPT


def brief_request(tmp_path: Path, config: Config) -> AgentRequest:
    rules, task, context = hostile_brief(config)
    return make_request(tmp_path, rules=rules, task=task, context=context, failures=[])


def test_the_prompt_file_names_the_protected_paths_configured(
    tmp_path: Path, recorder: str
) -> None:
    config = Config(protected_paths=[LOCKED, "migrations/"], max_diff_lines=123)
    CommandAgent(f"{recorder} {{prompt_file}}").attempt(brief_request(tmp_path, config))
    prompt = seen(tmp_path)["prompt"]
    rules = prompt.split("## Rules\n\n", 1)[1].split("\n\n", 1)[0]
    assert "`docs/locked/**`" in rules and "`migrations/`" in rules
    assert ".github" not in prompt  # the default is not what this project protects
    assert "at most 123 lines" in rules
    (tmp_path / "seen.json").unlink()
    CommandAgent(f"{recorder} {{prompt_file}}").attempt(
        brief_request(tmp_path, Config(protected_paths=[]))
    )
    assert "No paths are protected" in seen(tmp_path)["prompt"]


def test_untrusted_text_stays_inside_its_block_in_the_prompt_file(
    tmp_path: Path, recorder: str
) -> None:
    CommandAgent(f"{recorder} {{prompt_file}}").attempt(brief_request(tmp_path, Config()))
    prompt = seen(tmp_path)["prompt"]
    bodies = untrusted_bodies(prompt)
    assert len(bodies) == 2  # the repository's instructions and the failing checks
    assert all(INJECTION in body for body in bodies)
    assert "</untrusted>" in bodies[1] and "END UNTRUSTED DATA 0123456789abcdef" in bodies[1]
    mine = trusted_part(prompt)
    assert INJECTION not in mine and "</untrusted>" not in mine
    assert mine.count("## Rules") == 1  # the excerpt's own heading stayed in its block


def test_the_child_sees_the_selfheal_variables_and_runs_in_the_worktree(
    tmp_path: Path, recorder: str
) -> None:
    request = make_request(tmp_path)
    CommandAgent(recorder).attempt(request)
    got = seen(tmp_path)
    scratch = tmp_path / "report"
    # bot.proc tags every child it starts, so that it can find and end them all.
    assert got["env"].pop(TAG_VARIABLE)
    assert got["env"] == {
        "SELFHEAL_PROMPT_FILE": str(scratch / "prompt-2.md"),
        "SELFHEAL_FAILURES_JSON": str(scratch / "failures-2.json"),
        "SELFHEAL_ATTEMPT": "2",
        "SELFHEAL_REPO": str(request.workdir),
    }
    assert Path(got["cwd"]).resolve() == request.workdir.resolve()
    assert got["failures"] == [
        LINT.model_dump(mode="json"),
        ASSERT.model_dump(mode="json"),
    ]
    assert got["failures"][1]["test_id"] == "tests/test_calc.py::test_add"


def test_the_child_gets_the_request_env_and_no_secrets(
    tmp_path: Path, recorder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_must_not_reach_the_agent")
    script = tmp_path / "env.py"
    script.write_text("import json, os\nprint(json.dumps(dict(os.environ)))\n")
    request = make_request(tmp_path, env=scrubbed_env(extra={"ONLY_HERE": "yes"}))
    outcome = CommandAgent(f"{shlex.quote(PY)} {shlex.quote(str(script))}").attempt(request)
    env = json.loads(outcome.log)
    assert env["ONLY_HERE"] == "yes"
    assert "GITHUB_TOKEN" not in env
    assert "ghs_must_not_reach_the_agent" not in outcome.log


def test_summary_is_the_last_stdout_line_and_events_record_the_run(
    tmp_path: Path, recorder: str
) -> None:
    env = scrubbed_env(extra={"RECORD_TO": str(tmp_path / "seen.json"), "EXIT_WITH": "4"})
    request = make_request(tmp_path, env=env)
    outcome = CommandAgent(f"{recorder} {{prompt_file}}").attempt(request)
    assert outcome.summary == "Fixed add() to return the sum."
    assert outcome.exit_code == 4
    assert "reading the prompt..." in outcome.log
    assert "warning: nothing else" in outcome.log
    (event,) = outcome.events
    assert event["event"] == "agent"
    assert event["agent"] == "command"
    assert event["argv"] == [*shlex.split(recorder), str(tmp_path / "report" / "prompt-2.md")]
    assert event["exit_code"] == 4
    assert event["timed_out"] is False
    assert event["output"] == outcome.log
    assert isinstance(event["duration_s"], float)


def test_summary_is_cut_to_300_characters(tmp_path: Path) -> None:
    agent = CommandAgent(f"{shlex.quote(PY)} -c 'print(\"s\" * 1000)'")
    assert agent.attempt(make_request(tmp_path)).summary == "s" * 300


def test_a_deadline_in_the_past_still_gives_the_agent_a_second(tmp_path: Path) -> None:
    agent = CommandAgent(f"{shlex.quote(PY)} -c 'import time; time.sleep(30)'")
    request = make_request(tmp_path, deadline=time.monotonic() - 100)
    started = time.monotonic()
    outcome = agent.attempt(request)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 4, elapsed
    assert outcome.exit_code is None
    assert outcome.events[0]["timed_out"] is True
    assert outcome.summary.startswith("agent killed after")


def test_a_command_that_cannot_start_is_bad_input(tmp_path: Path) -> None:
    agent = CommandAgent("selfheal-no-such-agent-xyz {prompt_file}")
    with pytest.raises(BadInput, match="the agent command could not start"):
        agent.attempt(make_request(tmp_path))


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("claude -p 'unclosed {prompt_file}", "cannot be split"),
        ("", "is empty"),
        ("   ", "is empty"),
    ],
)
def test_an_unsplittable_command_is_bad_input(command: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        CommandAgent(command)


def test_split_command_keeps_quoted_words() -> None:
    assert split_command("aider --message-file {prompt_file} --model 'a b'") == [
        "aider",
        "--message-file",
        "{prompt_file}",
        "--model",
        "a b",
    ]


# --- make_agent ---------------------------------------------------------------------------


def test_make_agent_none() -> None:
    agent = make_agent(Config())
    assert isinstance(agent, NoAgent)
    assert agent.name == "none"


def test_make_agent_command_without_a_command() -> None:
    with pytest.raises(BadInput, match="--agent-command"):
        make_agent(Config(agent="command"))


def test_make_agent_command() -> None:
    agent = make_agent(Config(agent="command", agent_command="my-agent --file {prompt_file}"))
    assert isinstance(agent, CommandAgent)
    assert agent.argv == ["my-agent", "--file", "{prompt_file}"]


def test_no_agent_does_nothing(tmp_path: Path) -> None:
    request = make_request(tmp_path)
    outcome = NoAgent().attempt(request)
    assert outcome.summary == "no agent configured (deterministic fixers only)"
    assert outcome.exit_code is None
    assert list(request.workdir.iterdir()) == []
    assert not request.scratch.exists()
