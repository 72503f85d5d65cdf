"""Running `selfheal run|work|propose` the way a runner does, against the fake GitHub server.

A `Site` is one repository on both sides: a real checkout with a bare origin (what
actions/checkout leaves behind) and the same repository seeded in a FakeGitHub. Events are
GitHub's published webhook examples (fixtures/events) with the values a test needs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.action_runner import parse_file_commands
from tests.cli import selfheal
from tests.conftest import FIXTURES, git
from tests.fakes.github_api import FakeGitHub

REPOSITORY = "octo-org/octo-repo"
MAINTAINER = "Codertocat"  # the sender in the fixture payloads


def read_outputs(path: Path) -> dict[str, str]:
    """A GITHUB_OUTPUT file, parsed as the runner does."""
    return parse_file_commands(path.read_text(encoding="utf-8")) if path.exists() else {}


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture payload with dotted-path changes: payload('issues-labeled', **{'issue.number': 3})."""
    data = json.loads((FIXTURES / "events" / f"{name}.json").read_text(encoding="utf-8"))
    data["repository"]["full_name"] = REPOSITORY
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


@dataclass
class Result:
    done: subprocess.CompletedProcess[str]
    outputs: dict[str, str]
    summary: str

    @property
    def code(self) -> int:
        return self.done.returncode

    @property
    def said(self) -> str:
        return self.done.stdout + self.done.stderr


@dataclass
class Site:
    repo: Path
    origin: Path
    fake: FakeGitHub
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    @property
    def head(self) -> str:
        return git(self.repo, "rev-parse", "HEAD").strip()

    def branch(self, name: str) -> str:
        """Push the checkout's HEAD to origin as `name`; its sha."""
        git(self.repo, "push", "-q", "origin", f"HEAD:refs/heads/{name}")
        return self.head

    def run(
        self,
        command: str,
        event_name: str,
        event: Mapping[str, Any],
        *extra: str,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """One step on a runner: fresh GITHUB_OUTPUT and summary, the event in a file."""
        self.runs += 1
        step = self.tmp / f"step{self.runs}"
        step.mkdir()
        event_path = step / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        output, summary = step / "output", step / "summary"
        run_env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": "https://github.test",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": self.fake.url,
            "GITHUB_TOKEN": token if token is not None else self.fake.token,
            "GITHUB_WORKSPACE": str(self.repo),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(self.tmp / "runner-temp"),
            # The proposal goes to the bare origin standing in for the server's repository.
            "SELFHEAL_PUSH_URL": str(self.origin),
            **self.env,
            **(env or {}),
        }
        done = selfheal(command, *extra, cwd=self.repo, env=run_env, timeout=300)
        text = summary.read_text(encoding="utf-8") if summary.exists() else ""
        return Result(done, read_outputs(output), text)

    @property
    def bundle(self) -> Path:
        return self.tmp / "runner-temp" / "selfheal-bundle"


def open_site(
    make_repo: Any,
    tmp_path: Path,
    fake: FakeGitHub,
    fixture: str | None = "demo",
    files: dict[str, str] | None = None,
) -> Site:
    """A checkout of `fixture` (and `files`) with a bare origin, and the repository on the
    fake server."""
    repo = make_repo(files, fixture=fixture)
    origin = Path(git(repo, "remote", "get-url", "origin").strip())
    fake.origin = origin
    fake.add_repo(REPOSITORY, default_branch="main")
    fake.set_permission(REPOSITORY, MAINTAINER, "write")
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    return Site(repo=repo, origin=origin, fake=fake, tmp=tmp_path)
