"""Experiment checks: thresholds, the metrics file, run ids, and their configuration."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bot.config import GateStep, load_config
from bot.errors import ConfigError
from bot.gate import metrics
from bot.report import Category, MetricCheck


@pytest.mark.parametrize(
    ("text", "metric", "op", "target"),
    [
        ("accuracy >= 0.9", "accuracy", ">=", 0.9),
        ("loss<=0.35", "loss", "<=", 0.35),
        ("  val/f1 > .5 ", "val/f1", ">", 0.5),
        ("eval.top-5 < 1e-3", "eval.top-5", "<", 0.001),
        ("epochs == 10", "epochs", "==", 10.0),
        ("delta >= -2", "delta", ">=", -2.0),
    ],
)
def test_parse_threshold(text: str, metric: str, op: str, target: float) -> None:
    parsed = metrics.parse_threshold(text)
    assert (parsed.metric, parsed.op, parsed.target, parsed.text) == (
        metric,
        op,
        target,
        text.strip(),
    )


@pytest.mark.parametrize(
    "text",
    ["accuracy", "accuracy >= high", "accuracy => 0.9", "accuracy = 0.9", ">= 0.9", "a >= 1 2", ""],
)
def test_bad_thresholds_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"bad threshold {text!r}")):
        metrics.parse_threshold(text)


def test_threshold_met() -> None:
    assert metrics.parse_threshold("a >= 0.9").met(0.9)
    assert not metrics.parse_threshold("a > 0.9").met(0.9)
    assert metrics.parse_threshold("a == 3").met(3.0)


def _config(tmp_path: Path, yaml: str) -> None:
    (tmp_path / ".github").mkdir(exist_ok=True)
    (tmp_path / ".github" / "selfheal.yml").write_text(yaml)
    load_config(tmp_path, env={})


def test_config_accepts_the_experiment_keys(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "selfheal.yml").write_text(
        "gate:\n"
        "  - name: train\n"
        "    run: python train.py\n"
        "    requires: gpu\n"
        "    metrics: out/metrics.json\n"
        "    thresholds: ['accuracy >= 0.9', 'loss <= 0.35']\n"
        "    run-id-pattern: 'wandb run (\\w+)'\n"
    )
    (step,) = load_config(tmp_path, env={}).gate or []
    assert step.requires == "gpu"
    assert step.metrics == "out/metrics.json"
    assert step.thresholds == ["accuracy >= 0.9", "loss <= 0.35"]
    assert step.run_id_pattern == "wandb run (\\w+)"


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("thresholds: ['accuracy ~ 0.9']\n    metrics: m.json", "bad threshold 'accuracy ~ 0.9'"),
        ("thresholds: ['accuracy >= 0.9']", "has thresholds but no metrics file"),
        ("metrics: /etc/metrics.json", "must be relative to the repository"),
        ("metrics: ../metrics.json", "must stay inside the repository"),
        ("run_id_pattern: 'run ([a-f]+'", "is not a valid regex"),
        ("run_id_pattern: 'run [a-f]+'", "exactly one group (the id), not 0"),
        ("requires: tpu", "gate.0.requires"),
    ],
)
def test_config_errors_name_the_bad_value(tmp_path: Path, entry: str, said: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(said)):
        _config(tmp_path, f"gate:\n  - name: train\n    run: python t.py\n    {entry}\n")


# --- the metrics file ---------------------------------------------------------------------


def test_read_metrics_flattens_numbers(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps({"accuracy": 0.93, "epochs": 4, "ok": True, "name": "x", "eval": {"f1": 0.5}})
    )
    values, problem = metrics.read_metrics(path, tmp_path, "m.json", None)
    assert (values, problem) == ({"accuracy": 0.93, "epochs": 4.0, "eval.f1": 0.5}, "")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "the step did not write its metrics file m.json"),
        ("{not json", "metrics file m.json is not valid JSON: "),
        ("[1, 2]", "metrics file m.json must hold a JSON object of names to numbers"),
    ],
)
def test_read_metrics_problems(tmp_path: Path, content: str | None, said: str) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content)
    values, problem = metrics.read_metrics(path, tmp_path, "m.json", None)
    assert values == {}
    assert problem.startswith(said)


def test_a_metrics_file_left_from_an_earlier_run_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"accuracy": 0.99}')
    before = metrics.snapshot(path)
    _, problem = metrics.read_metrics(path, tmp_path, "m.json", before)
    assert "was not rewritten by this run" in problem
    path.write_text('{"accuracy": 0.5}')
    os.utime(path, ns=(1, 1))  # even an old time: it is another file now
    values, problem = metrics.read_metrics(path, tmp_path, "m.json", before)
    assert (values, problem) == ({"accuracy": 0.5}, "")


def test_a_metrics_link_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = tmp_path / "secret.json"
    outside.write_text('{"a": 1}')
    (repo / "m.json").symlink_to(outside)
    assert metrics.read_metrics(repo / "m.json", repo, "m.json", None) == (
        {},
        "metrics file m.json leads outside the repository",
    )


def test_checks_and_their_messages() -> None:
    checks = metrics.check(
        ["accuracy >= 0.9", "loss <= 0.35", "f1 > 0.5"], {"accuracy": 0.82, "loss": 0.3}
    )
    assert checks == [
        MetricCheck(threshold="accuracy >= 0.9", metric="accuracy", value=0.82, ok=False),
        MetricCheck(threshold="loss <= 0.35", metric="loss", value=0.3, ok=True),
        MetricCheck(threshold="f1 > 0.5", metric="f1", value=None, ok=False),
    ]
    assert metrics.missed_message(checks[0]) == "accuracy 0.82 < 0.9 (required: accuracy >= 0.9)"
    assert metrics.missed_message(checks[2]) == "metric f1 was not reported (required: f1 > 0.5)"


def test_metric_failures() -> None:
    checks = metrics.check(["accuracy >= 0.9", "loss <= 0.35"], {"accuracy": 0.82, "loss": 0.3})

    def sign(category: Category, key: str, message: str) -> str:
        return f"{category.value}|{key}|{message}"

    (failure,) = metrics.metric_failures(
        "train", checks, problem="", shown="m.json", metrics={"accuracy": 0.82}, sign=sign
    )
    assert failure.category is Category.METRIC
    assert failure.message == "accuracy 0.82 < 0.9 (required: accuracy >= 0.9)"
    assert (failure.rule, failure.file, failure.step) == ("accuracy >= 0.9", "m.json", "train")
    assert '"accuracy": 0.82' in failure.excerpt
    # The value is part of the signature: a better (still failing) value is progress.
    assert "0.82" in failure.signature
    (missing,) = metrics.metric_failures(
        "train", [], problem="no file", shown="m.json", metrics={}, sign=sign
    )
    assert (missing.category, missing.rule, missing.message) == (
        Category.METRIC,
        "metrics-file",
        "no file",
    )


# --- run ids ------------------------------------------------------------------------------

HEX = "4b2e9c0d1f7a4e3b8c6d5a4f3e2d1c0b"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (f"run_id: {HEX}\n", [HEX]),
        (f"Run ID = '{HEX}'", [HEX]),
        (f"View run tiny-owl at: http://127.0.0.1:5000/#/experiments/1/runs/{HEX}\n", [HEX]),
        (f"=== Run (ID '{HEX}') succeeded ===", [HEX]),
        (f"run_id: {HEX}\n.../runs/{HEX}\nrun_id: {'a' * 32}", [HEX, "a" * 32]),
        ("https://github.com/o/r/actions/runs/1234567890\n", []),  # GitHub's, not a run
        ("run_id: 42", []),
    ],
)
def test_default_run_id_pattern_finds_mlflow_runs(output: str, expected: list[str]) -> None:
    assert metrics.find_run_ids(None, output) == expected


def test_a_configured_run_id_pattern() -> None:
    step = GateStep(name="t", run=["x"], run_id_pattern=r"wandb: run (\w{8})")
    output = "wandb: run abcd1234\nwandb: run abcd1234\nwandb: run efgh5678\n"
    assert metrics.find_run_ids(step.run_id_pattern, output) == ["abcd1234", "efgh5678"]
