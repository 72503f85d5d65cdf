"""The report model: the spine every stage writes into, and `report.json` on disk.

Values are frozen; a stage that "updates" a report returns a new one with `model_copy`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1


class Frozen(BaseModel):
    # Schemas are built on first use: `selfheal gate` needs none before its first step ends,
    # and building them all at import delayed that step's start (tests/test_startup.py).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Category(str, Enum):
    """What kind of failure this is; decides who may fix it."""

    LINT = "lint"
    FORMAT = "format"
    SYNTAX = "syntax"
    IMPORT = "import"
    DEPENDENCY = "dependency"
    TYPE = "type"
    ASSERTION = "assertion"
    ERROR = "error"
    COLLECTION = "collection"
    TIMEOUT = "timeout"
    FLAKY = "flaky"
    INFRA = "infra"
    GPU_OOM = "gpu-oom"  # CUDA out of memory: code can fix it (a smaller batch, freeing tensors)
    METRIC = "metric"  # an experiment step's metric missed its threshold, or was not written


# Failures a deterministic fixer can repair, and failures no code change can (sent to nobody).
FIXER_CATEGORIES = frozenset({Category.LINT, Category.FORMAT})
UNFIXABLE_CATEGORIES = frozenset({Category.FLAKY, Category.INFRA})


class Failure(Frozen):
    """One thing the gate said is wrong."""

    step: str
    category: Category
    message: str
    file: str | None = None
    line: int | None = None
    test_id: str | None = None
    rule: str | None = None  # ruff code, exception type
    excerpt: str = ""
    signature: str
    fixable: bool = False  # ruff says an automatic fix exists


class StepStatus(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    ERROR = "error"  # could not start, or crashed without telling us what failed
    SKIPPED = "skipped"
    NEEDS_GPU = "needs_gpu"  # requires a GPU and this runner shows none: not run, not passing
    # Ended without showing that its tests ran (exit 0 or 5 with nothing run, no normal end,
    # no results from selfheal's plugin): never green, whatever the exit code said.
    UNVERIFIED = "unverified"


class GpuDevice(Frozen):
    """One GPU as nvidia-smi describes it."""

    index: int
    name: str
    uuid: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None  # the highest CUDA version the driver supports
    memory_total_mb: int | None = None  # MiB


class GpuUsage(Frozen):
    """GPU memory while one step ran, sampled with nvidia-smi (device-wide: other processes
    on the same GPU count too)."""

    devices: list[int] = Field(default_factory=list)  # nvidia-smi indices the step could see
    peak_memory_mb: int | None = None  # MiB, the highest sample (summed over `devices`)
    start_memory_mb: int | None = None  # MiB, the first sample
    samples: int = 0


class MetricCheck(Frozen):
    """One threshold of an experiment step, checked against the metrics it wrote."""

    threshold: str  # as configured: "accuracy >= 0.9"
    metric: str
    value: float | None = None  # None: the step did not report this metric
    ok: bool = False


class Evidence(Frozen):
    """What a pytest step showed about its tests: a pytest step is green only on this."""

    source: Literal["plugin", "junit"]  # selfheal's pytest plugin, or the junit fallback
    normal_end: bool  # the test loop ran to its end (junit: the file is whole)
    collected: int | None = None  # tests left after deselection; None: unknown
    deselected: int | None = None
    ran: int = 0  # passed, failed, errors, xpassed: not skips
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    stopped: str | None = None  # the option that kept it from running tests ("--collect-only")
    cut_short: bool = False  # it stopped at its first failure, as selfheal asked: tests left
    # node id -> outcome ("passed", "failed", "error", "skipped", "xfailed", "xpassed",
    # "not run", "not collected"): the ids re-run in a selection, and those watched in a full run.
    selected: dict[str, str] = Field(default_factory=dict)
    watched: dict[str, str] = Field(default_factory=dict)


class StepResult(Frozen):
    """One gate step, run once."""

    name: str
    kind: str
    argv: list[str]
    status: StepStatus
    exit_code: int | None = None
    duration_s: float = 0.0
    output: str = ""  # what the user would have seen, capped (head and tail)
    output_bytes: int = 0  # how much the step really printed
    failures: list[Failure] = Field(default_factory=list)
    tests_run: int | None = None
    selection: list[str] = Field(default_factory=list)  # test ids, when only some ran
    note: str = ""
    gpu: GpuUsage | None = None  # steps that require a GPU, when one was there
    gpu_tests_deselected: int | None = None  # pytest tests marked `gpu` left out: no GPU here
    metrics: dict[str, float] = Field(default_factory=dict)  # what the step's metrics file said
    metric_checks: list[MetricCheck] = Field(default_factory=list)
    run_ids: list[str] = Field(default_factory=list)  # experiment runs the step printed (MLflow)
    evidence: Evidence | None = None  # pytest steps: what showed that the tests ran
    tool: str = ""  # the tool version that ran and why: "ruff 0.4.10 (pinned in uv.lock)"


class GateRun(Frozen):
    """The gate, run once (all steps, or only what failed)."""

    label: str  # "before", "verify 1", "after", ...
    steps: list[StepResult]
    duration_s: float = 0.0
    partial: bool = False  # only what failed was re-run
    # The git tree whose exact bytes this run checked (a clean checkout of the candidate
    # commit: nothing ignored, untracked or compiled): set on the run that proves a proposal.
    tree: str | None = None
    gpus: list[GpuDevice] = Field(default_factory=list)  # the GPUs this runner showed
    # Steps whose process started before the configuration was read: the last run's, found
    # to be exactly the step (bot.gate.head_start).
    started_ahead: list[str] = Field(default_factory=list)

    @property
    def green(self) -> bool:
        return all(s.status in (StepStatus.PASSED, StepStatus.SKIPPED) for s in self.steps)

    @property
    def needs_gpu(self) -> bool:
        """A step that requires a GPU could not run here."""
        return any(s.status is StepStatus.NEEDS_GPU for s in self.steps)

    @property
    def failures(self) -> list[Failure]:
        return [f for s in self.steps for f in s.failures]


class GuardVerdict(Frozen):
    """One guard's opinion of one attempt's diff."""

    guard: str
    ok: bool
    reason: str = ""
    file: str | None = None


class FileChange(Frozen):
    path: str
    added: int = 0
    removed: int = 0


class Attempt(Frozen):
    """One turn of the fix loop."""

    number: int
    fixers: list[str] = Field(default_factory=list)  # "ruff check --fix", "ruff format", agent name
    agent: str | None = None
    agent_summary: str = ""
    agent_exit_code: int | None = None
    changes: list[FileChange] = Field(default_factory=list)
    guards: list[GuardVerdict] = Field(default_factory=list)
    refused: bool = False
    verification: GateRun | None = None
    remaining: list[Failure] = Field(default_factory=list)
    duration_s: float = 0.0
    outcome: Literal["green", "failing", "refused", "no_change", "budget"] = "failing"
    agent_turns: int = 0  # model calls (Claude agent)
    agent_tool_calls: dict[str, int] = Field(default_factory=dict)
    agent_usage: dict[str, int] = Field(default_factory=dict)  # the API's usage field names
    agent_cost_usd: float | None = None
    agent_budget_hit: str | None = None  # e.g. "max_usd=0.5"

    @property
    def added(self) -> int:
        return sum(c.added for c in self.changes)

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.changes)


class Status(str, Enum):
    GREEN = "green"  # nothing to do
    HEALED = "healed"
    PROPOSED = "proposed"  # implement mode: change made, gate green
    FLAKY = "flaky"
    GAVE_UP = "gave_up"
    REFUSED = "refused"
    # The gate is green on the fix, but it could not be proposed (push refused, remote down,
    # branch taken): the fix is only in fix.patch.
    NOT_PROPOSED = "not_proposed"
    NOT_REPRODUCED = "not_reproduced"  # CI failed, but the gate is green on that commit
    INTERRUPTED = "interrupted"  # a signal (SIGINT, SIGTERM, SIGHUP) ended the run
    ERROR = "error"


EXIT_FOR_STATUS = {
    Status.GREEN: 0,
    Status.HEALED: 0,
    Status.PROPOSED: 0,
    Status.FLAKY: 0,
    Status.GAVE_UP: 1,
    Status.REFUSED: 1,
    Status.NOT_PROPOSED: 1,
    Status.NOT_REPRODUCED: 0,
    Status.INTERRUPTED: 130,
    Status.ERROR: 3,
}


class StopReason(str, Enum):
    GREEN = "green"
    ATTEMPT_CAP = "attempt_cap"
    STUCK = "stuck"
    BUDGET = "budget"
    REFUSED = "refused"
    NOTHING_TO_FIX = "nothing_to_fix"  # only flaky or unfixable failures
    NEEDS_AGENT = "needs_agent"  # what is left needs an agent, and none is configured
    NOT_PROPOSED = "not_proposed"  # green, but the push or branch write failed
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"


class Issue(Frozen):
    number: int | None = None
    title: str = ""
    body: str = ""
    url: str | None = None


class Proposal(Frozen):
    branch: str
    commit: str
    pushed: bool = False
    remote: str | None = None
    push_error: str | None = None
    replaced: str | None = None  # the commit the local branch held before (a re-run moved it)
    pr_number: int | None = None
    pr_url: str | None = None
    base: str | None = None  # the branch the pull request goes into


class Report(Frozen):
    """Everything one run did, for reviewers and machines."""

    schema_version: int = SCHEMA_VERSION
    tool_version: str
    mode: Literal["heal", "implement", "gate"]
    status: Status
    stop_reason: StopReason | None = None
    detail: str = ""  # one sentence saying why it ended this way
    repo: str
    base_ref: str | None = None  # the branch the user was on, if any
    base_sha: str
    started_at: datetime
    finished_at: datetime | None = None
    max_attempts: int = 0
    agent: str = "none"
    agent_note: str = ""  # e.g. "scripted: this agent replays a known fix"
    model: str | None = None
    agent_totals: dict[str, Any] = Field(default_factory=dict)  # usage, cost_usd, turns, tool_calls
    issue: Issue | None = None
    gate_before: GateRun | None = None
    flaky: list[Failure] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)  # what the loop set out to fix
    attempts: list[Attempt] = Field(default_factory=list)
    gate_after: GateRun | None = None
    proposal: Proposal | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    peak_rss_mb: float | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)
    # A gate step requires a GPU and this runner has none: the job belongs on a GPU runner.
    needs_gpu: bool = False
    # Not reproduced: the gate configuration that would run what the failed CI run ran.
    suggested_gate: str = ""
    # No gate configured: why each step the zero-config gate knows was run or left out.
    gate_detected: list[str] = Field(default_factory=list)
    # How the gate and the agent were kept from selfheal (bot.isolation), e.g.
    # "process: non-dumpable, same user"; "" in reports written before this was recorded.
    isolation: str = ""
    # Where the fix was made and checked: a copy of the checkout, or the Actions checkout
    # adopted in place; and the generated, ignored files carried from the user's checkout.
    workspace: str = ""

    @model_validator(mode="before")
    @classmethod
    def _needs_gpu_from_gates(cls, data: Any) -> Any:
        """Built from gate runs without saying: `needs_gpu` is what they show.

        (An update through `model_copy` is not validated: whoever adds a gate run that way
        sets `needs_gpu` too, as the fix loop does.)
        """
        if not isinstance(data, dict) or "needs_gpu" in data:
            return data
        gates = [data.get("gate_before"), data.get("gate_after")]
        gates += [getattr(a, "verification", None) for a in data.get("attempts") or ()]
        if any(isinstance(g, GateRun) and g.needs_gpu for g in gates):
            return {**data, "needs_gpu": True}
        return data

    @property
    def exit_code(self) -> int:
        return EXIT_FOR_STATUS[self.status]

    def gate_runs(self) -> list[GateRun]:
        """Every gate run the report holds, in order: before, each attempt's check, after."""
        runs = [self.gate_before] if self.gate_before is not None else []
        runs += [a.verification for a in self.attempts if a.verification is not None]
        if self.gate_after is not None and all(r != self.gate_after for r in runs):
            runs.append(self.gate_after)
        return runs


def now() -> datetime:
    return datetime.now(timezone.utc)


def load_report(path: Path) -> Report:
    """Read a stored report.json (raises pydantic.ValidationError on a bad file)."""
    return Report.model_validate_json(path.read_text(encoding="utf-8"))


def build_models() -> None:
    """Build every report model's schema now rather than at its first use: for when steps
    are already running (bot.gate.head_start), so the work after the last one ends is less."""
    for model in (Failure, Evidence, GpuUsage, MetricCheck, StepResult, GateRun, Report):
        model.model_rebuild()


def report_schema() -> str:
    """The JSON Schema of report.json, as shipped in schema/report.schema.json."""
    return json.dumps(Report.model_json_schema(), indent=2, sort_keys=True) + "\n"
