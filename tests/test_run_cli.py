"""`selfheal run` through the real command line: --dry-run's JSON, and every exit-2 path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli import selfheal

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events"
FIELDS = [
    "job",
    "reason",
    "issue",
    "pull_request",
    "head_branch",
    "head_sha",
    "repository",
    "actor",
    "command_args",
    "run_id",
    "other_actors",
    "comment_id",
    "head_repository",
]


@pytest.fixture(autouse=True)
def _no_actions_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests may run inside GitHub Actions, whose variables must not leak into them."""
    for name in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


def dry_run(repo: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return selfheal("run", "--dry-run", "--repo", str(repo), *args, **kwargs)


def decision(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert list(data) == FIELDS
    return data


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with one `selfheal:` line on stderr that says each of `words`, nothing on stdout."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfheal: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_dry_run_prints_the_decision_for_a_labeled_issue(repo: Path) -> None:
    done = dry_run(
        repo, "--event-name", "issues", "--event-path", str(EVENTS / "issues-labeled.json")
    )
    assert decision(done) == {
        "job": "implement",
        "reason": "issue #1 was labeled 'selfheal': implement it",
        "issue": 1,
        "pull_request": None,
        "head_branch": None,
        "head_sha": None,
        "repository": "Codertocat/Hello-World",
        "actor": "Codertocat",
        "command_args": "",
        "run_id": None,
        "other_actors": [],
        "comment_id": None,
        "head_repository": None,
    }
    assert done.stderr == ""


def test_dry_run_reads_the_actions_variables(repo: Path) -> None:
    env = {
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(EVENTS / "workflow-run-completed-failure.json"),
    }
    data = decision(dry_run(repo, env=env))
    assert (data["job"], data["head_branch"], data["head_sha"], data["pull_request"]) == (
        "heal",
        "changes",
        "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        2,
    )


def test_flags_win_over_the_actions_variables(repo: Path) -> None:
    env = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(repo / "missing.json")}
    done = dry_run(
        repo,
        "--event-name",
        "issue_comment",
        "--event-path",
        str(EVENTS / "issue-comment-created-pr.json"),
        env=env,
    )
    data = decision(done)
    assert (data["job"], data["pull_request"]) == ("heal", 2)


def test_a_skip_is_a_decision_too(repo: Path) -> None:
    done = dry_run(
        repo, "--event-name", "push", "--event-path", str(EVENTS / "issues-labeled.json")
    )
    data = decision(done)
    assert data["job"] == "skip"
    assert "does not act on 'push' events" in data["reason"]


def test_a_payload_that_is_not_an_object_is_bad_input(repo: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('["not", "an", "event"]', encoding="utf-8")
    done = dry_run(repo, "--event-name", "issues", "--event-path", str(event))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "the event payload is an array, not an object: not a GitHub webhook payload" in line


def test_the_configuration_decides_the_trigger_label(repo: Path) -> None:
    args = ["--event-name", "issues", "--event-path", str(EVENTS / "issues-labeled.json")]
    (repo / ".github").mkdir()
    (repo / ".github" / "selfheal.yml").write_text("trigger_label: fix-me\n", encoding="utf-8")
    data = decision(dry_run(repo, *args))
    assert data["job"] == "skip"
    assert "not the trigger label 'fix-me'" in data["reason"]
    from_env = decision(dry_run(repo, *args, env={"SELFHEAL_TRIGGER_LABEL": "selfheal"}))
    assert from_env["job"] == "implement"


def test_the_configuration_lists_allowed_bots(repo: Path, tmp_path: Path) -> None:
    payload = json.loads((EVENTS / "issue-comment-created.json").read_text(encoding="utf-8"))
    payload["sender"].update(login="renovate[bot]", type="Bot")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload), encoding="utf-8")
    args = ["--event-name", "issue_comment", "--event-path", str(event)]
    assert decision(dry_run(repo, *args))["job"] == "skip"
    config = tmp_path / "selfheal.yml"
    config.write_text('allowed_bots: ["renovate[bot]"]\n', encoding="utf-8")
    assert decision(dry_run(repo, *args, "--config", str(config)))["job"] == "implement"


def test_a_bad_configuration_exits_2(repo: Path) -> None:
    done = dry_run(
        repo,
        "--event-name",
        "issues",
        "--event-path",
        str(EVENTS / "issues-labeled.json"),
        env={"SELFHEAL_TRIGGER_LABEL": ""},
    )
    assert done.returncode == 2
    assert "SELFHEAL_TRIGGER_LABEL" in done.stderr


# --- exit 2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [False, True])
def test_no_event_name_names_the_variable(repo: Path, empty: bool) -> None:
    env = {"GITHUB_EVENT_PATH": str(EVENTS / "issues-labeled.json")}
    if empty:
        env["GITHUB_EVENT_NAME"] = ""
    refused(dry_run(repo, env=env), "GITHUB_EVENT_NAME is not set", "--event-name")


def test_no_event_path_names_the_variable(repo: Path) -> None:
    refused(dry_run(repo, "--event-name", "issues"), "GITHUB_EVENT_PATH is not set", "--event-path")


def test_a_missing_event_file(repo: Path) -> None:
    missing = repo / "nope.json"
    refused(
        dry_run(repo, "--event-name", "issues", "--event-path", str(missing)),
        f"cannot read the event file {missing}",
        "No such file",
    )


def test_a_directory_is_not_an_event_file(repo: Path) -> None:
    refused(
        dry_run(repo, "--event-name", "issues", "--event-path", str(repo)),
        "cannot read the event file",
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is not JSON"),
        (b"{'action': 'labeled'}", "is not JSON"),
        (b'{"action": "labeled"', "is not JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "is not JSON"),
        (b'{"n": ' + b"9" * 5000 + b"}", "is not JSON"),
        (b'{"action": "\xff\xfe"}', "is not UTF-8"),
    ],
    ids=["empty", "python-repr", "truncated", "deeply-nested", "huge-number", "not-utf8"],
)
def test_an_event_file_that_is_not_json(
    repo: Path, tmp_path: Path, content: bytes, says: str
) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(content)
    refused(dry_run(repo, "--event-name", "issues", "--event-path", str(event)), says)


def test_an_event_file_over_25_mb_is_refused(repo: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    with event.open("wb") as file:
        file.truncate(25 * 1024 * 1024 + 1)
    refused(
        dry_run(repo, "--event-name", "issues", "--event-path", str(event)),
        "over 25 MB",
        "refused",
    )


def test_an_event_file_of_exactly_25_mb_is_read(repo: Path, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    payload = b'{"repository": {"full_name": "o/r"}, "sender": {"login": "o"}}'
    padding = 25 * 1024 * 1024 - len(payload)
    event.write_bytes(payload[:-1] + b" " * padding + b"}")
    data = decision(dry_run(repo, "--event-name", "issues", "--event-path", str(event)))
    assert data["job"] == "skip"


def test_a_missing_repo_exits_2(repo: Path) -> None:
    done = selfheal(
        "run",
        "--dry-run",
        "--repo",
        str(repo / "nope"),
        "--event-name",
        "issues",
        "--event-path",
        str(EVENTS / "issues-labeled.json"),
    )
    refused(done, "no such directory")


@pytest.mark.parametrize("missing", ["GITHUB_REPOSITORY", "GITHUB_TOKEN"])
def test_without_dry_run_it_needs_the_repository_and_a_token(repo: Path, missing: str) -> None:
    env = {
        "GITHUB_EVENT_NAME": "issues",
        "GITHUB_EVENT_PATH": str(EVENTS / "issues-labeled.json"),
        "GITHUB_REPOSITORY": "Codertocat/Hello-World",
        "GITHUB_TOKEN": "ghs_x",
        "GITHUB_OUTPUT": "",
        "GITHUB_STEP_SUMMARY": "",
    }
    env[missing] = ""
    done = selfheal("run", "--repo", str(repo), env=env)
    refused(done, f"{missing} is not set")


@pytest.mark.parametrize("command", ["run", "work", "propose"])
def test_an_event_it_does_not_act_on_is_a_skip_without_a_token(repo: Path, command: str) -> None:
    env = {
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(EVENTS / "issues-labeled.json"),
        "GITHUB_REPOSITORY": "",
        "GITHUB_TOKEN": "",
    }
    done = selfheal(command, "--repo", str(repo), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("selfheal: nothing to do: selfheal does not act on 'push'")


def test_run_help_names_its_options() -> None:
    done = selfheal("run", "--help")
    assert done.returncode == 0
    for option in ("--dry-run", "--event-name", "--event-path", "GITHUB_EVENT_NAME"):
        assert option in done.stdout


def test_stages_that_run_no_loop_offer_no_loop_options_and_name_their_outputs() -> None:
    from tests.cli import selfheal as cli

    for stage in ("ack", "propose"):
        said = cli(stage, "--help").stdout
        assert "--max-attempts" not in said and "--agent" not in said, stage
    assert "--max-attempts" in cli("work", "--help").stdout
    route = " ".join(cli("route", "--help").stdout.split())
    assert "GITHUB_OUTPUT (runs-on, gpu, job)" in route
    assert "pr-url" not in route
    ack = " ".join(cli("ack", "--help").stdout.split())
    assert "GITHUB_OUTPUT (job, sha, status, comment-id)" in ack
    stopped = " ".join(cli("stopped", "--help").stdout.split())
    assert "--why" in stopped and "--agent" not in stopped
