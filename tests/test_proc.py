"""bot.proc with real child processes: caps, decoding, timeouts, and secrets kept out."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import signal
import sys
import textwrap
import time
import tracemalloc
import urllib.parse
from pathlib import Path

import pytest

from bot import proc
from bot.proc import redact, run_process, scrubbed_env, secret_values

PY = sys.executable
MiB = 1024 * 1024


def python(code: str) -> list[str]:
    """argv that runs `code` in a fresh interpreter."""
    return [PY, "-c", textwrap.dedent(code)]


def gone(pid: int, within: float = 5.0) -> bool:
    """True once `pid` no longer runs (a killed orphan may linger as a zombie until reaped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


# --- output -------------------------------------------------------------------------------


def test_exit_code_stdout_and_stderr(tmp_path: Path) -> None:
    result = run_process(
        python("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"), tmp_path
    )
    assert (result.returncode, result.ok, result.timed_out) == (3, False, False)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert result.output == "out\nerr\n"
    assert result.start_error is None
    assert result.argv == (
        PY,
        "-c",
        "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)",
    )


def test_runs_in_cwd(tmp_path: Path) -> None:
    result = run_process(python("import os; print(os.getcwd())"), tmp_path)
    assert result.ok
    assert Path(result.stdout.strip()).resolve() == tmp_path.resolve()


def test_output_under_the_cap_is_kept_whole(tmp_path: Path) -> None:
    result = run_process(python("print('x' * 999)"), tmp_path, output_cap=1000)
    assert result.stdout == "x" * 999 + "\n"
    assert "cut by selfheal" not in result.stdout
    assert result.output_bytes == 1000


def test_output_over_the_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    code = """
        import sys
        sys.stdout.write("HEAD" + "m" * 10_000 + "TAIL")
        sys.stderr.write("e" * 50)
    """
    result = run_process(python(code), tmp_path, output_cap=1000)
    marker = "\n[... 9008 bytes cut by selfheal ...]\n"
    assert result.stdout == "HEAD" + "m" * 496 + marker + "m" * 496 + "TAIL"
    # Everything printed is counted, on both streams, not only what was kept.
    assert result.output_bytes == 10_008 + 50
    assert result.stderr == "e" * 50


def test_stderr_has_its_own_smaller_cap(tmp_path: Path) -> None:
    result = run_process(
        python("import sys; sys.stderr.write('s' * 5000)"), tmp_path, output_cap=1000
    )
    assert result.stderr.startswith("s" * 125 + "\n[... 4750 bytes cut by selfheal ...]\n")
    assert result.output_bytes == 5000


def test_100_mb_of_output_keeps_memory_small(tmp_path: Path) -> None:
    code = """
        import sys
        chunk = b"y" * (1024 * 1024)
        for _ in range(100):
            sys.stdout.buffer.write(chunk)
    """
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = run_process(python(code), tmp_path, timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert result.ok
    assert result.output_bytes == 100 * MiB
    assert len(result.stdout) < proc.DEFAULT_OUTPUT_CAP + 100
    assert "cut by selfheal" in result.stdout
    # Holding the output would cost 100 MiB; the cap plus a few read chunks is well under 8.
    assert peak < 8 * MiB, f"peak of {peak / MiB:.1f} MiB traced while reading 100 MiB"
    assert rss_growth < 50 * 1024, f"max RSS grew by {rss_growth / 1024:.0f} MiB"


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    result = run_process(
        python(r"import sys; sys.stdout.buffer.write(b'caf\xe9 ok\n\xff\xfe\n')"), tmp_path
    )
    assert result.stdout == "caf\ufffd ok\n\ufffd\ufffd\n"


def test_lines_with_nul_bytes_are_elided_as_binary(tmp_path: Path) -> None:
    result = run_process(
        python(r"import sys; sys.stdout.buffer.write(b'before\nab\x00cd\nafter\n')"), tmp_path
    )
    assert result.stdout == "before\n[binary output elided: 5 chars]\nafter\n"
    assert "\x00" not in result.stdout


def test_a_child_that_writes_a_line_at_a_time_is_read_in_bunches(tmp_path: Path) -> None:
    """pytest writes each test's dot on its own: read one write at a time, 50,000 tests cost
    selfheal a wake-up each (about 1 s of CPU). Every line still arrives, in order."""
    child = python(
        """
        import sys, time
        for i in range(600):
            sys.stdout.write(f"line {i}\\n")
            sys.stdout.flush()
            time.sleep(0.0005)
        """
    )
    seen: list[str] = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    result = run_process(child, tmp_path, on_line=seen.append)
    woke = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before
    assert result.ok
    assert seen == [f"line {i}" for i in range(600)]
    assert result.stdout == "".join(f"line {i}\n" for i in range(600))
    # One a write would be over 600. Gathering wakes at most about once per 10 ms: a
    # machine so busy that the child takes seconds may allow more, never 600.
    assert woke < min(max(200, result.duration_s * 150), 600), (woke, result.duration_s)


def test_a_process_started_ahead_writes_a_lot_before_anyone_reads_it(tmp_path: Path) -> None:
    """A step started ahead of the configuration (bot.gate.head_start) is not read until the
    configuration is; its pipe holds 256 KiB meanwhile, so it does not stop at 64 KiB
    (ruff's JSON for a few hundred findings) and wait there for selfheal."""
    limit = Path("/proc/sys/fs/pipe-max-size")
    if not limit.is_file() or int(limit.read_text()) < 256 * 1024:
        pytest.skip("this system's pipes cannot hold 256 KiB")
    marker = tmp_path / "all-written"
    argv = python(
        f"""
        import pathlib, sys
        sys.stdout.buffer.write(b"x" * 200 * 1024)
        sys.stdout.flush()
        pathlib.Path({str(marker)!r}).write_text("yes")
        """
    )
    env = scrubbed_env()
    began = proc.start(argv, tmp_path, env)
    assert began is not None
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    wrote_it_all = marker.exists()
    result = run_process(argv, tmp_path, env=env, adopt=began)
    assert wrote_it_all  # with nobody reading yet
    assert result.ok
    assert result.output_bytes == 200 * 1024


def test_stdin_is_delivered(tmp_path: Path) -> None:
    text = "line one\nzweite Zeile \u00e9\n"
    result = run_process(
        python("import sys; sys.stdout.write(sys.stdin.read())"), tmp_path, stdin=text
    )
    assert result.ok
    assert result.stdout == text


def test_without_stdin_the_child_reads_eof(tmp_path: Path) -> None:
    result = run_process(python("import sys; print(repr(sys.stdin.read()))"), tmp_path, timeout=10)
    assert (result.stdout, result.timed_out) == ("''\n", False)


# --- starting and stopping ----------------------------------------------------------------


def test_a_command_that_does_not_exist_is_a_result_not_an_exception(tmp_path: Path) -> None:
    result = run_process(["selfheal-no-such-command-xyz", "--flag"], tmp_path)
    assert result.start_error is not None
    assert result.returncode is None
    assert not result.ok
    assert result.output_bytes == 0
    assert result.stderr.startswith("could not start selfheal-no-such-command-xyz:")


def test_timeout_kills_the_whole_group_including_a_stubborn_grandchild(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    grandchild = tmp_path / "grandchild.py"
    grandchild.write_text(
        textwrap.dedent(
            """
            import os, signal, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            tmp = sys.argv[1] + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(str(os.getpid()))
            os.replace(tmp, sys.argv[1])
            print("grandchild ready", flush=True)
            time.sleep(60)
            """
        )
    )
    code = f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, {str(grandchild)!r}, {str(pid_file)!r}])
        time.sleep(60)
    """
    started = time.monotonic()
    result = run_process(python(code), tmp_path, timeout=2)
    elapsed = time.monotonic() - started
    assert pid_file.exists(), "the grandchild never got going; the test proves nothing"
    pid = int(pid_file.read_text())
    try:
        assert result.timed_out
        assert result.returncode is None
        assert not result.ok
        assert 2 <= elapsed < 2 + 3, elapsed
        assert "grandchild ready" in result.stdout
        assert gone(pid), f"grandchild {pid} ignored SIGTERM and is still running"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_leader_that_ignores_sigterm_gets_sigkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proc, "KILL_GRACE_S", 0.5)
    code = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        time.sleep(60)
    """
    started = time.monotonic()
    result = run_process(python(code), tmp_path, timeout=1)
    elapsed = time.monotonic() - started
    assert (result.timed_out, result.returncode) == (True, None)
    assert result.stdout == "ignoring SIGTERM\n"
    assert elapsed < 1 + 0.5 + 2, elapsed


def test_a_grandchild_that_left_the_group_cannot_hold_us_on_its_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proc, "KILL_GRACE_S", 0.5)
    code = """
        import subprocess, sys
        daemon = [sys.executable, "-c", "import time; time.sleep(6)"]
        print(subprocess.Popen(daemon, start_new_session=True).pid, flush=True)
    """
    started = time.monotonic()
    result = run_process(python(code), tmp_path, timeout=30)
    elapsed = time.monotonic() - started
    pid = int(result.stdout.split()[0])
    try:
        assert result.returncode == 0
        # The leader is done: the daemon it left holding stdout is ended, not waited for.
        assert elapsed < 0.5 * 2 + 2, f"waited {elapsed:.1f} s for a daemon's pipe"
        assert gone(pid), f"daemon {pid} outlived the step"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_timeout_holds_for_a_child_that_never_reads_a_large_stdin(tmp_path: Path) -> None:
    # Bigger than any pipe buffer: writing it blocks until the child reads or exits.
    started = time.monotonic()
    result = run_process(
        python("import time; time.sleep(6)"), tmp_path, timeout=1, stdin="p" * (4 * MiB)
    )
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.returncode is None
    assert elapsed < 1 + 3, f"returned after {elapsed:.1f} s with a 1 s timeout"


# --- secrets ------------------------------------------------------------------------------

SECRET_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/someone",
    "LANG": "C.UTF-8",
    "GITHUB_TOKEN": "ghs_always_secret_1",
    "ANTHROPIC_API_KEY": "sk-ant-always-secret",
    "ACTIONS_RUNTIME_TOKEN": "runtime-token-value",
    "NPM_TOKEN": "npm-token-value",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "DB_PASSWORD": "db-password-value",
    "SSH_KEY_PATH": "/keys/id_ed25519",
    "GOOGLE_APPLICATION_CREDENTIALS": "/creds.json",
    "my_api_key": "lowercase-key-value",
}


def test_scrubbed_env_removes_secret_names_and_keeps_the_rest() -> None:
    env = scrubbed_env(SECRET_ENV)
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/home/someone", "LANG": "C.UTF-8"}


def test_scrubbed_env_keeps_allowed_names_but_never_the_always_secret_ones() -> None:
    env = scrubbed_env(
        SECRET_ENV, allow=["NPM_TOKEN", "SSH_KEY_PATH", "GITHUB_TOKEN", "ANTHROPIC_API_KEY"]
    )
    assert env["NPM_TOKEN"] == "npm-token-value"
    assert env["SSH_KEY_PATH"] == "/keys/id_ed25519"
    assert "GITHUB_TOKEN" not in env
    assert "ANTHROPIC_API_KEY" not in env
    assert "DB_PASSWORD" not in env


def test_scrubbed_env_adds_extra_and_defaults_to_our_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_from_os_environ")
    monkeypatch.setenv("SELFHEAL_TEST_PLAIN", "plain")
    env = scrubbed_env(extra={"EXTRA_ONE": "1"})
    assert "GITHUB_TOKEN" not in env
    assert env["SELFHEAL_TEST_PLAIN"] == "plain"
    assert env["EXTRA_ONE"] == "1"
    assert env["PATH"] == os.environ["PATH"]
    assert env["HOME"] == os.environ["HOME"]


def test_secret_values_are_longest_first_and_skip_short_ones() -> None:
    values = secret_values(
        {"A_TOKEN": "abc", "B_TOKEN": "abcdefgh", "C_KEY": "abcdefghijk", "X": "plain-value"}
    )
    # A three-letter value would redact every "abc" in every log.
    assert values == ["abcdefghijk", "abcdefgh"]
    assert redact("see abcdefghijk and abcdefgh", values) == "see *** and ***"


def test_a_child_sees_no_secret_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRET_ENV.items():
        if name not in ("PATH", "HOME", "LANG"):
            monkeypatch.setenv(name, value)
    result = run_process(
        python("import json, os; print(json.dumps(dict(os.environ)))"), tmp_path, redact_values=[]
    )
    seen = json.loads(result.stdout)
    for name, value in SECRET_ENV.items():
        if name in ("PATH", "HOME", "LANG"):
            continue
        assert name not in seen
        assert value not in result.stdout
    assert seen["HOME"] == os.environ["HOME"]
    assert seen["PATH"] == os.environ["PATH"]


def test_secret_values_in_output_are_redacted_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_PASSWORD", "hunter2-deploy")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_0123456789abcdef")
    # The child cannot read them from its environment; it got them some other way.
    code = """
        import sys
        print("password hunter2-deploy used")
        print("token=ghs_0123456789abcdef", file=sys.stderr)
    """
    result = run_process(python(code), tmp_path)
    assert result.stdout == "password *** used\n"
    assert result.stderr == "token=***\n"


def test_redaction_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_PASSWORD", "hunter2-deploy")
    result = run_process(python("print('hunter2-deploy')"), tmp_path, redact_values=[])
    assert result.stdout == "hunter2-deploy\n"


# --- every process it started ends with it ------------------------------------------------


DOUBLE_FORK = """
    import os, sys, time
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            print(os.getpid(), flush=True)  # the daemon holds our stdout from here on
            time.sleep(60)
        os._exit(0)
    os.wait()
"""


def test_a_daemon_that_left_the_session_is_ended_at_once_when_the_step_ends(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    result = run_process(python(DOUBLE_FORK), tmp_path, timeout=30)
    elapsed = time.monotonic() - started
    pid = int(result.stdout.split()[0])
    try:
        assert result.returncode == 0
        # Not even the grace for a held pipe (KILL_GRACE_S per stream) is spent.
        assert elapsed < proc.KILL_GRACE_S, f"waited {elapsed:.1f} s for a daemon's pipe"
        assert gone(pid), f"daemon {pid} outlived the step"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_children_carry_a_tag_their_descendants_inherit(tmp_path: Path) -> None:
    result = run_process(
        python(f"import os; print(os.environ[{proc.reaper.TAG_VARIABLE!r}])"), tmp_path
    )
    assert result.stdout.startswith(f"{os.getpid()}.")
    again = run_process(
        python(f"import os; print(os.environ[{proc.reaper.TAG_VARIABLE!r}])"), tmp_path
    )
    assert again.stdout != result.stdout  # one tag per process started


def test_stop_all_ends_a_step_running_in_another_thread_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    import threading

    results: list[proc.ProcessResult] = []
    code = """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)"])
        print("running", flush=True)
        time.sleep(60)
    """
    worker = threading.Thread(
        target=lambda: results.append(run_process(python(code), tmp_path, timeout=60))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while not proc._live and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # let it start its own child
    started = time.monotonic()
    proc.stop_all(grace=1.0)
    worker.join(10)
    assert not worker.is_alive()
    assert time.monotonic() - started < 3
    (result,) = results
    assert result.returncode == -signal.SIGTERM  # its own status, not a reaped zero
    assert proc.reaper.tagged(proc.reaper.tag_prefix()) == []
    assert not proc._live


# --- secrets held aside and redacted in their encodings ------------------------------------

CANARY = "canary-secret/7f3a+9c1e?"


@pytest.mark.parametrize(
    "shown",
    [
        CANARY,
        CANARY[::-1],
        CANARY.encode().hex(),
        CANARY.encode().hex().upper(),
        urllib.parse.quote(CANARY, safe=""),
        urllib.parse.quote_plus(CANARY),
        base64.b64encode(CANARY.encode()).decode(),
        base64.urlsafe_b64encode(CANARY.encode()).decode().rstrip("="),
    ],
)
def test_each_encoding_of_a_secret_is_redacted(shown: str) -> None:
    assert redact(f"before {shown} after", [CANARY]) == "before *** after"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc"])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_a_secret_inside_a_longer_base64_text_is_redacted_at_any_alignment(
    prefix: str, urlsafe: bool
) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(f"{prefix}token={CANARY};more".encode()).decode()
    redacted = redact(text, [CANARY])
    assert "***" in redacted
    # What is left cannot be decoded back to the secret.
    assert len(redacted) < len(text) - len(CANARY)


def test_redaction_leaves_other_text_alone_and_is_fast() -> None:
    text = "lorem ipsum 0123456789 abcdef " * 10_000
    started = time.monotonic()
    assert redact(text, [CANARY, "another-secret-value", "a-third-one-1234"]) == text
    assert time.monotonic() - started < 0.5


def test_sealed_takes_secrets_out_of_the_environment_and_its_initial_block(
    tmp_path: Path,
) -> None:
    code = """
        import os
        from pathlib import Path
        from bot.secrets import sealed, secret
        with sealed() as names:
            print(sorted(names))
            print("GITHUB_TOKEN" in os.environ, secret("GITHUB_TOKEN"))
            print(Path("/proc/self/environ").read_bytes())
        print("GITHUB_TOKEN" in os.environ)
    """
    env = {**os.environ, "GITHUB_TOKEN": "canary-gh-0123", "DB_PASSWORD": "canary-db-4567"}
    done = run_process(python(code), tmp_path, env=env, redact_values=[])
    lines = done.stdout.splitlines()
    assert done.ok, done.output
    assert lines[0] == "['DB_PASSWORD', 'GITHUB_TOKEN']"
    assert lines[1] == "False canary-gh-0123"  # out of os.environ, still ours to read
    assert "canary" not in lines[2]
    assert "GITHUB_TOKEN=*" in lines[2]  # the entry is there, its value overwritten
    assert lines[3] == "True"  # given back when the block ends
