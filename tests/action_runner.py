"""Run a composite action.yml the way a GitHub runner does, in-process, for tests.

`run_action` reads action.yml with PyYAML and runs its steps in order:

- inputs: the given values over the declared defaults; an undeclared input is an error.
- `${{ }}` in `env:`, `with:`, `if:`, `working-directory:` and the action's `outputs:` is
  evaluated for a small subset: `inputs.*`, `steps.<id>.outputs.*`, `steps.<id>.outcome`,
  `github.action_path`, `github.token`, `runner.temp`, `env.*`, string/number/boolean
  literals, `== != ! && || ( )` and `success() failure() always() cancelled()`. Anything
  else raises `UnsupportedAction`, so an expression the harness cannot judge never passes.
  String comparison ignores case, and `if:` without a status function means
  `success() && (...)`, as on GitHub.
- `run:` steps: the script goes to a file in RUNNER_TEMP and runs as
  `bash --noprofile --norc -eo pipefail FILE` (what `shell: bash` means on a runner), in
  `working-directory` relative to the workspace. Each step gets fresh GITHUB_OUTPUT,
  GITHUB_STEP_SUMMARY, GITHUB_ENV and GITHUB_PATH files, parsed afterwards with the runner's
  `name=value` / `name<<DELIMITER` format; GITHUB_ENV and GITHUB_PATH apply to later steps.
  A `${{` inside `run:` is refused (inputs must reach scripts through `env:`).
- `uses:` steps: only fakes the harness knows. `actions/setup-python` (with
  `update-environment: false`) answers `python-path` = the `python` argument. Anything else
  raises `UnsupportedAction`.
- After a failed step, later steps run only if their `if:` says so; the action's exit code
  is the failed step's.

The process environment is the caller's `env` over this process's environment with every
GITHUB_*, RUNNER_*, ACTIONS_*, INPUT_*, SELFHEAL_* and ANTHROPIC_* variable removed (so a
test run inside a real GitHub job sees only what the test gives it), plus what the runner
sets: GITHUB_ACTIONS, CI, GITHUB_WORKSPACE, GITHUB_ACTION_PATH, RUNNER_TEMP.

Installing selfheal needs the package index, so tests call `preinstall_venv` first: it runs
the action's own "venv" step to learn the venv path and key the action computes, then builds
that venv from the test interpreter's environment (a `.pth` to its site-packages and the
`selfheal` console script) and writes the key. The action's check then finds selfheal
installed and skips its pip step; everything else in action.yml runs for real. The pip step
itself runs in a test marked `network`.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ActionRun",
    "StepResult",
    "UnsupportedAction",
    "load_action",
    "parse_file_commands",
    "preinstall_venv",
    "run_action",
]

STRIPPED_PREFIXES = ("GITHUB_", "RUNNER_", "ACTIONS_", "INPUT_", "SELFHEAL_", "ANTHROPIC_")
STATUS_FUNCTIONS = {"success", "failure", "always", "cancelled"}


class UnsupportedAction(Exception):
    """action.yml uses something this harness does not emulate (so it cannot vouch for it)."""


class FileCommandError(Exception):
    """A GITHUB_OUTPUT or GITHUB_ENV file the runner would reject."""


@dataclass(frozen=True)
class StepResult:
    id: str | None
    name: str
    outcome: str  # success | failure | skipped
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class ActionRun:
    """What one run of the action left: its outputs, step summary, exit code and logs."""

    returncode: int
    outputs: dict[str, str]
    summary: str
    stdout: str
    stderr: str
    steps: list[StepResult]
    masks: list[str]

    def step(self, key: str) -> StepResult:
        """The step with this id (or, failing that, this name)."""
        for step in self.steps:
            if key in (step.id, step.name):
                return step
        raise KeyError(key)


def load_action(action_dir: Path) -> dict[str, Any]:
    """action.yml (or action.yaml) as PyYAML reads it."""
    for name in ("action.yml", "action.yaml"):
        if (action_dir / name).is_file():
            data = yaml.safe_load((action_dir / name).read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise UnsupportedAction(f"{name} is not a mapping")
            return data
    raise FileNotFoundError(f"no action.yml in {action_dir}")


def parse_file_commands(text: str) -> dict[str, str]:
    """A GITHUB_OUTPUT / GITHUB_ENV file: `name=value` lines and `name<<DELIMITER` blocks."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not delimiter:
                raise FileCommandError(f"empty delimiter for {name!r}")
            body: list[str] = []
            while True:
                if index >= len(lines):
                    raise FileCommandError(f"matching delimiter {delimiter!r} not found")
                line = lines[index]
                index += 1
                if line == delimiter:
                    break
                body.append(line)
            value = "\n".join(body)
        else:
            raise FileCommandError(f"invalid line {line!r}")
        if not name:
            raise FileCommandError(f"a line without a name: {line!r}")
        result[name] = value
    return result


# --- expressions --------------------------------------------------------------------------

Value = str | float | bool | None
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!().])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise UnsupportedAction(f"cannot read the expression {text!r} at {text[pos:]!r}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
    return tokens


def _number(value: Value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, float):
        return value
    try:
        return float(value.strip() or "0")
    except ValueError:
        return float("nan")


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right):
        return left == right
    return _number(left) == _number(right)


def _truthy(value: Value) -> bool:
    return value not in (None, False, "", 0.0)


def as_string(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


class _Parser:
    """Recursive descent over GitHub's precedence: ! > == != > && > ||."""

    def __init__(
        self, text: str, lookup: Callable[[list[str]], Value], status: Callable[[str], bool]
    ):
        self.text, self.tokens, self.pos = text, _tokens(text), 0
        self.lookup, self.status = lookup, status

    def parse(self) -> Value:
        value = self._or()
        if self.pos != len(self.tokens):
            raise UnsupportedAction(f"cannot read the expression {self.text!r}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, kind: str, text: str | None = None) -> str:
        token = self._peek()
        if token is None or token[0] != kind or (text is not None and token[1] != text):
            raise UnsupportedAction(f"cannot read the expression {self.text!r}")
        self.pos += 1
        return token[1]

    def _or(self) -> Value:
        value = self._and()
        while self._peek() == ("op", "||"):
            self.pos += 1
            right = self._and()
            value = value if _truthy(value) else right
        return value

    def _and(self) -> Value:
        value = self._compare()
        while self._peek() == ("op", "&&"):
            self.pos += 1
            right = self._compare()
            value = right if _truthy(value) else value
        return value

    def _compare(self) -> Value:
        value = self._unary()
        token = self._peek()
        if token in (("op", "=="), ("op", "!=")):
            self.pos += 1
            equal = _equal(value, self._unary())
            return equal if token == ("op", "==") else not equal
        return value

    def _unary(self) -> Value:
        if self._peek() == ("op", "!"):
            self.pos += 1
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Value:
        kind, text = self._peek() or ("end", "")
        if (kind, text) == ("op", "("):
            self.pos += 1
            value = self._or()
            self._take("op", ")")
            return value
        if kind == "str":
            self.pos += 1
            return text[1:-1].replace("''", "'")
        if kind == "num":
            self.pos += 1
            return float(text)
        if kind != "name":
            raise UnsupportedAction(f"cannot read the expression {self.text!r}")
        self.pos += 1
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == ("op", "("):
            self.pos += 1
            self._take("op", ")")
            if text not in STATUS_FUNCTIONS:
                raise UnsupportedAction(f"function {text}() is not emulated")
            return self.status(text)
        path = [text]
        while self._peek() == ("op", "."):
            self.pos += 1
            path.append(self._take("name"))
        return self.lookup(path)


def _uses_status_function(text: str) -> bool:
    tokens = _tokens(text)
    return any(
        kind == "name" and name in STATUS_FUNCTIONS and tokens[i + 1 : i + 2] == [("op", "(")]
        for i, (kind, name) in enumerate(tokens)
    )


_TEMPLATE = re.compile(r"\$\{\{(?P<expr>(?:'(?:[^']|'')*'|[^'}]|\}(?!\}))*)\}\}")


# --- the run ------------------------------------------------------------------------------


@dataclass
class _State:
    inputs: dict[str, str]
    env_context: dict[str, str]
    action_dir: Path
    runner_temp: Path
    github_token: str
    steps: dict[str, StepResult] = field(default_factory=dict)
    step_ids: set[str] = field(default_factory=set)  # every id in action.yml
    failed: bool = False
    path_prefix: list[str] = field(default_factory=list)

    def lookup(self, path: list[str]) -> Value:
        head, rest = path[0], path[1:]
        if head == "inputs" and len(rest) == 1:
            if rest[0] not in self.inputs:
                raise UnsupportedAction(f"inputs.{rest[0]} is not a declared input")
            return self.inputs[rest[0]]
        if head == "steps" and len(rest) >= 2:
            if rest[0] not in self.step_ids:
                raise UnsupportedAction(f"steps.{rest[0]}: no step has that id")
            step = self.steps.get(rest[0], StepResult(rest[0], "", "", None))  # not run (yet)
            if rest[1:2] == ["outputs"] and len(rest) == 3:
                return step.outputs.get(rest[2])
            if len(rest) == 2 and rest[1] in ("outcome", "conclusion"):
                return step.outcome
        if path == ["github", "action_path"]:
            return str(self.action_dir)
        if path == ["github", "token"]:
            return self.github_token
        if path == ["runner", "temp"]:
            return str(self.runner_temp)
        if head == "env" and len(rest) == 1:
            return self.env_context.get(rest[0])
        raise UnsupportedAction(f"the context {'.'.join(path)} is not emulated")

    def status(self, name: str) -> bool:
        return {"success": not self.failed, "failure": self.failed}.get(name, name == "always")

    def evaluate(self, expression: str) -> Value:
        return _Parser(expression, self.lookup, self.status).parse()

    def render(self, value: object) -> str:
        """A `with:`/`env:`/... value with its `${{ }}` parts evaluated."""
        if isinstance(value, bool):
            return "true" if value else "false"
        text = str(value)
        whole = _TEMPLATE.fullmatch(text.strip())
        if whole:
            return as_string(self.evaluate(whole.group("expr")))
        rendered = _TEMPLATE.sub(lambda m: as_string(self.evaluate(m.group("expr"))), text)
        if "${{" in rendered:
            raise UnsupportedAction(f"cannot read the template {text!r}")
        return rendered

    def condition(self, value: object) -> bool:
        if value is None:
            return self.status("success")
        if isinstance(value, bool):
            return value and self.status("success")
        text = str(value).strip()
        whole = _TEMPLATE.fullmatch(text)
        expression = whole.group("expr") if whole else text
        if not _uses_status_function(expression):
            expression = f"success() && ({expression})"
        return _truthy(self.evaluate(expression))


def _base_env(
    env: Mapping[str, str], workdir: Path, action_dir: Path, runner_temp: Path
) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_PREFIXES)}
    base.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workdir),
            "GITHUB_ACTION_PATH": str(action_dir),
            "RUNNER_TEMP": str(runner_temp),
        }
    )
    base.update(env)
    return base


def _fake_setup_python(with_: dict[str, str], python: str) -> dict[str, str]:
    allowed = {"python-version", "update-environment", "python-version-file", "check-latest"}
    if unknown := set(with_) - allowed:
        raise UnsupportedAction(f"setup-python inputs not emulated: {sorted(unknown)}")
    if with_.get("update-environment", "true") != "false":
        raise UnsupportedAction("setup-python is emulated only with update-environment: false")
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {"python-path": python, "python-version": version}


def _run_script(
    state: _State,
    step: dict[str, Any],
    script: str,
    base_env: dict[str, str],
    workdir: Path,
    timeout: float,
) -> StepResult:
    if "${{" in script:
        raise UnsupportedAction("a `${{` inside run: (inputs must reach scripts through env:)")
    if step.get("shell") != "bash":
        raise UnsupportedAction(f"shell {step.get('shell')!r} is not emulated (only bash)")
    files = state.runner_temp / "_runner_file_commands"
    files.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    paths = {
        name: files / f"{name.lower()}_{token}"
        for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
    }
    for path in paths.values():
        path.touch()
    script_file = state.runner_temp / f"{token}.sh"
    script_file.write_text(script, encoding="utf-8")
    step_env = {name: state.render(value) for name, value in (step.get("env") or {}).items()}
    process_env = {**base_env, **state.env_context, **step_env}
    process_env.update({name: str(path) for name, path in paths.items()})
    if state.path_prefix:
        process_env["PATH"] = os.pathsep.join([*state.path_prefix, process_env.get("PATH", "")])
    cwd = workdir / state.render(step.get("working-directory", "."))
    name = str(step.get("name") or script.splitlines()[0])
    if not cwd.is_dir():
        message = f"working directory {cwd} does not exist"
        return StepResult(step.get("id"), name, "failure", 1, stderr=message)
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
        cwd=cwd,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    returncode, stderr = done.returncode, done.stderr
    try:
        outputs = parse_file_commands(paths["GITHUB_OUTPUT"].read_text(encoding="utf-8"))
        state.env_context.update(
            parse_file_commands(paths["GITHUB_ENV"].read_text(encoding="utf-8"))
        )
    except FileCommandError as exc:  # the runner fails the step
        outputs, returncode = {}, returncode or 1
        stderr += f"\nError: unable to process file command: {exc}\n"
    for line in paths["GITHUB_PATH"].read_text(encoding="utf-8").splitlines():
        if line.strip():
            state.path_prefix.insert(0, line.strip())
    return StepResult(
        step.get("id"),
        name,
        "success" if returncode == 0 else "failure",
        returncode,
        done.stdout,
        stderr,
        outputs,
        paths["GITHUB_STEP_SUMMARY"].read_text(encoding="utf-8"),
    )


def run_action(
    action_dir: Path,
    *,
    inputs: Mapping[str, str],
    env: Mapping[str, str],
    workdir: Path,
    runner_temp: Path,
    python: str,
    github_token: str = "",
    stop_after: str | None = None,
    timeout: float = 600,
) -> ActionRun:
    """Run action.yml in `action_dir` like a runner; see the module docstring for the rules.

    `inputs` are the `with:` values, `env` the job's environment (also the `env` context),
    `workdir` the workspace, `python` what the faked setup-python returns, `github_token`
    the value of `github.token`; `stop_after` ends the run after the step with that id.
    """
    action = load_action(action_dir)
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        raise UnsupportedAction("only composite actions are emulated")
    declared: dict[str, Any] = action.get("inputs") or {}
    if unknown := set(inputs) - set(declared):
        raise UnsupportedAction(f"inputs not declared in action.yml: {sorted(unknown)}")
    runner_temp.mkdir(parents=True, exist_ok=True)
    state = _State({}, dict(env), action_dir, runner_temp, github_token)
    for name, spec in declared.items():
        state.inputs[name] = (
            inputs[name] if name in inputs else state.render((spec or {}).get("default", ""))
        )
    state.step_ids = {str(step["id"]) for step in runs.get("steps") or [] if "id" in step}
    base_env = _base_env(env, workdir, action_dir, runner_temp)
    results: list[StepResult] = []
    returncode = 0
    for step in runs.get("steps") or []:
        name = str(step.get("name") or step.get("uses") or "run")
        if not state.condition(step.get("if")):
            result = StepResult(step.get("id"), name, "skipped", None)
        elif "uses" in step:
            uses = str(step["uses"])
            with_ = {key: state.render(value) for key, value in (step.get("with") or {}).items()}
            if uses.split("@", maxsplit=1)[0] != "actions/setup-python":
                raise UnsupportedAction(f"uses: {uses} is not emulated")
            result = StepResult(
                step.get("id"), name, "success", 0, outputs=_fake_setup_python(with_, python)
            )
        elif "run" in step:
            result = _run_script(state, step, str(step["run"]), base_env, workdir, timeout)
        else:
            raise UnsupportedAction(f"step {name!r} has neither run: nor uses:")
        results.append(result)
        if result.id:
            state.steps[result.id] = result
        if result.outcome == "failure" and not step.get("continue-on-error"):
            state.failed = True
            returncode = returncode or (result.returncode or 1)
        if stop_after is not None and result.id == stop_after:
            break
    outputs = {
        name: state.render((spec or {}).get("value", ""))
        for name, spec in (action.get("outputs") or {}).items()
    }
    stdout = "".join(r.stdout for r in results)
    masks = [
        line.split("::add-mask::", 1)[1]
        for line in stdout.splitlines()
        if line.startswith("::add-mask::")
    ]
    return ActionRun(
        returncode=returncode,
        outputs=outputs,
        summary="".join(r.summary for r in results),
        stdout=stdout,
        stderr="".join(r.stderr for r in results),
        steps=results,
        masks=masks,
    )


def preinstall_venv(action_dir: Path, *, runner_temp: Path, python: str) -> Path:
    """Build the venv the action's install step would build, from `python`'s environment.

    The venv's path and key come from running the action's own "venv" step, so the action's
    check then finds selfheal installed. Returns the venv's path.
    """
    probe = run_action(
        action_dir,
        inputs={},
        env={},
        workdir=runner_temp,
        runner_temp=runner_temp,
        python=python,
        stop_after="venv",
    )
    step = probe.step("venv")
    if step.outcome != "success":
        raise RuntimeError(f"the action's venv step failed:\n{probe.stdout}{probe.stderr}")
    venv, key = Path(step.outputs["path"]), step.outputs["key"]
    query = (
        "import importlib.metadata as m, sysconfig; "
        "print(sysconfig.get_paths()['purelib']); "
        # No [0]: on Python 3.12 an EntryPoints is indexed by name
        "print(*(e.value for e in m.entry_points(group='console_scripts', name='selfheal')))"
    )
    site_packages, entry_point = subprocess.run(
        [python, "-c", query], capture_output=True, text=True, check=True
    ).stdout.split()
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    venv_site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(venv_site, "_selfheal_test_environment.pth").write_text(
        f"import site; site.addsitedir({site_packages!r})\n", encoding="utf-8"
    )
    module, function = entry_point.split(":")
    script = venv / "bin" / "selfheal"
    script.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {function}\n"
        f"sys.exit({function}())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    (venv / ".selfheal-key").write_text(key + "\n", encoding="utf-8")
    return venv
