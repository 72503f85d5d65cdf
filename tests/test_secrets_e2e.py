"""Canary secrets in the environment never reach the gate, the agent, reports or commits."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.cli import heal
from tests.conftest import MakeRepo, git

pytestmark = pytest.mark.slow

CANARIES = {
    "GITHUB_TOKEN": "canary-github-7f3a9c1e",
    "ANTHROPIC_API_KEY": "canary-anthropic-52be0d4a",
    "DEPLOY_SERVICE_TOKEN": "canary-custom-9e8d7c6b",
    "DB_PASSWORD": "canary-password-1a2b3c4d",
}

AGENT = """\
import os, pathlib, sys
# A nosy agent: it writes everything it can see into the repo, then fixes the test.
pathlib.Path("seen_by_agent.txt").write_text(repr(dict(os.environ)) + sys.stdin.read() if not sys.argv[1:] else repr(dict(os.environ)))
test = pathlib.Path("tests/test_env.py")
test.write_text(test.read_text().replace("assert False", "assert True"))
print("agent env:", dict(os.environ))
"""


def test_canaries_never_leak(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    gate_env = tmp_path / "gate-env.txt"
    repo = make_repo(
        {
            "tests/test_env.py": f"""\
                import os
                import pathlib


                def test_prints_environment():
                    pathlib.Path({str(gate_env)!r}).write_text(repr(dict(os.environ)))
                    print(dict(os.environ))
                    assert False, repr(dict(os.environ))
                """,
        }
    )
    agent = tmp_path / "nosy_agent.py"
    agent.write_text(AGENT)
    done = heal(repo, f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))} {{prompt_file}}")
    assert done.returncode == 0, done.stdout + done.stderr
    branch = "selfheal/heal-" + git(repo, "rev-parse", "--short=7", "HEAD").strip()
    committed = git(repo, "show", branch)
    assert "seen_by_agent.txt" in committed  # the agent did dump its environment into the fix
    places = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "commit": committed,
        "origin": git(Path(git(repo, "remote", "get-url", "origin").strip()), "log", "-p", branch),
        "gate's own view": gate_env.read_text(),  # written by the test itself, not redacted by us
    }
    for path in (repo / ".selfheal").iterdir():
        places[path.name] = path.read_text(errors="replace")
    assert {"report.json", "report.md", "transcript.jsonl", "fix.patch", "prompt-1.md"} <= set(
        places
    )
    assert "PATH" in places["fix.patch"]  # the dump is real and ends up in the patch
    for where, text in places.items():
        for name, value in CANARIES.items():
            assert value not in text, f"{name} leaked into {where}"
