"""Where a project pins its ruff: each place real projects keep the pin, read from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.gate.steps import default_gate
from bot.gate.toolpins import ToolPin, find_pin, pre_commit_hooks
from tests.conftest import write_files

_HOOK = """\
repos:
  - repo: https://github.com/pre-commit/pre-commit-hooks
    rev: v4.6.0
    hooks:
      - id: check-yaml
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: {rev}
    hooks:
      - id: ruff
      - id: ruff-format
"""


@pytest.mark.parametrize(
    ("rev", "version"),
    [
        ("v0.4.10", "0.4.10"),
        ("'v0.5.0'", "0.5.0"),
        ('"0.6.1"', "0.6.1"),
        # `pre-commit autoupdate --freeze`: a commit, and the version in a comment.
        ("3b1ae2e5e5ff0b5a1aa1a0c8f6e5e8f3b0a1c2d3  # frozen: v0.3.7", "0.3.7"),
    ],
)
def test_pre_commit_rev(tmp_path: Path, rev: str, version: str) -> None:
    write_files(tmp_path, {".pre-commit-config.yaml": _HOOK.format(rev=rev)})
    assert find_pin(tmp_path) == ToolPin("ruff", version, ".pre-commit-config.yaml")


def test_other_hooks_revs_are_not_ruffs(tmp_path: Path) -> None:
    hook = "repos:\n  - repo: https://github.com/psf/black\n    rev: 24.4.2\n    hooks: []\n"
    write_files(tmp_path, {".pre-commit-config.yaml": hook})
    assert find_pin(tmp_path) is None


def test_a_frozen_sha_without_its_comment_pins_nothing(tmp_path: Path) -> None:
    write_files(tmp_path, {".pre-commit-config.yaml": _HOOK.format(rev="3b1ae2e5e5ff0b5a")})
    assert find_pin(tmp_path) is None


def test_hostile_version_is_not_a_pin(tmp_path: Path) -> None:
    # The version goes into an install command: nothing but a release number gets there.
    rev = "'0.4.10 --index-url=http://evil.example'"
    write_files(tmp_path, {".pre-commit-config.yaml": _HOOK.format(rev=rev)})
    assert find_pin(tmp_path) is None


@pytest.mark.parametrize(
    ("files", "version", "source"),
    [
        (
            {"uv.lock": '[[package]]\nname = "ruff"\nversion = "0.5.7"\n'},
            "0.5.7",
            "uv.lock",
        ),
        (
            {"poetry.lock": '[[package]]\nname = "ruff"\nversion = "0.1.15"\n'},
            "0.1.15",
            "poetry.lock",
        ),
        (
            {"pyproject.toml": '[dependency-groups]\nlint = ["ruff==0.6.9", "mypy"]\n'},
            "0.6.9",
            "pyproject.toml [dependency-groups] lint",
        ),
        (
            {"pyproject.toml": '[project.optional-dependencies]\ndev = ["Ruff == 0.4.4"]\n'},
            "0.4.4",
            "pyproject.toml [project.optional-dependencies] dev",
        ),
        (
            {"pyproject.toml": '[tool.poetry.group.dev.dependencies]\nruff = "0.3.0"\n'},
            "0.3.0",
            "pyproject.toml [tool.poetry.group.dev]",
        ),
        (
            {"requirements-dev.txt": "pytest>=8\nruff==0.2.2  # lint\n"},
            "0.2.2",
            "requirements-dev.txt",
        ),
        (
            {"requirements/lint.txt": "ruff==0.8.0\n"},
            "0.8.0",
            "requirements/lint.txt",
        ),
    ],
)
def test_pins_outside_pre_commit(
    tmp_path: Path, files: dict[str, str], version: str, source: str
) -> None:
    write_files(tmp_path, files)
    assert find_pin(tmp_path) == ToolPin("ruff", version, source)


def test_ranges_are_not_pins(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pyproject.toml": '[dependency-groups]\ndev = ["ruff>=0.4", "ruffus==2.8.4"]\n'
            '[tool.poetry.group.dev.dependencies]\nruff = "^0.4"\n',
            "requirements-dev.txt": "ruff~=0.4.0\n",
        },
    )
    assert find_pin(tmp_path) is None


def test_pre_commit_wins_over_a_lock(tmp_path: Path) -> None:
    # The hook is what CI's lint job runs; a lock may only be the dev environment.
    write_files(
        tmp_path,
        {
            ".pre-commit-config.yaml": _HOOK.format(rev="v0.4.1"),
            "uv.lock": '[[package]]\nname = "ruff"\nversion = "0.5.7"\n',
        },
    )
    pin = find_pin(tmp_path)
    assert pin is not None
    assert pin.version == "0.4.1"


def test_broken_files_pin_nothing(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pyproject.toml": "[dependency-groups\nlint = ['ruff==0.6.9'",
            "uv.lock": "\x00\x01 not toml",
            ".pre-commit-config.yaml": "repos: [unclosed",
        },
    )
    assert find_pin(tmp_path) is None


def test_a_link_out_of_the_repo_pins_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"lint.txt": "ruff==0.4.4\n"})
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements").symlink_to(outside)
    assert find_pin(repo) is None


_BLACK_FORMATS = """\
repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.17.4
    hooks:
      - id: ruff-check
        args: [--exit-non-zero-on-fix]
  - repo: https://github.com/psf/black-pre-commit-mirror
    rev: 26.10.1
    hooks:
      - id: black
"""


def test_hooks_of_the_ruff_repo_only(tmp_path: Path) -> None:
    write_files(tmp_path, {".pre-commit-config.yaml": _BLACK_FORMATS})
    assert pre_commit_hooks(tmp_path) == {"ruff-check"}
    write_files(tmp_path, {".pre-commit-config.yaml": _HOOK.format(rev="v0.4.1")})
    assert pre_commit_hooks(tmp_path) == {"ruff", "ruff-format"}
    (tmp_path / ".pre-commit-config.yaml").unlink()
    assert pre_commit_hooks(tmp_path) is None


def test_zero_config_gate_formats_only_where_ci_runs_ruff_format(tmp_path: Path) -> None:
    # humanize 4.17: ruff lints, black formats; `ruff format --check` there is a false red.
    write_files(
        tmp_path,
        {".pre-commit-config.yaml": _BLACK_FORMATS, "pyproject.toml": "[tool.ruff]\nfix = true\n"},
    )
    assert [s.name for s in default_gate(tmp_path)] == ["ruff"]
    write_files(tmp_path, {".pre-commit-config.yaml": _HOOK.format(rev="v0.4.1")})
    assert [s.name for s in default_gate(tmp_path)] == ["ruff", "ruff format"]
    (tmp_path / ".pre-commit-config.yaml").unlink()  # no hooks to go by: both, as before
    assert [s.name for s in default_gate(tmp_path)] == ["ruff", "ruff format"]
