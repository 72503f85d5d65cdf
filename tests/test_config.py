"""load_config: the four layers, and errors that name the key and where it came from."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import MAX_SECONDS, Budget, Config, GateStep, GitIdentity, load_config
from bot.errors import BadInput, ConfigError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


def write_config(repo: Path, text: str) -> Path:
    text = textwrap.dedent(text)
    path = repo / ".github" / "selfheal.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- layers -------------------------------------------------------------------------------


def test_defaults(repo: Path) -> None:
    config = load_config(repo, env={})
    assert config == Config()
    assert config.gate is None
    assert config.max_attempts == 3
    assert config.protected_paths == [".github/**"]
    assert config.branch_prefix == "selfheal/"
    assert (config.agent, config.agent_command, config.model) == ("auto", None, None)
    assert config.budget == Budget(wall_seconds=1800)
    assert config.git == GitIdentity()
    assert config.env_allow == []
    assert (config.digest_tokens, config.max_diff_lines, config.flaky_check) == (8000, 2000, True)


def test_the_repo_file_is_read(repo: Path) -> None:
    write_config(
        repo,
        """\
        max_attempts: 5
        protected_paths: ["ci/**", "*.lock"]
        budget:
          wall_seconds: 120
        gate:
          - name: lint
            kind: ruff
            run: ruff check src
          - name: tests
            kind: pytest
            run: [pytest, -x, tests]
            timeout: 60
            env: {PYTHONHASHSEED: "0"}
        """,
    )
    config = load_config(repo, env={})
    assert config.max_attempts == 5
    assert config.protected_paths == ["ci/**", "*.lock"]
    assert config.budget.wall_seconds == 120
    assert config.gate == [
        GateStep(name="lint", kind="ruff", run=["ruff", "check", "src"]),
        GateStep(
            name="tests",
            kind="pytest",
            run=["pytest", "-x", "tests"],
            timeout=60,
            env={"PYTHONHASHSEED": "0"},
        ),
    ]


def test_an_empty_file_means_defaults(repo: Path) -> None:
    write_config(repo, "# nothing set yet\n")
    assert load_config(repo, env={}) == Config()


def test_kebab_case_keys_are_accepted(repo: Path) -> None:
    write_config(repo, "max-attempts: 4\nbranch-prefix: fix/\nflaky-check: false\n")
    config = load_config(repo, env={})
    assert (config.max_attempts, config.branch_prefix, config.flaky_check) == (4, "fix/", False)


def test_config_flag_is_relative_to_cwd_and_replaces_the_repo_file(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(repo, "max_attempts: 5\nbranch_prefix: repo/\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "conf").mkdir(parents=True)
    (elsewhere / "conf" / "heal.yml").write_text("max_attempts: 9\n")
    monkeypatch.chdir(elsewhere)
    config = load_config(repo, config_file=Path("conf/heal.yml"), env={})
    assert config.max_attempts == 9
    assert config.branch_prefix == "selfheal/"  # the repo's file was not read at all


def test_a_missing_config_flag_file_is_an_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file nowhere\.yml does not exist"):
        load_config(repo, config_file=Path("nowhere.yml"), env={})


def test_each_layer_wins_over_the_one_below(repo: Path) -> None:
    assert load_config(repo, env={}).max_attempts == 3
    write_config(repo, "max_attempts: 5\n")
    assert load_config(repo, env={}).max_attempts == 5
    env = {"SELFHEAL_MAX_ATTEMPTS": "7"}
    assert load_config(repo, env=env).max_attempts == 7
    assert load_config(repo, env=env, flags={"max_attempts": 9}).max_attempts == 9
    # A flag that was not given (None) leaves the layers below alone.
    assert load_config(repo, env=env, flags={"max_attempts": None}).max_attempts == 7


def test_nested_keys_merge_across_layers(repo: Path) -> None:
    write_config(
        repo, "budget: {wall_seconds: 100}\ngit: {name: file-bot, email: file@example.com}\n"
    )
    env = {"SELFHEAL_BUDGET__WALL_SECONDS": "200", "SELFHEAL_GIT__NAME": "env-bot"}
    config = load_config(repo, env=env)
    assert config.budget.wall_seconds == 200
    assert config.git == GitIdentity(name="env-bot", email="file@example.com")
    config = load_config(repo, env=env, flags={"budget": {"wall_seconds": 300}})
    assert config.budget.wall_seconds == 300


def test_gate_from_the_environment_as_a_json_list(repo: Path) -> None:
    write_config(repo, "gate: [{name: file, run: 'make test'}]\n")
    env = {"SELFHEAL_GATE": '[{"name": "env", "run": "pytest -k \\"a and b\\"", "kind": "pytest"}]'}
    config = load_config(repo, env=env)
    assert config.gate == [GateStep(name="env", run=["pytest", "-k", "a and b"], kind="pytest")]


def test_env_names_are_case_insensitive_and_other_variables_ignored(repo: Path) -> None:
    config = load_config(repo, env={"selfheal_max_attempts": "6", "MAX_ATTEMPTS": "11"})
    assert config.max_attempts == 6


def test_the_env_argument_replaces_os_environ(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_MAX_ATTEMPTS", "7")
    assert load_config(repo, env={}).max_attempts == 3
    assert load_config(repo, env={"SELFHEAL_MAX_ATTEMPTS": "4"}).max_attempts == 4
    assert load_config(repo).max_attempts == 7  # no env given: ours


def test_config_does_not_read_the_environment_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_MAX_ATTEMPTS", "7")
    assert Config().max_attempts == 3


# --- errors -------------------------------------------------------------------------------


def test_a_bad_value_in_the_file_names_the_key_and_the_file(repo: Path) -> None:
    path = write_config(repo, "max_attempts: 0\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    message = str(excinfo.value)
    assert f"{path}: max_attempts:" in message
    assert "greater than or equal to 1" in message
    assert isinstance(excinfo.value, BadInput)  # exit code 2


def test_an_unknown_key_in_the_file_names_the_key_and_the_file(repo: Path) -> None:
    path = write_config(repo, "max_attempts: 2\ncolour: blue\n")
    with pytest.raises(ConfigError, match="unknown key") as excinfo:
        load_config(repo, env={})
    assert f"{path}: colour: unknown key" in str(excinfo.value)


def test_a_bad_nested_value_in_the_file_names_the_dotted_key(repo: Path) -> None:
    path = write_config(repo, "budget:\n  wall_seconds: -5\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    assert f"{path}: budget.wall_seconds:" in str(excinfo.value)


def test_a_bad_gate_step_in_the_file_names_the_step(repo: Path) -> None:
    path = write_config(repo, "gate:\n  - name: lint\n    run: ruff check\n    kind: mypy\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    assert f"{path}: gate.0.kind:" in str(excinfo.value)


def test_a_bad_env_value_names_the_variable(repo: Path) -> None:
    write_config(repo, "max_attempts: 2\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={"SELFHEAL_MAX_ATTEMPTS": "many"})
    message = str(excinfo.value)
    assert "environment variable SELFHEAL_MAX_ATTEMPTS: max_attempts:" in message
    assert "selfheal.yml" not in message


def test_a_bad_nested_env_value_names_the_variable_that_was_set(repo: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={"SELFHEAL_BUDGET__WALL_SECONDS": "-1"})
    assert "SELFHEAL_BUDGET__WALL_SECONDS" in str(excinfo.value)


def test_a_bad_flag_names_the_command_line(repo: Path) -> None:
    with pytest.raises(ConfigError, match="--max-attempts: Input should be"):
        load_config(repo, env={}, flags={"max_attempts": 99})


def test_yaml_that_is_not_a_mapping_names_the_file(repo: Path) -> None:
    path = write_config(repo, "- max_attempts: 3\n")
    with pytest.raises(ConfigError, match="must be a mapping") as excinfo:
        load_config(repo, env={})
    assert str(path) in str(excinfo.value)


def test_invalid_yaml_names_the_file(repo: Path) -> None:
    path = write_config(repo, "max_attempts: [3\nagent: none\n")
    with pytest.raises(ConfigError, match="not valid YAML") as excinfo:
        load_config(repo, env={})
    assert str(path) in str(excinfo.value)


def test_an_unclosed_quote_in_a_gate_command_is_a_clear_error(repo: Path) -> None:
    path = write_config(repo, 'gate:\n  - name: tests\n    run: pytest -k "a and b\n')
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    message = str(excinfo.value)
    assert f"{path}: gate.0.run:" in message
    assert "cannot split 'pytest -k \"a and b' like a shell would" in message


# --- GateStep -----------------------------------------------------------------------------


def step_from(run: str | list[str]) -> GateStep:
    """A step as the YAML file or SELFHEAL_GATE would give it."""
    return GateStep.model_validate({"name": "step", "run": run})


@pytest.mark.parametrize(
    ("run", "argv"),
    [
        ("ruff check src tests", ["ruff", "check", "src", "tests"]),
        ('pytest -k "a and b" -q', ["pytest", "-k", "a and b", "-q"]),
        ("echo 'single quoted' plain\\ space", ["echo", "single quoted", "plain space"]),
        (["my tool", "--flag=a b"], ["my tool", "--flag=a b"]),  # a list is taken as it is
    ],
)
def test_gate_step_run_is_split_like_a_shell(run: str | list[str], argv: list[str]) -> None:
    assert step_from(run).run == argv


def test_gate_step_run_is_never_handed_to_a_shell() -> None:
    step = step_from("echo $HOME && rm -rf / ; `id`")
    assert step.run == ["echo", "$HOME", "&&", "rm", "-rf", "/", ";", "`id`"]


def test_gate_step_unclosed_quote() -> None:
    with pytest.raises(
        ValidationError, match=r"cannot split .* like a shell would: No closing quotation"
    ):
        step_from("echo 'oops")


@pytest.mark.parametrize("run", ["", "   ", [], [" "]])
def test_gate_step_empty_command(run: str | list[str]) -> None:
    with pytest.raises(ValidationError):
        step_from(run)


def test_gate_step_defaults_and_unknown_keys() -> None:
    step = step_from("pytest")
    assert (step.kind, step.timeout, step.env) == ("command", 900, {})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        GateStep.model_validate({"name": "tests", "run": "pytest", "shell": True})


# --- hostile values: one line naming the key, never a crash later ---------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1e300", "more than the 604800 (7 days) allowed"),
        ("-5", "greater than 0"),
        ("0", "greater than 0"),
        (".nan", "finite number"),
        (".inf", "finite number"),
    ],
)
def test_wall_seconds_out_of_range_is_one_line_naming_the_key(
    repo: Path, value: str, said: str
) -> None:
    path = write_config(repo, f"budget:\n  wall_seconds: {value}\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    message = str(excinfo.value)
    assert f"{path}: budget.wall_seconds: " in message
    assert said in message
    assert "\n" not in message
    assert "Value error" not in message


def test_a_step_timeout_is_capped_like_the_wall_clock(repo: Path) -> None:
    write_config(repo, "gate:\n  - name: t\n    run: pytest\n    timeout: 1e300\n")
    with pytest.raises(ConfigError, match=r"gate\.0\.timeout: 1e\+300 seconds is more than"):
        load_config(repo, env={})
    assert GateStep(name="t", run="pytest", timeout=MAX_SECONDS).timeout == MAX_SECONDS


def test_an_empty_gate_is_refused_at_load_time(repo: Path) -> None:
    path = write_config(repo, "gate: []\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    assert f"{path}: gate: the gate has no steps" in str(excinfo.value)
    write_config(repo, "agent: none\n")
    assert load_config(repo, env={}).gate is None  # no key: detected, not empty


def test_a_yaml_syntax_error_is_file_line_column_and_what(repo: Path) -> None:
    path = write_config(repo, "max_attempts: 2\nagent: none: command\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    assert str(excinfo.value) == f"{path}:2:12: not valid YAML: mapping values are not allowed here"


def test_several_problems_are_one_line(repo: Path) -> None:
    write_config(repo, "max_attempts: 0\ncolour: blue\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    message = str(excinfo.value)
    assert "\n" not in message
    assert "max_attempts:" in message
    assert "colour: unknown key" in message


def test_isolation_by_a_separate_user_is_refused_until_it_is_built(repo: Path) -> None:
    assert load_config(repo, env={}).isolation == "auto"
    assert load_config(repo, env={}, flags={"isolation": "none"}).isolation == "none"
    path = write_config(repo, "isolation: user\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(repo, env={})
    assert f"{path}: isolation: a separate user for the gate and agents is not built yet" in str(
        excinfo.value
    )
