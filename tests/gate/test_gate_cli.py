"""`selfheal gate` says plainly when a gate that exits 0 shows no evidence: not green, exit 1."""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

from tests.cli import selfheal
from tests.conftest import MakeRepo

BIN = str(Path(sys.executable).parent)
ENV = {"PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
CONFIG = """\
gate:
  - name: tests
    run: pytest -q -p no:cacheprovider
    kind: pytest
"""


def test_a_green_project_with_no_tests_collected_is_not_green(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {".github/selfheal.yml": CONFIG, "tests/helpers.py": "X = 1\n", "pkg.py": "Y = 2\n"},
        origin=False,
    )
    done = selfheal("gate", "--repo", str(repo), env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first == (
        "selfheal gate: red - not green: tests unverified: "
        "no tests were collected (pytest exit code 5)"
    )
    assert "tests unverified" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_green_project_with_tests_is_green(make_repo: MakeRepo) -> None:
    files = {".github/selfheal.yml": CONFIG, "tests/test_a.py": "def test_a():\n    pass\n"}
    repo = make_repo(files, origin=False)
    done = selfheal("gate", "--repo", str(repo), env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "selfheal gate: green - gate green"


def test_a_red_gate_reads_as_plain_text_and_writes_only_the_report(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    files = {".github/selfheal.yml": CONFIG, "tests/test_a.py": "def test_a():\n    assert 0\n"}
    repo = make_repo(files, origin=False)
    report_dir = tmp_path / "out"
    done = selfheal("gate", "--repo", str(repo), "--report-dir", str(report_dir), env=ENV)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("selfheal gate: red - ")
    assert lines[1] == "  gate: tests failed (1)"  # configured: no detection line
    # The digest is for a terminal: no Markdown headings, fences or backticks.
    assert not [line for line in lines if line.startswith(("#", "```")) or "`" in line]
    assert "- tests/test_a.py::test_a at tests/test_a.py:2" in done.stdout
    # Only the report: a gate run has no fix and no transcript to write.
    assert sorted(p.name for p in report_dir.iterdir()) == [
        ".gitignore",
        "report.json",
        "report.md",
    ]


def test_with_no_gate_configured_it_says_what_it_detected(make_repo: MakeRepo) -> None:
    files = {
        "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
        ".pre-commit-config.yaml": (
            "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n"
            f"    rev: v{version('ruff')}\n    hooks:\n      - id: ruff\n"  # the bundled ruff
        ),
        "tests/test_a.py": "def test_a():\n    pass\n",
    }
    done = selfheal("gate", "--repo", str(make_repo(files, origin=False)), env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[1] == (
        "  gate (none configured, detected): ruff: run (a pre-commit hook runs it); "
        "ruff format: skipped (ruff is configured, but no pre-commit hook runs it); "
        "pytest: run (tests or pytest configuration found)"
    )
    configured = {".github/selfheal.yml": CONFIG, "tests/test_a.py": "def test_a():\n    pass\n"}
    done = selfheal("gate", "--repo", str(make_repo(configured, origin=False)), env=ENV)
    assert "detected" not in done.stdout


def test_the_steps_start_before_ruff_is_asked_its_version(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # With no pin to compare with, ruff's version is only the report's: asked once the step
    # has run, not on the way to the first step (a second interpreter for `python -m ruff`).
    log, bin_dir = tmp_path / "calls.log", tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ruff"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "start $*" >> {log}\n'
        'case "$1" in --version) echo "ruff 0.9.9" ;; *) sleep 0.3; echo "[]" ;; esac\n'
        f'echo "end $*" >> {log}\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    config = "gate:\n  - name: lint\n    run: ruff check .\n    kind: ruff\n"
    repo = make_repo({".github/selfheal.yml": config, "pkg.py": "Y = 2\n"}, origin=False)
    path = str(bin_dir) + os.pathsep + ENV["PATH"]
    done = selfheal("gate", "--repo", str(repo), "--json", env={"PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr
    (step,) = json.loads(done.stdout)["gate_before"]["steps"]
    assert step["tool"] == "ruff 0.9.9 (the project pins none)"
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls == [
        "start check . --output-format=json",
        "end check . --output-format=json",
        "start --version",
        "end --version",
    ]
