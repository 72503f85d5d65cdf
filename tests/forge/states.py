"""What a test compares before and after: a directory's files, a repository's whole state."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from bot.config import GitIdentity
from tests.conftest import git

BOT = GitIdentity(name="Heal Bot", email="heal@example.com")
FILES = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a, b):\n    return a - b\n",
    "tests/test_calc.py": "from pkg.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "notes.txt": "one\ntwo\nthree\n",
    "doomed.txt": "bye\n",
    ".gitignore": "*.log\n",
}


def tree_state(root: Path, *, skip_git: bool = True) -> dict[str, tuple[str, bytes]]:
    """Every file under root (but .git): symlinks by target, files by mode and bytes."""
    state: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if skip_git and (rel == ".git" or rel.startswith(".git/")):
            continue
        if path.is_symlink():
            state[rel] = ("link", os.readlink(path).encode())
        elif path.is_file():
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            state[rel] = ("exec" if executable else "file", path.read_bytes())
    return state


def user_state(repo: Path) -> dict[str, object]:
    """Everything about the user's repo selfheal promises not to touch, but its branches."""
    dot_git = repo / ".git"
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "ref": (dot_git / "HEAD").read_bytes(),
        "refs": git(repo, "for-each-ref"),
        "head_reflog": git(repo, "reflog", "show", "--format=%H %gs", "HEAD"),
        "index": (dot_git / "index").read_bytes(),
        "config": (dot_git / "config").read_bytes(),
        "exclude": (dot_git / "info" / "exclude").read_bytes(),
        "status": git(
            repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"
        ),
        "stash": git(repo, "stash", "list"),
        "files": tree_state(repo),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "git_files": sorted(
            p.relative_to(dot_git).as_posix()
            for p in dot_git.rglob("*")
            if not p.relative_to(dot_git).as_posix().startswith(("objects/", "logs/"))
        ),
    }


def refs(repo: Path) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines())


def git_fails(cwd: Path, *args: str, env: dict[str, str]) -> str:
    """Run git expecting failure; returns its stderr."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0, done.stdout
    return done.stderr
