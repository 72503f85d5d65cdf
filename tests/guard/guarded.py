"""The guards over a real change in a real repository: commit a base, edit the tree, stage it,
and check the staged diff with the base's bytes from `git show`, as the loop does."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.guard.diff import parse_diff
from bot.guard.policy import GUARDS, check_changes
from bot.report import GuardVerdict
from tests.conftest import MakeRepo, git

Edit = str | bytes | None  # text (dedented), raw bytes, or None to delete


def base_file(repo: Path, sha: str = "HEAD") -> Callable[[str], bytes | None]:
    """`before` for check_changes: the file's bytes at `sha`, None when it is no blob there."""

    def before(path: str) -> bytes | None:
        done = subprocess.run(
            ["git", "cat-file", "blob", f"{sha}:{path}"], cwd=repo, capture_output=True, check=False
        )
        return done.stdout if done.returncode == 0 else None

    return before


def edit(repo: Path, edits: Mapping[str, Edit]) -> None:
    for rel, content in edits.items():
        path = repo / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content), encoding="utf-8")


def staged_diff(repo: Path) -> str:
    git(repo, "add", "-A")
    argv = ["git", "-c", "core.quotePath=true", "diff", "--cached", "--binary", "-M"]
    argv += ["--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/", "HEAD"]
    done = subprocess.run(argv, cwd=repo, check=True, capture_output=True)
    return done.stdout.decode("utf-8", errors="replace")  # as the workspace reads it


def guard(
    make_repo: MakeRepo,
    base: Mapping[str, str],
    edits: Mapping[str, Edit],
    *,
    mode: str = "heal",
    allow_spec_changes: bool = False,
    max_file_bytes: int = 1_000_000,
    max_diff_lines: int = 100_000,
) -> dict[str, GuardVerdict]:
    """Every verdict, by guard name, for the change from `base` to `base` + `edits`."""
    repo = make_repo(dict(base), origin=False)
    edit(repo, edits)
    result = check_changes(
        parse_diff(staged_diff(repo)),
        root=repo,
        mode=mode,  # type: ignore[arg-type]
        protected=[".github/**"],
        max_diff_lines=max_diff_lines,
        max_file_bytes=max_file_bytes,
        allow_spec_changes=allow_spec_changes,
        before=base_file(repo),
    )
    assert [v.guard for v in result] == list(GUARDS)  # one verdict per guard, always
    return {v.guard: v for v in result}


def refused(verdicts: dict[str, GuardVerdict]) -> list[str]:
    return [name for name, v in verdicts.items() if not v.ok]
