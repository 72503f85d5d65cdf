"""CLI agent presets: the documented commands, the key passthrough, and --agent-preset end to end."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from bot.agent.base import AgentRequest
from bot.agent.command import CommandAgent, split_command
from bot.agent.presets import PRESETS, STDIN_INSTRUCTION, preset_command, preset_names
from bot.agent.rules import agent_rules
from bot.agent.select import agent_kind, make_agent
from bot.config import Config, load_config
from bot.errors import BadInput, ConfigError
from bot.proc import scrubbed_env
from tests.cli import load, selfheal
from tests.conftest import MakeRepo

README = Path(__file__).resolve().parents[2] / "README.md"

# The exact argv each preset runs, as README.md documents it ({prompt_file}: the prompt's path).
DOCUMENTED = {
    "claude-code": [
        "claude",
        "-p",
        STDIN_INSTRUCTION,
        "--permission-mode",
        "acceptEdits",
        "--disallowedTools",
        "Bash",
        "--output-format",
        "text",
    ],
    "aider": [
        "aider",
        "--message-file",
        "{prompt_file}",
        "--yes-always",
        "--no-auto-commits",
        "--no-dirty-commits",
        "--no-gitignore",
        "--no-suggest-shell-commands",
        "--no-detect-urls",
        "--no-check-update",
        "--no-analytics",
        "--no-pretty",
        "--map-tokens",
        "0",
        "--input-history-file",
        "{prompt_file}.input-history",
        "--chat-history-file",
        "{prompt_file}.chat-history.md",
    ],
    "codex": [
        "codex",
        "exec",
        "--sandbox",
        "workspace-write",
        "--ephemeral",
        STDIN_INSTRUCTION,
    ],
}
PASSTHROUGH = {
    "claude-code": ("ANTHROPIC_API_KEY",),
    "aider": ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"),
    "codex": ("CODEX_API_KEY",),
}
CANARIES = {
    "ANTHROPIC_API_KEY": "canary-anthropic-0a1b2c3d",
    "OPENAI_API_KEY": "canary-openai-4e5f6a7b",
    "CODEX_API_KEY": "canary-codex-8c9d0e1f",
    "GITHUB_TOKEN": "canary-github-2a3b4c5d",
}


# -- the table ------------------------------------------------------------------------------


def test_the_table_is_the_documented_one() -> None:
    assert preset_names() == sorted(DOCUMENTED)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert split_command(preset.command) == DOCUMENTED[name], name
        assert preset.env_passthrough == PASSTHROUGH[name], name
        assert preset.doc_url.startswith("https://"), name
        assert all(url.startswith("https://") for url in preset.see_also), name
        assert preset.note, name


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_preset_gets_the_prompt_as_designed(name: str) -> None:
    preset = PRESETS[name]
    words = split_command(preset.command)
    uses_file = any("{prompt_file}" in word for word in words)
    assert uses_file is not preset.reads_stdin
    if name == "aider":
        assert words[words.index("--message-file") + 1] == "{prompt_file}"
    else:  # the instruction is an argument; the prompt arrives on stdin as its context
        assert preset.reads_stdin
        assert words.count(STDIN_INSTRUCTION) == 1


def test_no_preset_lets_the_agent_commit_or_skip_its_safeguards() -> None:
    claude = split_command(PRESETS["claude-code"].command)
    assert claude[claude.index("--disallowedTools") + 1] == "Bash"  # no shell: no git commit
    assert claude[claude.index("--permission-mode") + 1] == "acceptEdits"
    aider = split_command(PRESETS["aider"].command)
    assert {"--no-auto-commits", "--no-dirty-commits", "--no-suggest-shell-commands"} <= set(aider)
    codex = split_command(PRESETS["codex"].command)
    assert codex[codex.index("--sandbox") + 1] == "workspace-write"
    for preset in PRESETS.values():
        for risky in ("--dangerously-skip-permissions", "bypassPermissions", "danger-full-access"):
            assert risky not in preset.command, preset.name
        assert "GITHUB_TOKEN" not in preset.env_passthrough


def test_readme_shows_each_exact_command_and_its_source() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("### CLI agent presets") :]
    for preset in PRESETS.values():
        assert preset.command in section, preset.name
        assert preset.doc_url in section, preset.name


def test_an_unknown_preset_lists_the_names() -> None:
    with pytest.raises(BadInput, match="'nope'; choose one of: aider, claude-code, codex"):
        preset_command("nope")


# -- configuration and selection ------------------------------------------------------------


def test_a_preset_is_a_command_agent(tmp_path: Path) -> None:
    config = load_config(tmp_path, flags={"agent_preset": "codex"}, env={})
    assert agent_kind(config, {"ANTHROPIC_API_KEY": "sk-ant-x"}) == "command"
    agent = make_agent(config, {})
    assert isinstance(agent, CommandAgent)
    assert agent.argv == DOCUMENTED["codex"]
    assert agent.env_passthrough == ("CODEX_API_KEY",)
    assert agent.note == "agent preset codex (https://developers.openai.com/codex/noninteractive)"


def test_a_preset_comes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "selfheal.yml").write_text("agent-preset: aider\n")
    assert load_config(tmp_path, env={}).agent_preset == "aider"
    config = load_config(tmp_path, env={"SELFHEAL_AGENT_PRESET": "claude-code"})
    assert config.agent_preset == "claude-code"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"agent_preset": "nope"}, "unknown agent preset 'nope'; choose one of: aider, claude"),
        ({"agent_preset": "aider", "agent_command": "x {prompt_file}"}, "both set"),
        ({"agent_preset": "aider", "agent": "claude"}, "agent is 'claude'"),
    ],
)
def test_bad_preset_configurations(tmp_path: Path, values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path, flags=values, env={})


# -- the passthrough, with a real child process ---------------------------------------------

RECORD_ENV = """
import json, os, sys
from pathlib import Path
Path(os.environ["RECORD_TO"]).write_text(json.dumps(dict(os.environ)))
print("looked at the failures")
"""


def test_passthrough_reaches_this_agent_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CODEX_API_KEY")  # named but absent: simply not passed
    record = tmp_path / "env.json"
    monkeypatch.setenv("RECORD_TO", str(record))
    script = tmp_path / "agent.py"
    script.write_text(RECORD_ENV)
    gate_env = scrubbed_env()
    agent = CommandAgent(
        f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {{prompt_file}}",
        env_passthrough=("OPENAI_API_KEY", "CODEX_API_KEY"),
    )
    workdir = tmp_path / "worktree"
    workdir.mkdir()
    outcome = agent.attempt(
        AgentRequest(
            mode="heal",
            rules=agent_rules(Config(), "heal"),
            task="Fix add().",
            context=(),
            failures=[],
            attempt=1,
            workdir=workdir,
            scratch=tmp_path / "scratch",
            env=gate_env,
        )
    )
    seen = json.loads(record.read_text())
    assert seen["OPENAI_API_KEY"] == CANARIES["OPENAI_API_KEY"]
    assert {"ANTHROPIC_API_KEY", "GITHUB_TOKEN", "CODEX_API_KEY"}.isdisjoint(seen)
    assert "OPENAI_API_KEY" not in gate_env  # the gate's environment was not touched
    assert outcome.events[0]["env_passthrough"] == ["OPENAI_API_KEY"]


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "gh_token", "ACTIONS_RUNTIME_TOKEN"])
def test_github_tokens_are_never_passed_through(name: str) -> None:
    with pytest.raises(BadInput, match="never passed to an agent"):
        CommandAgent("agent {prompt_file}", env_passthrough=("OPENAI_API_KEY", name))


# -- --agent-preset through the real CLI, with fake tools on PATH ----------------------------

# A stand-in for the real tool: it writes down its argv, stdin and environment, and fixes nothing.
FAKE_TOOL = """\
#!{python}
import json, os, sys
from pathlib import Path

record = Path(os.environ["FAKE_TOOL_RECORDS"]) / (Path(sys.argv[0]).name + ".json")
record.write_text(json.dumps({{
    "argv": sys.argv,
    "stdin": sys.stdin.read(),
    "env": dict(os.environ),
}}))
# What a careless tool might print; selfheal must redact it from what it keeps.
print("keys:", [os.environ.get(k) for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CODEX_API_KEY")])
print("I changed nothing")
"""


def _fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "fake-bin"
    records = tmp_path / "records"
    bin_dir.mkdir()
    records.mkdir()
    for tool in ("claude", "aider", "codex"):
        path = bin_dir / tool
        path.write_text(FAKE_TOOL.format(python=sys.executable))
        path.chmod(0o755)
    return bin_dir, records


def _failing_repo(make_repo: MakeRepo, gate_env: Path) -> Path:
    return make_repo(
        {
            "tests/test_env.py": f"""\
                import os
                import pathlib


                def test_records_the_gate_environment():
                    pathlib.Path({str(gate_env)!r}).write_text(repr(dict(os.environ)))
                    assert 1 == 2
                """,
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_agent_preset_runs_the_documented_command(
    name: str, make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, records = _fake_tools(tmp_path)
    gate_env = tmp_path / "gate-env.txt"
    repo = _failing_repo(make_repo, gate_env)
    for key, value in CANARIES.items():
        monkeypatch.setenv(key, value)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_TOOL_RECORDS": str(records),
    }
    done = selfheal(
        "heal", "--repo", str(repo), "--agent-preset", name, "--max-attempts", "1", env=env
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the fake fixed nothing
    tool = DOCUMENTED[name][0]
    seen = json.loads((records / f"{tool}.json").read_text())

    prompt_file = repo / ".selfheal" / "prompt-1.md"
    assert Path(seen["env"]["SELFHEAL_PROMPT_FILE"]).resolve() == prompt_file.resolve()
    path = seen["env"]["SELFHEAL_PROMPT_FILE"]
    expected = [word.replace("{prompt_file}", path) for word in DOCUMENTED[name]]
    assert [Path(seen["argv"][0]).name, *seen["argv"][1:]] == expected
    assert seen["argv"][0] == str(bin_dir / tool)  # found on PATH, like the real one would be
    prompt = prompt_file.read_text()
    assert "test_records_the_gate_environment" in prompt
    assert seen["stdin"] == (prompt if PRESETS[name].reads_stdin else "")

    for key, value in CANARIES.items():  # this agent's own key, and nothing else secret
        if key in PASSTHROUGH[name]:
            assert seen["env"].get(key) == value, key
        else:
            assert key not in seen["env"], key
    gate_saw = gate_env.read_text()
    for key, value in CANARIES.items():
        assert value not in gate_saw, f"the gate saw {key}"
    kept = {path.name: path.read_text(errors="replace") for path in (repo / ".selfheal").iterdir()}
    kept["stdout+stderr"] = done.stdout + done.stderr
    for where, text in kept.items():
        for key, value in CANARIES.items():
            assert value not in text, f"{key} leaked into {where}"
    report = load(repo)
    assert report["agent"] == "command"
    assert report["agent_note"] == f"agent preset {name} ({PRESETS[name].doc_url})"


def test_an_unknown_preset_exits_2_listing_the_names(make_repo: MakeRepo) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    pass\n"})
    done = selfheal("heal", "--repo", str(repo), "--agent-preset", "nope")
    assert done.returncode == 2
    assert "invalid choice: 'nope' (choose from 'aider', 'claude-code', 'codex')" in done.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--agent-command", "my-agent {prompt_file}"], "both set"),
        (["--agent", "none"], "agent is 'none'"),
    ],
)
def test_a_preset_with_another_agent_exits_2(
    make_repo: MakeRepo, extra: list[str], message: str
) -> None:
    repo = make_repo({"tests/test_ok.py": "def test_ok():\n    pass\n"})
    done = selfheal("heal", "--repo", str(repo), "--agent-preset", "aider", *extra)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert not (repo / ".selfheal").exists()  # refused before any work


def test_help_lists_each_preset_and_its_exact_command() -> None:
    for command in ("heal", "implement"):
        done = selfheal(command, "--help")
        assert done.returncode == 0
        text = " ".join(done.stdout.split())
        for preset in PRESETS.values():
            assert f"{preset.name}: `{preset.command}`" in text
