"""What the agent's tools can reach once the session has changed the tree under them: links a
test run left behind, a directory swapped for a link after the check, hard links, /proc."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from bot.agent.base import AgentRequest
from bot.agent.command import CommandAgent
from bot.agent.rules import agent_rules
from bot.agent.tools import RepoTools, ToolResult
from bot.config import Config
from bot.guard.confine import PathRefused, read_bytes, resolve, writable, write_text
from bot.proc import scrubbed_env
from tests.conftest import MakeRepo

CANARY = "CANARY-7d41-outside-the-repo"
APP = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(f"{CANARY}\n")
    (folder / "app.py").write_text(f"{CANARY} = 1\n")
    return folder


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo({"src/app.py": APP, "run.sh": "echo hi\n"}, origin=False)


class SessionRun:
    """The project's tests as the session runs them: arbitrary code that changes the tree."""

    def __init__(self, action: object) -> None:
        self.action = action

    def __call__(self, test_ids: Sequence[str]) -> str:
        assert callable(self.action)
        self.action()
        return "1 passed"


def tools(root: Path, run: SessionRun | None = None) -> RepoTools:
    return RepoTools(
        root,
        protected=[".github/**"],
        run_tests=run or SessionRun(lambda: None),
        env=dict(os.environ),
    )


def call(box: RepoTools, name: str, **arguments: object) -> ToolResult:
    return box.call(name, arguments)


def canary_shown(result: ToolResult) -> bool:
    return CANARY in result.content


# -- hard links ---------------------------------------------------------------------------


def test_a_hard_link_made_by_a_test_run_is_neither_read_nor_written_through(
    repo: Path, outside: Path
) -> None:
    secret = outside / "secret.txt"
    box = tools(repo, SessionRun(lambda: os.link(secret, repo / "notes.txt")))
    assert call(box, "run_tests").content == "1 passed"
    assert (repo / "notes.txt").stat().st_nlink == 2  # the session made it
    read = call(box, "read_file", path="notes.txt")
    assert read.is_error and "hard link" in read.content and not canary_shown(read)
    found = call(box, "search", pattern="CANARY", fixed=True)
    assert not canary_shown(found), found.content
    edit = call(box, "edit_file", path="notes.txt", old="CANARY", new="x")
    assert edit.is_error and "hard link" in edit.content
    # write_file puts a new file in place of the name; the file outside keeps its bytes.
    inode = secret.stat().st_ino
    assert not call(box, "write_file", path="notes.txt", content="mine\n").is_error
    assert secret.read_text() == f"{CANARY}\n" and secret.stat().st_ino == inode
    assert (repo / "notes.txt").read_text() == "mine\n"
    assert (repo / "notes.txt").stat().st_nlink == 1 and secret.stat().st_nlink == 1


def test_search_still_shows_hits_from_ordinary_files_beside_a_hard_link(
    repo: Path, outside: Path
) -> None:
    os.link(outside / "secret.txt", repo / "src" / "linked.txt")
    (repo / "src" / "odd:1:name.py").write_text(f"# {CANARY} in a file of its own\n")
    found = call(tools(repo), "search", pattern="CANARY|return", path="src")
    assert "src/app.py:2:    return a + b" in found.content
    assert f"src/odd:1:name.py:1:# {CANARY} in a file of its own" in found.content
    assert "linked.txt" not in found.content


# -- links and swaps after the check --------------------------------------------------------


def test_a_directory_swapped_for_a_link_after_the_check_is_not_followed(
    repo: Path, outside: Path
) -> None:
    read_target = resolve(repo, "src/app.py")
    write_target = writable(repo, "src/app.py", [".github/**"])
    (repo / "src").rename(repo / "src-moved")
    (repo / "src").symlink_to(outside)  # what a test daemon could do between check and use
    with pytest.raises(PathRefused, match="symbolic link"):
        read_bytes(read_target)
    with pytest.raises(PathRefused, match="symbolic link"):
        write_text(write_target, "print('pwned')\n")
    assert (outside / "app.py").read_text() == f"{CANARY} = 1\n"


def test_a_file_swapped_for_a_link_after_the_check_is_not_followed(
    repo: Path, outside: Path
) -> None:
    target = resolve(repo, "src/app.py")
    (repo / "src" / "app.py").unlink()
    (repo / "src" / "app.py").symlink_to(outside / "app.py")
    with pytest.raises(PathRefused, match="symbolic link"):
        read_bytes(target)
    write_text(writable(repo, "src/new.py", []), "x = 1\n")
    assert (outside / "app.py").read_text() == f"{CANARY} = 1\n"


@pytest.fixture
def outside_fd(outside: Path) -> Iterator[int]:
    fd = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_proc_magic_links_lead_nowhere_outside(repo: Path, outside: Path, outside_fd: int) -> None:
    (repo / "root").symlink_to("/proc/self/root")
    (repo / "fd").symlink_to(f"/proc/self/fd/{outside_fd}")
    (repo / "cwd").symlink_to("/proc/self/cwd")
    box = tools(repo)
    for path in (
        f"root{outside}/secret.txt",
        "fd/secret.txt",
        "root/etc/hostname",
        "/proc/self/root/etc/hostname",
        f"/proc/self/fd/{outside_fd}/secret.txt",
    ):
        result = call(box, "read_file", path=path)
        assert result.is_error and not canary_shown(result), path
        wrote = call(box, "write_file", path=f"{path}.new", content="x\n")
        assert wrote.is_error, path
    assert sorted(p.name for p in outside.iterdir()) == ["app.py", "secret.txt"]
    # A magic link that resolves back into the tree reads the tree's own file, and only that.
    inside = call(box, "read_file", path=f"root{repo}/src/app.py")
    assert not inside.is_error and "return a + b" in inside.content


# -- writes ---------------------------------------------------------------------------------


def test_a_write_keeps_the_files_mode_and_leaves_no_temporary_file(repo: Path) -> None:
    script = repo / "run.sh"
    script.chmod(0o755)
    box = tools(repo)
    assert not call(box, "edit_file", path="run.sh", old="hi", new="hello").is_error
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text() == "echo hello\n"
    assert not call(box, "write_file", path="pkg/deep/new.py", content="y = 2\n").is_error
    assert stat.S_IMODE((repo / "pkg/deep/new.py").stat().st_mode) == 0o644
    leftovers = [p for p in repo.rglob("*selfheal-*") if ".git" not in p.parts]
    assert leftovers == []


def test_the_prompt_file_replaces_a_link_an_earlier_agent_left(
    tmp_path: Path, repo: Path, outside: Path
) -> None:
    scratch = tmp_path / "report"
    scratch.mkdir()
    (scratch / "prompt-2.md").symlink_to(outside / "secret.txt")
    os.link(outside / "app.py", scratch / "failures-2.json")
    agent = CommandAgent(f"{shlex.quote(sys.executable)} -c 'print(1)'")
    request = AgentRequest(
        mode="heal",
        workdir=repo,
        rules=agent_rules(Config(), "heal"),
        task="Fix add().",
        context=(),
        failures=[],
        attempt=2,
        scratch=scratch,
        env=scrubbed_env(),
    )
    assert agent.attempt(request).exit_code == 0
    assert (outside / "secret.txt").read_text() == f"{CANARY}\n"
    assert (outside / "app.py").read_text() == f"{CANARY} = 1\n"
    assert not (scratch / "prompt-2.md").is_symlink()
    assert (scratch / "prompt-2.md").read_text().startswith("# Task\n\nFix add().")
    assert (scratch / "failures-2.json").read_text() == "[]"
