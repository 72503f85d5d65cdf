"""Start-up: `selfheal gate` imports only what the gate needs before its first step."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import write_files

# Top-level packages the gate never uses: the model's SDK (and its HTTP client), PyGithub,
# GitPython, pydantic-settings (only for SELFHEAL_* variables, none set here).
NOT_FOR_THE_GATE = ("anthropic", "httpx", "github", "git", "pydantic_settings")

# In a fresh interpreter: run the gate through the command line's own entry point, then say
# which of the packages above were imported and whether any report model was built at import.
PROBE = """
import json, sys
from bot.cli import main
import bot.commands.gate  # everything the gate imports before it runs
from bot import report
built_at_import = sorted(
    name for name, model in vars(report).items()
    if isinstance(model, type) and issubclass(model, report.Frozen) and model is not report.Frozen
    and model.__pydantic_complete__
)
code = main(["gate", "--repo", sys.argv[1]])
loaded = sorted({name.partition(".")[0] for name in sys.modules} & set(sys.argv[2:]))
print(json.dumps({"code": code, "loaded": loaded, "built_at_import": built_at_import}))
"""


def probe(repo: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(repo), *NOT_FOR_THE_GATE],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_gate_imports_no_sdk_github_or_git_client(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {".github/selfheal.yml": 'gate:\n  - name: check\n    run: ["python", "-c", "pass"]\n'},
    )
    result = probe(tmp_path)
    assert result["code"] == 0
    assert result["loaded"] == []


def test_report_models_are_built_when_first_used_not_at_import(tmp_path: Path) -> None:
    """Building their schemas costs start-up time before the first step; the gate needs them
    only once a step has ended."""
    write_files(tmp_path, {".github/selfheal.yml": 'gate:\n  - name: check\n    run: ["true"]\n'})
    result = probe(tmp_path)
    assert result["code"] == 0
    assert result["built_at_import"] == []


def test_the_probe_sees_a_package_that_is_imported(tmp_path: Path) -> None:
    """The check above can fail: the same probe names pydantic, which the gate does import."""
    write_files(tmp_path, {".github/selfheal.yml": 'gate:\n  - name: check\n    run: ["true"]\n'})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), "pydantic", "yaml"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1])["loaded"] == ["pydantic", "yaml"]


def test_the_gate_starts_the_last_runs_steps_before_it_imports_pydantic() -> None:
    """The configuration (pydantic) is read while the steps started ahead run
    (bot.gate.head_start): nothing on the way to them may import it."""
    probe = (
        "import sys; from bot.cli import main, build_parser; import bot.commands.gate;"
        " import bot.gate.head_start; build_parser();"
        " print(sorted(m for m in sys.modules if m == 'bot.config' or m.partition('.')[0] in"
        " ('pydantic', 'pydantic_core', 'yaml')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_command_exits_with_mains_code_and_its_objects_frozen_out_of_the_collector(
    tmp_path: Path,
) -> None:
    """`python -m bot` (and the `selfheal` script, the same `entry`) exits with main's code;
    what is alive then is frozen, so the interpreter's last collections skip it; atexit
    handlers still run."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), flush=True))\n"
        "sys.argv = ['selfheal', 'gate', '--repo', sys.argv[1]]\n"
        "import runpy; runpy.run_module('bot', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr  # bad input, as main says
    assert "no such directory" in done.stderr
    frozen = int(done.stdout.split("frozen", 1)[1].split()[0])
    assert frozen > 1000, done.stdout  # the imported modules' objects, at least
