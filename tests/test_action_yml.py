"""action.yml and the workflows: their structure, and the action run as a runner runs it."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.action_runner import (
    UnsupportedAction,
    load_action,
    parse_file_commands,
    preinstall_venv,
    run_action,
)
from tests.conftest import MakeRepo

ROOT = Path(__file__).resolve().parent.parent
ACTION = load_action(ROOT)
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
REUSABLE = ROOT / ".github/workflows/selfheal-reusable.yml"
WORKFLOWS = sorted([*ROOT.glob(".github/workflows/*.yml"), *ROOT.glob("examples/workflows/*.yml")])

INPUT_DEFAULTS = {
    "github-token": "${{ github.token }}",
    "anthropic-api-key": "",
    "mode": "auto",
    "stage": "run",
    "stopped-reason": "",
    "bundle": "",
    "agent": "auto",
    "model": "",
    "max-attempts": "",
    "max-turns": "",
    "max-usd": "",
    "max-minutes": "",
    "extra-instructions": "",
    "trigger-label": "",
    "trigger-phrase": "",
    "config": "",
    "draft": "",
    "python-version": "3.12",
    "working-directory": ".",
}
OUTPUTS = [
    "status",
    "pr-url",
    "branch",
    "attempts",
    "report-path",
    "needs-gpu",
    "job",
    "reason",
    "runs-on",
    "sha",
    "comment-id",
    "review-url",
    "cost-usd",
    "input-tokens",
    "output-tokens",
]
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)\s*(?:#\s*(?P<comment>.*))?$")


# --- (a) structure ------------------------------------------------------------------------


def test_inputs_are_the_documented_kebab_case_strings_with_descriptions() -> None:
    inputs: dict[str, dict[str, Any]] = ACTION["inputs"]
    assert {name: spec["default"] for name, spec in inputs.items()} == INPUT_DEFAULTS
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert isinstance(spec["default"], str), f"{name}: the default must be a YAML string"
        assert isinstance(spec.get("description"), str), name
        assert spec["description"].strip(), name


def test_no_expression_inside_any_run_script() -> None:
    for step in STEPS:
        assert "${{" not in step.get("run", ""), step.get("name")
        if "run" in step:
            assert step.get("shell") == "bash", step.get("name")


def test_every_input_reaches_a_step_through_env_or_with() -> None:
    used: set[str] = set()
    for step in STEPS:
        values = [
            *(step.get("env") or {}).values(),
            *(step.get("with") or {}).values(),
            step.get("working-directory", ""),
        ]
        for value in values:
            used.update(re.findall(r"inputs\.([a-z0-9-]+)", str(value)))
    assert used == set(ACTION["inputs"])
    # ...and nowhere else in a step (a `run:` is covered above; `if:` may only test outputs)
    assert all("inputs." not in str(step.get("if", "")) for step in STEPS)


def test_outputs_map_the_selfheal_step() -> None:
    outputs: dict[str, dict[str, str]] = ACTION["outputs"]
    assert list(outputs) == OUTPUTS
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.selfheal.outputs.{name} }}}}"
        assert spec["description"].strip()


def test_setup_python_leaves_the_job_environment_alone() -> None:
    (setup,) = [s for s in STEPS if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert setup["with"]["update-environment"] in (False, "false")
    assert setup["id"] == "python"
    assert PINNED.match(setup["uses"])


# --- the harness itself -------------------------------------------------------------------


def test_file_commands_use_the_runner_format() -> None:
    text = "a=1\n\nb<<EOF_9f\nline one\nx=y\n\nEOF_9f\nc=with=equals\nd<<E\nE\n"
    assert parse_file_commands(text) == {
        "a": "1",
        "b": "line one\nx=y\n",
        "c": "with=equals",
        "d": "",
    }


def test_harness_refuses_what_it_does_not_emulate(tmp_path: Path) -> None:
    action = tmp_path / "action"
    action.mkdir()
    (action / "action.yml").write_text(
        textwrap.dedent(
            """\
            name: probe
            description: probe
            runs:
              using: composite
              steps:
                - shell: bash
                  env:
                    X: ${{ github.event.issue.title }}
                  run: echo "$X"
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(UnsupportedAction, match=r"github\.event\.issue\.title"):
        run_action(
            action,
            inputs={},
            env={},
            workdir=tmp_path,
            runner_temp=tmp_path / "temp",
            python=sys.executable,
        )


def test_harness_runs_bash_like_a_runner(tmp_path: Path) -> None:
    action = tmp_path / "action"
    action.mkdir()
    (action / "action.yml").write_text(
        textwrap.dedent(
            """\
            name: probe
            description: probe
            inputs:
              who: {description: who, default: "${{ runner.temp }}"}
            outputs:
              greeting: {description: g, value: "${{ steps.one.outputs.greeting }}"}
              never: {description: n, value: "${{ steps.three.outputs.x }}"}
            runs:
              using: composite
              steps:
                - id: one
                  shell: bash
                  env:
                    WHO: ${{ inputs.who }}
                  run: |
                    printf 'greeting<<END\\nhello\\n%s\\nEND\\n' "$WHO" >>"$GITHUB_OUTPUT"
                    echo "FROM_ENV_FILE=yes" >>"$GITHUB_ENV"
                    echo "### one" >>"$GITHUB_STEP_SUMMARY"
                - id: two
                  if: env.FROM_ENV_FILE == 'YES'
                  shell: bash
                  run: false | true
                - id: three
                  if: steps.two.outcome == 'failure'
                  shell: bash
                  run: echo "x=1" >>"$GITHUB_OUTPUT"
                - id: four
                  if: always()
                  shell: bash
                  run: echo "still runs"
            """
        ),
        encoding="utf-8",
    )
    run = run_action(
        action,
        inputs={},
        env={},
        workdir=tmp_path,
        runner_temp=tmp_path / "temp",
        python=sys.executable,
    )
    # pipefail makes `false | true` fail; step three is then skipped (no success()).
    assert run.returncode == 1
    assert [s.outcome for s in run.steps] == ["success", "failure", "skipped", "success"]
    assert run.outputs == {"greeting": f"hello\n{tmp_path / 'temp'}", "never": ""}
    assert run.summary == "### one\n"


# --- (c) bad inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"stage": "deploy"},
            "stage must be run, ack, work, propose, route or stopped, not 'deploy'",
        ),
        # the ranges the command line and the configuration take, said before anything runs
        ({"max-attempts": "21"}, "max-attempts must be a whole number from 1 to 20, not '21'"),
        ({"max-usd": "lots"}, "max-usd must be an amount in US dollars"),
        ({"max-minutes": "0"}, "max-minutes must be a whole number from 1"),
        ({"max-turns": "-1"}, "max-turns must be a whole number from 1"),
        ({"mode": "yolo"}, "mode must be auto, heal or implement, not 'yolo'"),
        ({"agent": "gpt"}, "agent must be auto, none, command or claude"),
        ({"max-attempts": "3; rm -rf /"}, "max-attempts must be a whole number"),
        ({"draft": "yes"}, "draft must be true or false"),
        ({"bundle": "/tmp/b"}, "bundle is for the work and propose stages"),
        ({"stage": "x\n::add-mask::y"}, "not 'x%0A::add-mask::y'"),
    ],
)
def test_a_bad_input_stops_before_anything_is_installed(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(
        ROOT,
        inputs=inputs,
        env={},
        workdir=tmp_path,
        runner_temp=tmp_path / "temp",
        python=sys.executable,
    )
    assert run.returncode == 2
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert errors[0].startswith("::error title=Bad selfheal input::")
    assert message in errors[0]
    assert [s.outcome for s in run.steps[1:]] == ["skipped"] * (len(STEPS) - 1)
    assert run.outputs["status"] == ""


# --- the run step's arguments, with a recording stand-in for selfheal --------------------

STUB = """\
import json, os, sys
keep = ("GITHUB_TOKEN", "ANTHROPIC_API_KEY", "SELFHEAL_", "INPUT_", "VENV_PATH")
env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
with open(os.environ["STUB_RECORD"], "w") as f:
    json.dump({"argv": sys.argv[1:], "env": env, "cwd": os.getcwd()}, f)
with open(os.environ["GITHUB_OUTPUT"], "a") as f:
    f.write("status=stubbed\\njob=heal\\nreason<<R_1\\ntwo\\nlines\\nR_1\\n")
with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as f:
    f.write("stub summary\\n")
"""


@pytest.fixture
def stubbed(tmp_path: Path) -> tuple[Path, Path]:
    """A runner temp dir whose selfheal venv holds a stand-in that records how it was run."""
    runner_temp = tmp_path / "runner-temp"
    venv = preinstall_venv(ROOT, runner_temp=runner_temp, python=sys.executable)
    script = venv / "bin" / "selfheal"
    script.write_text(f"#!{sys.executable}\n{STUB}", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return runner_temp, tmp_path / "record.json"


def _stub_run(
    stubbed: tuple[Path, Path], tmp_path: Path, inputs: dict[str, str], env: dict[str, str]
) -> tuple[Any, dict[str, Any]]:
    runner_temp, record = stubbed
    (tmp_path / "work" / "sub").mkdir(parents=True, exist_ok=True)
    run = run_action(
        ROOT,
        inputs=inputs,
        env={"STUB_RECORD": str(record), **env},
        workdir=tmp_path / "work",
        runner_temp=runner_temp,
        python=sys.executable,
        github_token="ghs_job_token",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.step("install").outcome == "skipped"  # the preinstalled venv was recognised
    return run, json.loads(record.read_text())


def test_empty_inputs_become_no_flags_and_no_variables(
    stubbed: tuple[Path, Path], tmp_path: Path
) -> None:
    run, seen = _stub_run(
        stubbed,
        tmp_path,
        {"trigger-label": "", "draft": "", "agent": "", "github-token": ""},
        {"ANTHROPIC_API_KEY": "sk-from-the-job"},
    )
    assert seen["argv"] == ["run", f"--repo={tmp_path / 'work'}", "--mode=auto"]
    # the job's own key survives an empty input; nothing else leaks into selfheal
    assert seen["env"] == {"ANTHROPIC_API_KEY": "sk-from-the-job"}
    assert run.outputs["status"] == "stubbed"
    assert run.outputs["reason"] == "two\nlines"
    assert run.outputs["pr-url"] == ""
    assert run.summary == "stub summary\n"


def test_inputs_become_flags_and_selfheal_variables(
    stubbed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, seen = _stub_run(
        stubbed,
        tmp_path,
        {
            "stage": "work",
            "mode": "heal",
            "model": "claude-x",
            "max-attempts": "5",
            "bundle": "/b dir",
            "config": "ci/selfheal.yml",
            "trigger-label": "fix me",
            "trigger-phrase": "/fixit",
            "extra-instructions": "Use tabs.",
            "max-turns": "12",
            "max-usd": "2.50",
            "max-minutes": "20",
            "draft": "false",
            "anthropic-api-key": "sk-input",
            "working-directory": "sub",
        },
        {},
    )
    assert seen["argv"] == [
        "work",
        f"--repo={tmp_path / 'work' / 'sub'}",
        "--mode=heal",
        "--agent=auto",
        "--model=claude-x",
        "--max-attempts=5",
        "--bundle=/b dir",
        "--config=ci/selfheal.yml",
    ]
    assert seen["env"] == {
        "SELFHEAL_TRIGGER_LABEL": "fix me",
        "SELFHEAL_TRIGGER_PHRASE": "/fixit",
        "SELFHEAL_EXTRA_INSTRUCTIONS": "Use tabs.",
        "SELFHEAL_BUDGET__MAX_TURNS_PER_ATTEMPT": "12",
        "SELFHEAL_BUDGET__MAX_USD": "2.50",
        "SELFHEAL_BUDGET__WALL_SECONDS": "1200",
        "SELFHEAL_DRAFT": "false",
        "GITHUB_TOKEN": "ghs_job_token",
        "ANTHROPIC_API_KEY": "sk-input",
    }
    assert seen["cwd"] == str(tmp_path / "work" / "sub")


def test_propose_gets_no_loop_flags(stubbed: tuple[Path, Path], tmp_path: Path) -> None:
    _, seen = _stub_run(
        stubbed, tmp_path, {"stage": "propose", "model": "m", "max-attempts": "2"}, {}
    )
    assert seen["argv"] == ["propose", f"--repo={tmp_path / 'work'}"]


# --- (b) the real selfheal on an event it does not act on --------------------------------


def _event(tmp_path: Path, name: str, payload: dict[str, Any]) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return {
        "GITHUB_EVENT_NAME": name,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_REPOSITORY": "octo/project",
        "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing listens: a skip must not call GitHub
    }


def test_a_push_is_skipped_with_outputs_and_a_summary(tmp_path: Path, make_repo: MakeRepo) -> None:
    repo = make_repo({"README.md": "project\n"}, origin=False)
    runner_temp = tmp_path / "runner-temp"
    preinstall_venv(ROOT, runner_temp=runner_temp, python=sys.executable)
    run = run_action(
        ROOT,
        inputs={},
        env=_event(
            tmp_path,
            "push",
            {
                "ref": "refs/heads/main",
                "after": "0" * 40,
                "repository": {"full_name": "octo-org/octo-repo"},
                "sender": {"login": "octocat", "type": "User"},
            },
        ),
        workdir=repo,
        runner_temp=runner_temp,
        python=sys.executable,
        github_token="ghs_job_token",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.step("install").outcome == "skipped"
    assert run.outputs["job"] == "skip"
    assert run.outputs["status"] == "skipped"
    assert run.outputs["reason"]
    assert run.step("selfheal").stdout.strip(), "a one-line reason on stdout"
    assert run.summary.strip()
    assert "ghs_job_token" not in run.stdout.replace("::add-mask::ghs_job_token", "")


# --- the real install step (needs the package index) --------------------------------------


@pytest.fixture(scope="module")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> None:
    where = tmp_path_factory.mktemp("probe")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "-d",
            str(where),
            "setuptools",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"the package index is not reachable: {done.stderr.strip()[-300:]}")


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.usefixtures("package_index")
def test_the_install_step_installs_the_checkout_once(tmp_path: Path) -> None:
    # A copy of the checkout as git sees it: the build writes into it, and the key must not
    # change under the test while someone edits the working tree.
    checkout = tmp_path / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():
            (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, checkout / rel)
    runner_temp = tmp_path / "runner-temp"

    def install() -> Any:
        return run_action(
            checkout,
            inputs={},
            env={},
            workdir=tmp_path,
            runner_temp=runner_temp,
            python=sys.executable,
            stop_after="install",
        )

    first = install()
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.step("install").outcome == "success"
    venv = Path(first.step("venv").outputs["path"])
    version = subprocess.run(
        [str(venv / "bin" / "selfheal"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("selfheal ")
    # The installed copy (not the checkout) runs a whole heal: a module or data file the
    # package leaves out would fail here, not on a user's first run.
    demo = subprocess.run(
        [str(venv / "bin" / "selfheal"), "demo", "--dir", str(tmp_path / "demo"), "--json"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert json.loads(demo.stdout)["status"] == "healed"
    # selfheal's dependencies stay in its venv, which has no pip of its own
    assert not (venv / "bin" / "pip").exists()
    second = install()
    assert second.step("venv").outputs["ready"] == "true"
    assert second.step("install").outcome == "skipped"


# --- (d) workflows ------------------------------------------------------------------------


def _on(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def test_there_are_workflows_and_examples() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in WORKFLOWS}
    assert {".github/workflows/ci.yml", ".github/workflows/selfheal.yml"} <= names
    assert any(n.startswith("examples/workflows/") for n in names)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_workflow_is_least_privilege(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _on(workflow)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: every job says what it needs"
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
            assert "${{" not in step.get("run", ""), f"{name}: inputs go through env:"


@pytest.mark.parametrize(
    "path", [ROOT / "action.yml", *WORKFLOWS], ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_actions_are_pinned_to_a_commit_with_the_version_alongside(path: Path) -> None:
    refs = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        match = USES_LINE.match(line)
        if not match or match["ref"].startswith(("./", "$/")):
            continue
        refs += 1
        assert PINNED.match(match["ref"]), line
        assert match["comment"] and re.match(r"v\d+(\.\d+)*\b", match["comment"]), line
    # this repository's own workflow calls the reusable one at its own commit, pinning nothing
    assert refs or path == ROOT / ".github/workflows/selfheal.yml"


def test_the_reusable_workflow_keeps_write_tokens_away_from_project_code() -> None:
    workflow = yaml.safe_load(REUSABLE.read_text("utf-8"))
    jobs = workflow["jobs"]
    assert set(jobs["work"]["permissions"].values()) == {"read"}
    assert set(jobs["route"]["permissions"].values()) == {"read"}
    assert jobs["propose"]["needs"] == ["acknowledge", "work"]
    assert "write" in jobs["propose"]["permissions"].values()
    assert "write" in jobs["acknowledge"]["permissions"].values()
    stages = {
        name: [s["with"]["stage"] for s in job["steps"] if s.get("uses") == "$/"]
        for name, job in jobs.items()
    }
    assert stages == {
        "acknowledge": ["ack"],
        "route": ["route"],
        "work": ["work"],
        "propose": ["propose"],
        "stopped": ["stopped"],
        "fixers": ["work"],
        "suggest": ["propose"],
    }
    # the API key reaches the work job only; the writing jobs check out nothing they run
    for name, job in jobs.items():
        keyed = [s for s in job["steps"] if "anthropic-api-key" in (s.get("with") or {})]
        assert bool(keyed) == (name == "work"), name
    # a fork's code runs in `fixers` only: read access, no agent; `suggest` writes a review
    # and checks out nothing but the configuration
    assert jobs["fixers"]["permissions"] == {"contents": "read"}
    (fixers,) = [s for s in jobs["fixers"]["steps"] if s.get("uses") == "$/"]
    assert fixers["with"]["agent"] == "none"
    assert jobs["suggest"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert jobs["suggest"]["steps"][0]["with"]["sparse-checkout"] == ".github"
    assert jobs["stopped"]["steps"][0]["with"]["sparse-checkout"] == ".github"


def test_adopting_it_is_one_small_file_and_this_repository_uses_it_too() -> None:
    example = ROOT / "examples/workflows/selfheal.yml"
    assert len(example.read_text(encoding="utf-8").splitlines()) <= 15
    caller = yaml.safe_load(example.read_text(encoding="utf-8"))
    (job,) = caller["jobs"].values()
    assert job["uses"].startswith("OWNER/selfheal/.github/workflows/selfheal-reusable.yml@")
    assert job["secrets"] == {"anthropic-api-key": "${{ secrets.ANTHROPIC_API_KEY }}"}
    own = yaml.safe_load((ROOT / ".github/workflows/selfheal.yml").read_text(encoding="utf-8"))
    (own_job,) = own["jobs"].values()
    assert own_job["uses"] == "$/.github/workflows/selfheal-reusable.yml"
    # a called workflow's jobs get at most what the caller grants
    granted = {"contents", "pull-requests", "issues", "checks", "actions"}
    assert set(job["permissions"]) == set(own_job["permissions"]) == granted
