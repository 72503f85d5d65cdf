"""Configuration: defaults < .github/selfheal.yml (or --config) < SELFHEAL_* variables < flags."""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

DEFAULT_CONFIG_PATH = Path(".github/selfheal.yml")
ENV_PREFIX = "SELFHEAL_"
ENV_NESTED_DELIMITER = "__"
StepKind = Literal["ruff", "ruff-format", "pytest", "command"]
# Longer than any CI job runs (GitHub ends a job after 6 hours), and small enough that a
# deadline computed from it is a time the clock and the thread library can represent.
MAX_SECONDS = 7 * 24 * 3600.0


def _at_most_a_week(value: float) -> float:
    if value > MAX_SECONDS:
        raise ValueError(f"{value:g} seconds is more than the {MAX_SECONDS:.0f} (7 days) allowed")
    return value


Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False), AfterValidator(_at_most_a_week)]


class GateStep(BaseModel):
    """One command of the gate. `run` is split like a shell would, never run through one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    run: list[str] = Field(min_length=1)
    kind: StepKind = "command"
    timeout: Seconds = 900
    env: dict[str, str] = Field(default_factory=dict)
    # gpu: runs only where nvidia-smi shows a GPU; elsewhere it is reported as needing one.
    requires: Literal["gpu"] | None = None
    # Experiment steps: a JSON file of metrics the step writes (relative to the repo), the
    # thresholds they must meet ("accuracy >= 0.9"), and how to spot a tracked run's id in
    # the output (a regex with one group; None: MLflow's run ids, see bot.gate.metrics).
    metrics: str | None = None
    thresholds: list[str] = Field(default_factory=list)
    run_id_pattern: str | None = None

    @field_validator("run", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split {value!r} like a shell would: {exc}") from exc
        return value

    @field_validator("run")
    @classmethod
    def _no_empty_words(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("the command is empty")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics_in_repo(cls, value: str | None) -> str | None:
        from bot.gate.metrics import check_metrics_path

        return None if value is None else check_metrics_path(value)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_parse(cls, value: list[str]) -> list[str]:
        from bot.gate.metrics import parse_threshold

        for text in value:
            parse_threshold(text)  # raises ValueError naming the threshold
        return value

    @field_validator("run_id_pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        from bot.gate.metrics import compile_run_id_pattern

        if value is not None:
            compile_run_id_pattern(value)
        return value

    @model_validator(mode="after")
    def _thresholds_need_metrics(self) -> GateStep:
        if self.thresholds and self.metrics is None:
            raise ValueError(
                f"step {self.name!r} has thresholds but no metrics file to check them against; "
                "add `metrics: PATH` (the JSON file the step writes)"
            )
        return self


class GitIdentity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "selfheal[bot]"
    email: str = "selfheal[bot]@users.noreply.github.com"


class Budget(BaseModel):
    """Limits for one run; hitting one stops the loop cleanly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_seconds: Seconds = 1800
    max_turns_per_attempt: int = Field(default=30, ge=1)  # Claude agent: model calls per attempt
    max_total_tokens: int | None = Field(default=None, ge=1)  # Claude agent, whole run
    max_usd: float | None = Field(default=None, gt=0)  # Claude agent, whole run


class Config(BaseModel):
    """Every setting selfheal reads. See README for each key.

    It reads nothing by itself: `load_config` layers file, environment and flags (so an error
    can name the layer it came from) and validates the merged values here.
    """

    # validate_default as pydantic-settings' BaseSettings has it.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    gate: list[GateStep] | None = None  # None: detect ruff / ruff format / pytest
    max_attempts: int = Field(default=3, ge=1, le=20)
    protected_paths: list[str] = Field(default_factory=lambda: [".github/**"])
    branch_prefix: str = Field(default="selfheal/", pattern=r"^[A-Za-z0-9._/-]*$")
    trigger_label: str = Field(default="selfheal", min_length=1, max_length=50)  # GitHub's cap
    # The comment command: a slash and one word, so it can't match ordinary prose.
    trigger_phrase: str = Field(default="/selfheal", pattern=r"^/[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
    extra_instructions: str = Field(default="", max_length=8000)  # added to the agent's task
    allowed_bots: list[str] = Field(default_factory=list)  # bot logins that may trigger selfheal
    # auto: claude when ANTHROPIC_API_KEY is set, else none (deterministic fixers only)
    agent: Literal["auto", "none", "command", "claude"] = "auto"
    agent_command: str | None = None
    agent_preset: str | None = None  # a CLI agent preset (bot.agent.presets): agent command
    model: str | None = None  # Claude model id; None: bot.agent.claude.DEFAULT_MODEL
    max_tokens: int = Field(default=4096, ge=1, le=21333)  # per model call (non-streaming limit)
    api_retries: int = Field(default=2, ge=0, le=10)  # the SDK's retries for 429/5xx/overloaded
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)  # USD per million tokens
    budget: Budget = Field(default_factory=Budget)
    git: GitIdentity = Field(default_factory=GitIdentity)
    env_allow: list[str] = Field(default_factory=list)  # secret-looking names the gate may see
    # How the gate and command agents are kept from selfheal (bot.isolation): auto and none
    # keep selfheal non-dumpable under the same user; user (a throwaway user) is not built yet.
    isolation: Literal["auto", "user", "none"] = "auto"
    digest_tokens: int = Field(default=8000, ge=500)
    max_diff_lines: int = Field(default=2000, ge=1)
    max_file_bytes: int = Field(default=1_000_000, ge=1)  # content guard: any one changed file
    # Healing: may a fix change expected values, conftest hooks, patches of the code under
    # test or pytest's selection settings? Off: the tests are the specification.
    allow_spec_changes: bool = False
    flaky_check: bool = True
    # Where proposals are pushed. None: on GitHub, $GITHUB_SERVER_URL/$GITHUB_REPOSITORY.git;
    # locally, the URL `origin` had when the run started (never a pushurl or insteadOf).
    push_url: str | None = Field(default=None, min_length=1)
    # GitHub: runs allowed on one issue or PR (counted in the sticky comment), PRs as drafts,
    # labels put on the PRs selfheal opens, failed-job log excerpt given to the loop
    max_runs: int = Field(default=5, ge=1, le=100)
    draft: bool = True
    pr_labels: list[str] = Field(default_factory=lambda: ["selfheal"])
    log_tokens: int = Field(default=2000, ge=0)
    # seconds between write calls: GitHub asks integrations for 1 s
    api_write_interval: float = Field(default=1.0, ge=0, le=60)

    @field_validator("gate")
    @classmethod
    def _gate_has_steps(cls, value: list[GateStep] | None) -> list[GateStep] | None:
        if value is not None and not value:
            raise ValueError(
                "the gate has no steps: list at least one, or leave `gate` out to detect "
                "ruff and pytest"
            )
        return value

    @field_validator("isolation")
    @classmethod
    def _isolation_built(cls, value: str) -> str:
        if value == "user":
            from bot.isolation import USER_NOT_BUILT

            raise ValueError(USER_NOT_BUILT)
        return value

    @field_validator("agent_preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        from bot.agent.presets import PRESETS, preset_names

        if value is not None and value not in PRESETS:
            raise ValueError(
                f"unknown agent preset {value!r}; choose one of: {', '.join(preset_names())}"
            )
        return value

    @model_validator(mode="after")
    def _one_agent_command(self) -> Config:
        if self.agent_preset is None:
            return self
        if self.agent_command is not None:
            raise ValueError(
                f"agent_preset {self.agent_preset!r} and agent_command are both set; "
                "a preset is a ready-made agent_command, so give one or the other"
            )
        if self.agent not in ("auto", "command"):
            raise ValueError(
                f"agent_preset {self.agent_preset!r} runs a command agent, but agent is "
                f"{self.agent!r}"
            )
        return self


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when there is a file: it costs ~15 ms to import

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    return data


def _yaml_problem(path: Path, exc: Exception) -> str:
    """One line, `file:line:col: what`, instead of the parser's quoted context."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    return f"{where}: not valid YAML: {problem}"


def _snake_keys(data: dict[str, Any]) -> dict[str, Any]:
    """max-attempts -> max_attempts at every level, except inside a step's `env` (variable names)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if isinstance(value, dict) and name != "env":
            out[name] = _snake_keys(value)
        elif isinstance(value, list):
            out[name] = [_snake_keys(v) if isinstance(v, dict) else v for v in value]
        else:
            out[name] = value
    return out


@functools.cache
def _settings_class() -> type[BaseSettings]:
    """`Config` as pydantic-settings' env source reads it: SELFHEAL_* names, `__` nesting."""
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class ConfigFromEnvironment(Config, BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_NESTED_DELIMITER,
            extra="forbid",
            frozen=True,
        )

    return ConfigFromEnvironment


def _environment_values(env: dict[str, str]) -> dict[str, Any]:
    """SELFHEAL_* variables parsed by pydantic-settings' own env source, from a given mapping."""
    if not any(name.upper().startswith(ENV_PREFIX) for name in env):
        return {}  # the usual case, and pydantic-settings costs ~0.1 s to import
    from pydantic_settings import EnvSettingsSource

    source = EnvSettingsSource(_settings_class())
    # What the source itself does with os.environ (names case-insensitive, empty values and
    # the none-string as configured), on the given mapping: pydantic-settings' helper for it
    # lives in a private module that moved between releases (a traceback on 2.8).
    source.env_vars = {
        name.lower(): None if value == source.env_parse_none_str else value
        for name, value in env.items()
        if not (source.env_ignore_empty and value == "")
    }
    return source()


def _deep_merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    repo: Path,
    config_file: Path | None = None,
    flags: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Build the configuration for `repo`; a bad key or value raises ConfigError naming it."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = dict(os.environ if env is None else env)
    path: Path | None = None
    if config_file is not None:
        path = config_file if config_file.is_absolute() else Path.cwd() / config_file
        if not path.is_file():
            raise ConfigError(f"configuration file {config_file} does not exist")
    elif (repo / DEFAULT_CONFIG_PATH).is_file():
        path = repo / DEFAULT_CONFIG_PATH
    file_data = _read_yaml(path) if path is not None else {}
    file_data = _snake_keys(file_data)
    layers: list[tuple[str, dict[str, Any]]] = [
        (str(path), file_data),
        ("environment variable", _environment_values(env)),
        ("the command line", flags),
    ]
    merged: dict[str, Any] = {}
    for _, values in layers:
        merged = _deep_merge(merged, values)
    try:
        return Config(**merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = ".".join(loc) or "(top level)"
            where = next(
                (name for name, values in reversed(layers) if loc and loc[0] in values),
                "the configuration",
            )
            if where == "environment variable":
                where = "environment variable SELFHEAL_" + "__".join(
                    p.upper() for p in loc[:2] if not p.isdigit()
                )
            elif where == "the command line":
                # People typed the flag, not the key: name it as they wrote it.
                where, key = f"--{loc[0].replace('_', '-')}", ".".join(loc[1:]) or ""
            message = (
                "unknown key"
                if err["type"] == "extra_forbidden"
                else err["msg"].removeprefix("Value error, ")
            )
            problems.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        raise ConfigError("bad configuration: " + "; ".join(problems)) from exc
