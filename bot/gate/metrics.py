"""Experiment checks: metric thresholds, the metrics file a step writes, the run ids it prints.

Parsing and checking are pure; `read_metrics` reads the one file a step was configured
to write (and `snapshot` looks at it before the step runs, to tell a fresh file from one
an earlier run left behind).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from bot.report import Category, Failure, MetricCheck

MAX_METRICS_BYTES = 1024 * 1024
MAX_METRICS = 100
MAX_RUN_IDS = 10

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_MISSED = {">=": "<", "<=": ">", ">": "<=", "<": ">=", "==": "!="}
_THRESHOLD = re.compile(
    r"(?P<metric>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
)

# MLflow prints "View run NAME at: URL/#/experiments/N/runs/<id>", scripts print
# "run_id: <id>", `mlflow run` ends with "=== Run (ID '<id>') succeeded ===". Its ids are
# 32 hex digits, which keeps GitHub's numeric /runs/ URLs out.
DEFAULT_RUN_ID_PATTERN = (
    r"(?i)(?:\brun[ _-]?id\s*[:=]\s*['\"]?|\brun \(id '|/runs/)([0-9a-f]{32})\b"
)


@dataclass(frozen=True)
class Threshold:
    """`metric op target`, e.g. accuracy >= 0.9."""

    text: str
    metric: str
    op: str
    target: float

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.target)


def parse_threshold(text: str) -> Threshold:
    """Parse "accuracy >= 0.9" (operators >=, <=, >, <, ==); ValueError naming it otherwise."""
    found = _THRESHOLD.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValueError(
            f"bad threshold {text!r}: write it as METRIC OP NUMBER, e.g. 'accuracy >= 0.9', "
            "with OP one of >=, <=, >, <, =="
        )
    return Threshold(
        text=text.strip(),
        metric=found.group("metric"),
        op=found.group("op"),
        target=float(found.group("value")),
    )


def check_metrics_path(value: str) -> str:
    """A metrics path as configured: relative, inside the repo; ValueError otherwise."""
    text = value.strip()
    if not text:
        raise ValueError("the metrics path is empty")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or text[0] == "~":
        raise ValueError(f"metrics path {value!r} must be relative to the repository")
    if ".." in PurePosixPath(text.replace("\\", "/")).parts:
        raise ValueError(f"metrics path {value!r} must stay inside the repository (no '..')")
    return text


def compile_run_id_pattern(pattern: str) -> re.Pattern[str]:
    """The regex that finds run ids; ValueError unless it compiles with exactly one group."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"run_id_pattern {pattern!r} is not a valid regex: {exc}") from exc
    if compiled.groups != 1:
        raise ValueError(
            f"run_id_pattern {pattern!r} must have exactly one group (the id), "
            f"not {compiled.groups}"
        )
    return compiled


def find_run_ids(pattern: str | None, text: str) -> list[str]:
    """The distinct run ids `text` shows, in order, at most MAX_RUN_IDS."""
    found: dict[str, None] = {}
    for match in compile_run_id_pattern(pattern or DEFAULT_RUN_ID_PATTERN).finditer(text):
        run_id = (match.group(1) or "").strip()[:200]
        if run_id:
            found[run_id] = None
        if len(found) >= MAX_RUN_IDS:
            break
    return list(found)


# --- the metrics file -------------------------------------------------------------------

Snapshot = tuple[int, int, int] | None


def snapshot(path: Path) -> Snapshot:
    """What the file looks like now (None: not there), to see whether a step rewrote it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _flatten(data: Mapping[str, object], prefix: str, out: dict[str, float]) -> None:
    for key, value in data.items():
        if len(out) >= MAX_METRICS:
            return
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[name] = float(value)
        elif isinstance(value, dict):
            _flatten(value, f"{name}.", out)


def read_metrics(
    path: Path, repo: Path, shown: str, before: Snapshot
) -> tuple[dict[str, float], str]:
    """The numbers in the step's metrics file (nested keys joined by dots), and what is wrong
    with the file ("" when nothing). `shown` is the path as configured; `before` its snapshot
    from before the step ran."""
    if not path.is_file():
        return {}, f"the step did not write its metrics file {shown}"
    try:
        path.resolve().relative_to(repo.resolve())
    except ValueError:
        return {}, f"metrics file {shown} leads outside the repository"
    if before is not None and snapshot(path) == before:
        return {}, f"metrics file {shown} was not rewritten by this run (an earlier run left it)"
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_METRICS_BYTES + 1)
    except OSError as exc:
        return {}, f"cannot read metrics file {shown}: {exc.strerror or exc}"
    if len(raw) > MAX_METRICS_BYTES:
        return {}, f"metrics file {shown} is larger than {MAX_METRICS_BYTES} bytes"
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError as exc:
        return {}, f"metrics file {shown} is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"metrics file {shown} must hold a JSON object of names to numbers"
    values: dict[str, float] = {}
    _flatten(data, "", values)
    return values, ""


def check(thresholds: Sequence[str], metrics: Mapping[str, float]) -> list[MetricCheck]:
    """Each threshold against the metrics the step reported."""
    checks = []
    for text in thresholds:
        threshold = parse_threshold(text)
        value = metrics.get(threshold.metric)
        checks.append(
            MetricCheck(
                threshold=threshold.text,
                metric=threshold.metric,
                value=value,
                ok=value is not None and threshold.met(value),
            )
        )
    return checks


def number(value: float) -> str:
    """A metric as people write it: 0.82, 12, 1e-05."""
    return f"{value:.6g}"


def missed_message(item: MetricCheck) -> str:
    """Why a threshold failed, with the values: "accuracy 0.82 < 0.9 (required: accuracy >= 0.9)"."""
    threshold = parse_threshold(item.threshold)
    if item.value is None:
        return f"metric {item.metric} was not reported (required: {threshold.text})"
    missed = (
        f"{item.metric} {number(item.value)} {_MISSED[threshold.op]} {number(threshold.target)}"
    )
    return f"{missed} (required: {threshold.text})"


SignatureOf = Callable[[Category, str, str], str]


def metric_failures(
    step: str,
    checks: Sequence[MetricCheck],
    *,
    problem: str,
    shown: str,
    metrics: Mapping[str, float],
    sign: SignatureOf,
) -> list[Failure]:
    """The failures of an experiment step: its metrics file, or each threshold it missed.

    `sign(category, key, message)` makes the signature (triage's, bound to the step).
    """
    excerpt = json.dumps(dict(metrics), indent=1, sort_keys=True)[:1500] if metrics else ""
    if problem:
        return [
            Failure(
                step=step,
                category=Category.METRIC,
                message=problem,
                file=shown,
                rule="metrics-file",
                signature=sign(Category.METRIC, "metrics-file", problem),
            )
        ]
    failures = []
    for item in checks:
        if item.ok:
            continue
        message = missed_message(item)
        failures.append(
            Failure(
                step=step,
                category=Category.METRIC,
                message=message,
                file=shown,
                rule=item.threshold,
                excerpt=f"{shown}:\n{excerpt}" if excerpt else "",
                # The value is in it: the same miss twice in a row is the loop being stuck.
                signature=sign(Category.METRIC, item.threshold, message),
            )
        )
    return failures
