"""The field benchmark with a real agent (`bench/field/run.py --agent claude`): one red build of a
real project healed by `selfheal heal --agent claude`, the real SDK over HTTP to the local
replay server, and the block users compare agents with (heal rate, attempts, tokens, cost).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.agent.claude import DEFAULT_MODEL
from bot.agent.pricing import cost_usd
from bot.agent.replay import ReplayServer
from tests.fakes.messages_api import reply, tool_use, usage

FIELD = Path(__file__).resolve().parent.parent / "bench" / "field"
RUN = FIELD / "run.py"
sys.path.insert(0, str(FIELD))

import corpus  # noqa: E402
import real_agent  # noqa: E402
import trial  # noqa: E402

KEY = "sk-ant-field-canary-7c41d0"
PROJECT, OPERATOR = "six", "comparison-flip"  # the smallest suite of the corpus
SPENT = [usage(1200, 40, 3000, 0), usage(300, 90, 0, 3000), usage(100, 20, 0, 3300)]


def _shared_cache() -> Path:
    # The benchmark's own cache (not the test's HOME): sdists and venvs are kept between runs.
    chosen = os.environ.get("SELFHEAL_FIELD_CACHE")
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return Path(chosen) if chosen else home / ".cache" / "selfheal-field"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def _fix(before: str, after: str) -> tuple[str, str]:
    """The smallest whole-line edit_file (old, new) that turns `after` back into `before`."""
    old_lines, new_lines = after.splitlines(keepends=True), before.splitlines(keepends=True)
    first = next(i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b)
    for end in range(first + 1, len(old_lines) + 1):
        old = "".join(old_lines[first:end])
        if after.count(old) == 1:
            return old, "".join(new_lines[first:end])
    raise AssertionError("no unique span")


def test_no_key_is_one_line_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    done = _run(["--agent", "claude", "--project", PROJECT], env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "ANTHROPIC_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.network
def test_a_red_build_healed_by_claude_is_measured(tmp_path: Path) -> None:
    shared = _shared_cache()
    project = next(p for p in corpus.load() if p.name == PROJECT)
    with corpus.holding(project, shared):  # a benchmark may be running
        try:
            site = corpus.setup(project, shared)
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"{PROJECT}: its sdist or test deps cannot be set up: {exc}")
        # The benchmark picks its red builds deterministically: this is the one it will heal.
        (mutation,) = trial.find_red_builds(site, (OPERATOR,), per_operator=1)
    # The venvs are shared; the results are this test's, never mixed into the benchmark's.
    cache = tmp_path / "cache"
    cache.mkdir()
    for kept in ("sdists", "work"):
        (cache / kept).symlink_to(shared / kept)
    # The release's zero-config verdict, when the benchmark has one, spares measuring it again.
    verdict = shared / "results" / f"{PROJECT}.json"
    if verdict.is_file():
        (cache / "results").mkdir()
        shutil.copy(verdict, cache / "results" / verdict.name)
    old, new = _fix(mutation.before, mutation.after)
    session = [
        reply(tool_use("read_file", path=mutation.path), spent=SPENT[0]),
        reply(tool_use("edit_file", path=mutation.path, old=old, new=new), spent=SPENT[1]),
        reply(tool_use("finish", summary="put the comparison back"), spent=SPENT[2]),
    ]
    with ReplayServer(session, api_key=KEY) as server:
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url}
        env["SELFHEAL_FIELD_CACHE"] = str(cache)
        args = ["--agent", "claude", "--project", PROJECT, "--operator", OPERATOR, "--resume"]
        done = _run(args, env)
        served = server.served
    assert done.returncode == 0, done.stdout + done.stderr
    assert served == len(session)  # the real SDK asked the server for every turn
    out = done.stdout
    block = out[out.index("## Real agent: claude") :]
    assert f"## Real agent: claude ({DEFAULT_MODEL})" in block
    assert f"| {OPERATOR} | 1 | 1 | 1.00 |" in block
    assert "- heal rate: 1/1 (100%)" in block
    assert "- mean attempts per heal: 1.00" in block
    inputs = sum(
        s["input_tokens"] + s["cache_creation_input_tokens"] + s["cache_read_input_tokens"]
        for s in SPENT
    )
    outputs = sum(s["output_tokens"] for s in SPENT)
    assert inputs > 0 and outputs > 0
    assert f"- input tokens per heal: {inputs:,} tokens" in block
    assert f"- output tokens per heal: {outputs:,} tokens" in block
    spent = {k: sum(s[k] for s in SPENT) for k in SPENT[0]}
    cost = cost_usd(DEFAULT_MODEL, spent)
    assert cost is not None and cost > 0
    assert f"- cost per heal: {cost:,.4f} USD" in block
    assert "- outcomes: healed 1" in block
    assert "- model calls: 3;" in block
    assert KEY not in out + done.stderr
    # A run of one operator is shown, not stored as the project's result.
    assert not (cache / "results" / "agent-claude").exists()


def test_each_agent_is_checked_for_its_key_and_program(tmp_path: Path) -> None:
    assert "ANTHROPIC_API_KEY" in (real_agent.missing("claude", {}) or "")
    assert real_agent.missing("claude", {"ANTHROPIC_API_KEY": "k"}) is None
    assert "CODEX_API_KEY" in (real_agent.missing("codex", {"PATH": str(tmp_path)}) or "")
    keyed = {"CODEX_API_KEY": "k", "PATH": str(tmp_path)}
    assert "not on PATH" in (real_agent.missing("codex", keyed) or "")
    program = tmp_path / "codex"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert real_agent.missing("codex", keyed) is None


def test_cost_per_heal_is_not_made_up_when_a_run_reports_none() -> None:
    def heal(status: str, cost: float | None) -> real_agent.AgentHeal:
        return real_agent.AgentHeal(
            "p", "off-by-one", "w", "f.py", status, 1, 2, 100, 10, cost, "m"
        )

    text = real_agent.block("aider", [heal("healed", None), heal("gave_up", None)])
    assert "- heal rate: 1/2 (50%)" in text
    assert "- cost per heal: n/a; 2 of 2 runs report no cost" in text
    assert "- input tokens per heal: 200 tokens" in text  # both runs' spending, one heal
    assert "- outcomes: healed 1, gave_up 1" in text
    # A run with no report among priced ones: the figure stands, and says what it leaves out.
    text = real_agent.block("claude", [heal("healed", 0.25), heal("error", None)])
    assert "- cost per heal: 0.2500 USD (total 0.2500 USD); 1 of 2 runs report no cost" in text
    assert "No red builds" in real_agent.block("claude", [])
