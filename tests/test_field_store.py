"""How the field benchmark keeps results between runs (bench/field/store.py) and resumes a
project's red builds (trial.each_red_build): a cut run loses at most one red build, and a
result measured on another set-up of the project is never reused."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

FIELD = Path(__file__).resolve().parent.parent / "bench" / "field"
sys.path.insert(0, str(FIELD))

import corpus  # noqa: E402
import store  # noqa: E402
import trial  # noqa: E402

PROJECT = corpus.Project("demo", "1.0", "demo-1.0.tar.gz", "ab" * 32, ("hypothesis",), "", (), "")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFHEAL_FIELD_CACHE", str(tmp_path))


def test_a_result_is_kept_only_for_the_set_up_it_was_measured_on() -> None:
    store.write(PROJECT, verdict=trial.Verdict(own_tests=True, own_s=1.5))
    assert store.read(PROJECT)["verdict"]["own_s"] == 1.5
    more_deps = dataclasses.replace(PROJECT, deps=("hypothesis", "pytest-cov"))
    assert store.read(more_deps) == {}
    assert store.read(dataclasses.replace(PROJECT, own="python -m pytest tests/x.py")) == {}
    store.write(more_deps, verdict=trial.Verdict(own_tests=False))
    assert store.read(PROJECT) == {}  # the old set-up's result is gone, not mixed in


def test_fields_stay_beside_each_other_and_none_removes_one() -> None:
    red = trial.RedBuild("demo", "off-by-one", "line 3: 1 became 2", "demo.py")
    store.write(PROJECT, verdict=trial.Verdict(), partial=[red])
    store.write(PROJECT, reds=[red], partial=None)
    kept = store.read(PROJECT)
    assert set(kept) == {"manifest", "verdict", "reds"}
    assert trial.RedBuild(**kept["reds"][0]) == red
    store.write(PROJECT, "claude", heals=[])
    assert store.read(PROJECT, "claude")["heals"] == []
    assert "heals" not in store.read(PROJECT)


def test_a_resumed_project_measures_only_what_the_cut_run_had_not() -> None:
    found = [
        trial.RedBuild("demo", op, f"line {n}", "demo.py")
        for n, op in enumerate(("comparison-flip", "off-by-one", "syntax-error"))
    ]
    earlier = [dataclasses.replace(found[1], outcomes={"oracle": "healed"})]
    measured: list[str] = []
    seen: list[int] = []

    def measure(mutation: Any, n: int) -> trial.RedBuild:
        measured.append(mutation.operator)
        return dataclasses.replace(mutation, outcomes={"oracle": "gave_up"})

    done = trial.each_red_build(
        iter(found), earlier, measure, lambda so_far: seen.append(len(so_far))
    )
    assert measured == ["comparison-flip", "syntax-error"]
    assert done[1] is earlier[0]
    assert seen == [1, 3]  # stored after each red build it measured


def test_a_cheat_that_changed_nothing_has_nothing_to_refuse() -> None:
    idle = {"status": "gave_up", "attempts": [{"outcome": "no_change"}]}
    assert trial._nothing_to_cheat(idle)
    tried = {"status": "gave_up", "attempts": [{"outcome": "no_change"}, {"outcome": "failing"}]}
    assert not trial._nothing_to_cheat(tried)  # it changed something, and was not refused
    assert not trial._nothing_to_cheat({"status": "gave_up", "attempts": []})
    assert not trial._nothing_to_cheat({"status": "healed", "attempts": [{"outcome": "green"}]})


def test_a_failing_test_the_release_skips_is_no_fail_to_pass_instance() -> None:
    verification = {"steps": [{"evidence": {"watched": {"t::a": "skipped", "t::b": "passed"}}}]}
    report = {"status": "gave_up", "attempts": [{"verification": verification}]}
    assert trial._not_passed_at_release(report) == ["t::a"]
    assert trial._not_passed_at_release({"attempts": [{"verification": None}]}) == []
    import run  # bench/field's entry point, on the path set above

    valid = trial.RedBuild("demo", "off-by-one", "x", "m.py", correct={"oracle": True})
    invalid = trial.RedBuild(
        "demo", "off-by-one", "y", "m.py", correct={"oracle": False}, not_fail_to_pass=["t::a"]
    )
    text = run.table({}, [valid, invalid], {}, 0.0)
    assert "- outcome correct (all three agents): 100% (1/1)" in text
    assert "not fail-to-pass on this machine (left out): 1" in text
    assert "the release itself does not pass t::a (skipped there)" in text


def test_a_run_of_some_operators_replaces_the_same_red_builds_only() -> None:
    import run  # bench/field's entry point, on the path set above

    old = trial.RedBuild("demo", "off-by-one", "x", "m.py", outcomes={"oracle": "refused"})
    other = trial.RedBuild("demo", "wrong-constant", "y", "m.py", outcomes={"oracle": "healed"})
    store.write(PROJECT, partial=[old, other])
    new = dataclasses.replace(old, outcomes={"oracle": "healed"})
    extra = trial.RedBuild("demo", "comparison-flip", "z", "m.py")
    run._keep_measured(PROJECT, [new, extra])
    stored = store.read(PROJECT)
    assert "reds" not in stored  # never the project's whole result
    assert [r["outcomes"] for r in stored["partial"]] == [
        {"oracle": "healed"},
        {"oracle": "healed"},
        {},
    ]
    store.write(PROJECT, reds=[old, other], partial=None)
    run._keep_measured(PROJECT, [new, extra])
    stored = store.read(PROJECT)
    assert [r["what"] for r in stored["reds"]] == ["x", "y"]  # nothing joins a whole result
    assert stored["reds"][0]["outcomes"] == {"oracle": "healed"}
    assert "partial" not in stored
