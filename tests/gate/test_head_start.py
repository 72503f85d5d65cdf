"""`selfheal gate` starts the last run's steps before it reads its configuration, and takes
a process for a step only when it is exactly that step: a record that says anything else
(another command, a file in the scratch dir, a secret, a stale configuration) costs at most a
process that is ended at once, and the gate's result is the configuration's."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli import selfheal
from tests.conftest import MakeRepo, git, write_files

BIN = str(Path(sys.executable).parent)
PROJECT = {
    "pyproject.toml": "[tool.ruff]\nline-length = 88\n",
    ".github/selfheal.yml": """\
        gate:
          - {name: lint, run: ruff check ., kind: ruff}
          - {name: tests, run: python -m pytest -q, kind: pytest}
        """,
    "calc/__init__.py": "",
    "calc/ops.py": "def double(x: int) -> int:\n    return 2 * x\n",
    "tests/test_ops.py": """\
        from calc.ops import double


        def test_double() -> None:
            assert double(2) == 4
        """,
}
Env = dict[str, str]


@pytest.fixture(scope="module")
def warm_bytecode(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gate's bytecode cache after one run (pytest's own modules, ruff's wrapper),
    compiled once for the module: a cold cache costs each test's first gate a CPU second."""
    root = tmp_path_factory.mktemp("warm")
    repo = root / "repo"
    write_files(repo, PROJECT)
    git(repo, "init", "-q", "-b", "main")
    env = {"PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "XDG_CACHE_HOME": str(root)}
    gate(repo, env)
    shutil.rmtree(root / "selfheal" / "gate" / "head-start")
    return root / "selfheal" / "gate" / "pycache"


@pytest.fixture
def cache(tmp_path: Path, warm_bytecode: Path) -> Env:
    """A cache of the test's own (its records, its bytecode) that starts with the compiled
    bytecode a user's cache has after one run (copies: no test's run changes another's)."""
    xdg = tmp_path / "xdg-cache"
    shutil.copytree(warm_bytecode, xdg / "selfheal" / "gate" / "pycache")
    return {"PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "XDG_CACHE_HOME": str(xdg)}


def gate(repo: Path, env: Env, expect: int = 0) -> dict[str, Any]:
    done = selfheal("gate", "--repo", str(repo), "--json", env=env)
    assert done.returncode == expect, done.stdout[-2000:] + done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def outcome(report: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    steps = report["gate_before"]["steps"]
    return [(s["name"], s["status"], s["tests_run"]) for s in steps]


def record_of(env: Env) -> Path:
    records = list((Path(env["XDG_CACHE_HOME"]) / "selfheal" / "gate" / "head-start").iterdir())
    assert len(records) == 1, records
    return records[0]


def rewrite(record: Path, change: Any) -> None:
    data = json.loads(record.read_text())
    change(data)
    record.write_text(json.dumps(data))


def gone(pid_file: Path) -> bool:
    """The process whose pid the file holds has ended (and is no zombie of anyone's)."""
    pid = int(pid_file.read_text().split()[0])
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


def hostile(marker: Path) -> list[str]:
    """A step's argv that says it ran (its pid in `marker`) and would run on for a minute."""
    return ["sh", "-c", f"echo $$ > {marker}; exec sleep 60"]


def recorded_then_hostile(make_repo: MakeRepo, env: Env, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A project after one honest gate, its record with the first step's argv made
    `hostile`: (the repo, the marker that step would write, the record)."""
    repo = make_repo(PROJECT, origin=False)
    marker = tmp_path / "started"
    gate(repo, env)
    record = record_of(env)
    rewrite(record, lambda data: data["launches"][0].update(argv=hostile(marker)))
    return repo, marker, record


def test_the_next_gate_takes_the_steps_it_started_ahead_and_reports_the_same(
    make_repo: MakeRepo, cache: Env
) -> None:
    repo = make_repo(PROJECT, origin=False)
    first = gate(repo, cache)
    assert first["gate_before"]["started_ahead"] == []
    record = record_of(cache)
    assert record.stat().st_mode & 0o077 == 0
    assert record.parent.stat().st_mode & 0o077 == 0
    text = record.read_text()
    assert os.environ["HOME"] not in text.replace(os.environ["HOME"] + "/", "")  # names only
    # The tests start first, the lint after: the gate ends when its slowest step does.
    started = [launch["argv"] for launch in json.loads(text)["launches"]]
    assert ["pytest" in argv for argv in started] == [True, False], started
    second = gate(repo, cache)
    assert second["gate_before"]["started_ahead"] == ["lint", "tests"]
    assert outcome(second) == outcome(first) == [("lint", "passed", None), ("tests", "passed", 1)]
    # Its time is the step's own, not the time it waited for the configuration to be read.
    lint = second["gate_before"]["steps"][0]
    assert lint["duration_s"] < 5
    # The gate's time counts from the first step's start: never shorter than a step.
    slowest = max(s["duration_s"] for s in second["gate_before"]["steps"])
    assert second["gate_before"]["duration_s"] >= slowest
    assert git(repo, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    # A failing step started ahead fails the gate as it would have. (Another size: a pyc is
    # valid for a source of the same size and mtime in seconds, and this may be the same
    # second as the first write.)
    (repo / "calc" / "ops.py").write_text("def double(x: int) -> int:\n    return 2 * x + 1\n")
    third = gate(repo, cache, expect=1)
    assert third["gate_before"]["started_ahead"] == ["lint", "tests"]
    assert outcome(third) == [("lint", "passed", None), ("tests", "failed", 1)]


def test_a_record_that_starts_another_command_is_ended_and_the_configuration_runs(
    make_repo: MakeRepo, cache: Env, tmp_path: Path
) -> None:
    repo = make_repo(PROJECT, origin=False)
    honest = gate(repo, cache)
    record = record_of(cache)
    marker = tmp_path / "started"

    def other_command(data: dict[str, Any]) -> None:
        data["launches"][1]["argv"] = hostile(marker)

    rewrite(record, other_command)
    report = gate(repo, cache)
    assert marker.exists()  # it was started: the record looked like the last run's
    assert gone(marker)  # and ended; the gate did not wait a minute for it
    assert report["gate_before"]["started_ahead"] == []
    assert outcome(report) == outcome(honest)
    # The run left the true steps for the next one.
    assert gate(repo, cache)["gate_before"]["started_ahead"] == ["lint", "tests"]


def test_a_file_the_record_adds_to_the_scratch_dir_is_not_taken(
    make_repo: MakeRepo, cache: Env, tmp_path: Path
) -> None:
    """A module next to selfheal's plugin (on the step's PYTHONPATH) would run in the step:
    the scratch dir must be exactly what the configuration's steps need."""
    repo = make_repo(PROJECT, origin=False)
    gate(repo, cache)
    record = record_of(cache)
    marker = tmp_path / "imported"

    def plant(data: dict[str, Any]) -> None:
        plugin = next(name for name in data["files"] if name.endswith(".py"))
        planted = str(Path(plugin).with_name("sitecustomize.py"))
        data["files"][planted] = f"open({str(marker)!r}, 'w').write('x')\n"

    rewrite(record, plant)
    report = gate(repo, cache)
    assert report["gate_before"]["started_ahead"] == []
    assert outcome(report) == [("lint", "passed", None), ("tests", "passed", 1)]


@pytest.mark.parametrize("where", ["inherit", "set"])
def test_a_record_that_names_a_secret_starts_nothing(
    make_repo: MakeRepo, cache: Env, tmp_path: Path, where: str
) -> None:
    repo = make_repo(PROJECT, origin=False)
    gate(repo, cache)
    record = record_of(cache)
    marker = tmp_path / "started"

    def leak(data: dict[str, Any]) -> None:
        launch = data["launches"][0]
        launch["argv"] = hostile(marker)
        if where == "inherit":
            launch["inherit"].append("GITHUB_TOKEN")
        else:
            launch["set"]["DEPLOY_KEY"] = "x"

    rewrite(record, leak)
    report = gate(repo, {**cache, "GITHUB_TOKEN": "ghp_" + "s" * 36})
    assert not marker.exists()
    assert report["gate_before"]["started_ahead"] == []


def test_a_configuration_that_lets_a_secret_through_is_never_recorded(
    make_repo: MakeRepo, cache: Env
) -> None:
    project = dict(PROJECT)
    project[".github/selfheal.yml"] = PROJECT[".github/selfheal.yml"] + "env_allow: [MY_TOKEN]\n"
    repo = make_repo(project, origin=False)
    env = {**cache, "MY_TOKEN": "t" * 20}
    gate(repo, env)
    assert gate(repo, env)["gate_before"]["started_ahead"] == []
    records = Path(cache["XDG_CACHE_HOME"]) / "selfheal" / "gate" / "head-start"
    assert not records.exists() or not any(records.iterdir())


def test_a_changed_configuration_starts_nothing_stale(
    make_repo: MakeRepo, cache: Env, tmp_path: Path
) -> None:
    repo, marker, _ = recorded_then_hostile(make_repo, cache, tmp_path)
    config = repo / ".github" / "selfheal.yml"
    config.write_text(config.read_text().replace("ruff check .", "ruff check calc"))
    report = gate(repo, cache)
    assert not marker.exists()
    assert report["gate_before"]["steps"][0]["argv"][:3] == ["ruff", "check", "calc"]


def test_a_records_dir_open_to_others_is_neither_read_nor_written(
    make_repo: MakeRepo, cache: Env, tmp_path: Path
) -> None:
    repo, marker, record = recorded_then_hostile(make_repo, cache, tmp_path)
    record.parent.chmod(0o777)
    written = record.read_text()
    report = gate(repo, cache)
    assert not marker.exists()
    assert report["gate_before"]["started_ahead"] == []
    assert record.read_text() == written


def test_a_gate_that_stops_on_bad_input_ends_what_it_started_ahead(
    make_repo: MakeRepo, cache: Env, tmp_path: Path
) -> None:
    repo, marker, _ = recorded_then_hostile(make_repo, cache, tmp_path)
    done = selfheal(
        "gate", "--repo", str(repo), "--json", env={**cache, "SELFHEAL_MAX_ATTEMPTS": "many"}
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert marker.exists()
    assert gone(marker)


def test_no_gate_leaves_its_scratch_dirs_bytecode_in_the_users_cache(
    make_repo: MakeRepo, cache: Env
) -> None:
    """Each run's scratch dir is new (it holds selfheal's pytest plugin, which pytest
    rewrites into the bytecode cache): its mirror there goes with it, else every run would
    leave one more in the user's cache."""
    repo = make_repo(PROJECT, origin=False)
    # Written before the run, as a user's files are: a pyc compiled in the second of its
    # source's last write is removed after the run (bot.bytecode.drop_racy).
    for path in (repo / "calc" / "ops.py", repo / "tests" / "test_ops.py"):
        os.utime(path, (time.time() - 10,) * 2)
    pycache = Path(cache["XDG_CACHE_HOME"]) / "selfheal" / "gate" / "pycache"
    mine = (repo.resolve() / "tests").relative_to("/").as_posix()
    for started_ahead in ([], ["lint", "tests"], ["lint", "tests"]):
        assert gate(repo, cache)["gate_before"]["started_ahead"] == started_ahead
        compiled = [p.relative_to(pycache).as_posix() for p in pycache.rglob("*.pyc")]
        # The cache is in use: this project's tests are compiled there (not only the seed's).
        assert any(p.startswith(mine) and "test_ops" in p for p in compiled), compiled
        assert not [p for p in compiled if "selfheal-gate-" in p], compiled
