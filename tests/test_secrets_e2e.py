"""Canary secrets in the environment never reach the gate, the agent, reports or commits."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import heal
from tests.conftest import MakeRepo, git

pytestmark = pytest.mark.slow

CANARIES = {
    "GITHUB_TOKEN": "canary-github-7f3a9c1e",
    "ANTHROPIC_API_KEY": "canary-anthropic-52be0d4a",
    "DEPLOY_SERVICE_TOKEN": "canary-custom-9e8d7c6b",
    "DB_PASSWORD": "canary-password-1a2b3c4d",
}

AGENT = """\
import os, pathlib, sys
# A nosy agent: it writes everything it can see into the repo, then fixes the test.
pathlib.Path("seen_by_agent.txt").write_text(repr(dict(os.environ)) + sys.stdin.read() if not sys.argv[1:] else repr(dict(os.environ)))
app = pathlib.Path("app.py")
app.write_text(app.read_text().replace("return False", "return True"))
print("agent env:", dict(os.environ))
"""


def test_canaries_never_leak(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    gate_env = tmp_path / "gate-env.txt"
    repo = make_repo(
        {
            "app.py": "def ok():\n    return False\n",
            "tests/test_env.py": f"""\
                import os
                import pathlib

                from app import ok


                def test_prints_environment():
                    pathlib.Path({str(gate_env)!r}).write_text(repr(dict(os.environ)))
                    print(dict(os.environ))
                    assert ok(), repr(dict(os.environ))
                """,
        }
    )
    agent = tmp_path / "nosy_agent.py"
    agent.write_text(AGENT)
    done = heal(repo, f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))} {{prompt_file}}")
    assert done.returncode == 0, done.stdout + done.stderr
    branch = "selfheal/heal-" + git(repo, "rev-parse", "--short=7", "HEAD").strip()
    committed = git(repo, "show", branch)
    assert "seen_by_agent.txt" in committed  # the agent did dump its environment into the fix
    places = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "commit": committed,
        "origin": git(Path(git(repo, "remote", "get-url", "origin").strip()), "log", "-p", branch),
        "gate's own view": gate_env.read_text(),  # written by the test itself, not redacted by us
    }
    for path in (repo / ".selfheal").iterdir():
        places[path.name] = path.read_text(errors="replace")
    assert {"report.json", "report.md", "transcript.jsonl", "fix.patch", "prompt-1.md"} <= set(
        places
    )
    assert "PATH" in places["fix.patch"]  # the dump is real and ends up in the patch
    for where, text in places.items():
        for name, value in CANARIES.items():
            assert value not in text, f"{name} leaked into {where}"


# --- encoded copies: what a test that found a secret could print ------------------------------

ENCODED_CANARY = "canary secret/7f3a+9c1e?&=x"


def encoded_forms(value: str) -> dict[str, str]:
    import base64
    import urllib.parse

    data = value.encode()
    return {
        "base64": base64.b64encode(data).decode(),
        "base64 url-safe, unpadded": base64.urlsafe_b64encode(data).decode().rstrip("="),
        "base64 inside a longer text": base64.b64encode(b"user:" + data + b"!").decode(),
        "hex": data.hex(),
        "HEX": data.hex().upper(),
        "reversed": value[::-1],
        "url-encoded": urllib.parse.quote(value, safe=""),
        "url-encoded with +": urllib.parse.quote_plus(value),
    }


def test_encoded_copies_of_a_secret_are_redacted_in_everything_kept_or_sent(
    make_repo: MakeRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_SERVICE_TOKEN", ENCODED_CANARY)
    found = tmp_path / "found-secret.txt"  # how the test came by it does not matter here
    found.write_text(ENCODED_CANARY)
    forms = encoded_forms(ENCODED_CANARY)
    repo = make_repo(
        {
            "tests/test_leak.py": f"""\
                import base64, pathlib, urllib.parse

                from app import ok

                SECRET = pathlib.Path({str(found)!r}).read_text()


                def test_prints_encoded_copies():
                    data = SECRET.encode()
                    shown = [
                        base64.b64encode(data).decode(),
                        base64.urlsafe_b64encode(data).decode().rstrip("="),
                        base64.b64encode(b"user:" + data + b"!").decode(),
                        data.hex(),
                        data.hex().upper(),
                        SECRET[::-1],
                        urllib.parse.quote(SECRET, safe=""),
                        urllib.parse.quote_plus(SECRET),
                    ]
                    print("\\n".join(shown))
                    assert ok(), " ".join(shown)
                """,
            "app.py": "def ok():\n    return False\n",
            ".github/selfheal.yml": f"""\
                flaky_check: false
                gate:
                  - name: tests
                    kind: pytest
                    run: {shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider
                """,
        }
    )
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import pathlib\n"
        "app = pathlib.Path('app.py')\n"
        "app.write_text(app.read_text().replace('return False', 'return True'))\n"
    )
    done = heal(repo, f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))} {{prompt_file}}")
    assert done.returncode == 0, done.stdout + done.stderr
    places = {"stdout": done.stdout, "stderr": done.stderr}
    for name in ("prompt-1.md", "report.json", "report.md", "transcript.jsonl"):
        places[name] = (repo / ".selfheal" / name).read_text()
    assert "***" in places["prompt-1.md"]  # the test's output did reach the prompt, redacted
    for where, text in places.items():
        for form, value in forms.items():
            assert value not in text, f"the {form} copy leaked into {where}"


# --- selfheal's own environment and memory, as its children see them ---------------------------

NOBODY = 65534
PEEK = """\
import json, os, pathlib, sys


def peek(out):
    '''What this process can read of each ancestor's environment, up to init.'''
    seen = []
    pid = os.getppid()
    while pid > 1:
        proc = pathlib.Path(f"/proc/{pid}")
        try:
            seen.append([pid, (proc / "environ").read_bytes().decode("utf-8", "replace")])
        except OSError as exc:
            seen.append([pid, "denied: " + type(exc).__name__])
        try:
            with open(proc / "mem", "rb") as mem:
                mem.read(1)
            seen.append([pid, "mem: opened"])
        except OSError as exc:
            seen.append([pid, "mem: denied: " + type(exc).__name__])
        pid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    pathlib.Path(out).write_text(json.dumps(seen))
"""


def _unprivileged_run() -> tuple[list[str], str, dict[str, str]] | None:
    """(argv prefix, python, extra env) that run selfheal as a user who is not root, or None.

    Root reads any /proc/<pid>/environ, so as root the check proves nothing: switch to
    nobody with setpriv, using an interpreter nobody may run (the venv's may live in /root).
    """
    import shutil
    import sysconfig

    if os.getuid() != 0:
        return [], sys.executable, {}
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    source = str(Path(__file__).resolve().parents[1])
    extra = {"PYTHONPATH": os.pathsep.join([source, sysconfig.get_paths()["purelib"]])}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    usable = "assert os.access(__import__('sys').executable, os.X_OK)"
    for python in (sys.executable, sys._base_executable, f"/usr/bin/{version}"):  # type: ignore[attr-defined]
        probe = subprocess.run(
            [*prefix, python, "-c", f"import bot.cli, git, os, pydantic, pytest; {usable}"],
            env={**os.environ, **extra},
            capture_output=True,
            cwd="/",
            check=False,
        )
        if probe.returncode == 0:
            return prefix, python, extra
    return None


def test_selfheal_environment_is_out_of_reach_of_the_gate_and_the_agent() -> None:
    import shutil
    import subprocess
    import tempfile

    how = _unprivileged_run()
    if how is None:
        pytest.skip("running as root without setpriv or a Python that nobody may run")
    prefix, python, extra = how
    # Not under pytest's tmp_path: nobody must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="selfheal-nobody-", dir="/tmp"))
    try:
        base.chmod(0o755)
        repo, home, temp = base / "repo", base / "home", base / "tmp"
        for path in (repo, home, temp):
            path.mkdir()
        (base / "peek.py").write_text(PEEK)
        files = {
            "app.py": "def ok():\n    return False\n",
            "tests/test_peek.py": (
                "import sys\n"
                f"sys.path.insert(0, {str(base)!r})\n"
                "from peek import peek\n"
                "from app import ok\n\n\n"
                "def test_peek():\n"
                f"    peek({str(base / 'gate-peek.json')!r})\n"
                "    assert ok()\n"
            ),
            ".github/selfheal.yml": (
                "flaky_check: false\ngate:\n  - name: tests\n    kind: pytest\n"
                f"    run: {shlex.quote(python)} -m pytest -q -p no:cacheprovider\n"
            ),
        }
        for rel, text in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        agent = base / "agent.py"
        agent.write_text(
            f"import sys\nsys.path.insert(0, {str(base)!r})\nfrom peek import peek\n"
            f"peek({str(base / 'agent-peek.json')!r})\n"
            "import pathlib\napp = pathlib.Path('app.py')\n"
            "app.write_text(app.read_text().replace('return False', 'return True'))\n"
        )
        if prefix:
            subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(base)], check=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "TMPDIR": str(temp),
            "GIT_CONFIG_NOSYSTEM": "1",
            **extra,
            **CANARIES,
        }
        command = f"{shlex.quote(python)} {shlex.quote(str(agent))} {{prompt_file}}"
        agent_args = ["--agent", "command", "--agent-command", command]
        done = subprocess.run(
            [*prefix, python, "-m", "bot", "heal", "--repo", str(repo), "--no-push", *agent_args],
            env=env,
            cwd=str(base),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads((repo / ".selfheal" / "report.json").read_text())
        assert report["isolation"].startswith("process: non-dumpable, same user")
        for who in ("gate", "agent"):
            seen = json.loads((base / f"{who}-peek.json").read_text())
            assert seen, f"the {who} saw no ancestor; the check proves nothing"
            selfheal_environ, selfheal_mem = seen[0][1], seen[1][1]
            # Non-dumpable: not even its own user may read selfheal's environment or memory.
            assert selfheal_environ.startswith("denied"), (who, selfheal_environ[:200])
            assert selfheal_mem.startswith("mem: denied"), (who, selfheal_mem)
            for pid, text in seen:
                for name, value in CANARIES.items():
                    assert value not in text, f"{name} readable by the {who} in /proc/{pid}"
    finally:
        shutil.rmtree(base, ignore_errors=True)
