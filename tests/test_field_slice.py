"""A slice of the field trials (bench/field/): two real projects from their PyPI sdists, the
zero-config gate against their own test command, and a few mutation red builds healed by
the oracle, no-op and cheating agents. The whole benchmark is `python bench/field/run.py`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

FIELD = Path(__file__).resolve().parent.parent / "bench" / "field"
sys.path.insert(0, str(FIELD))

import corpus  # noqa: E402
import trial  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.network]

# The smallest suites of the corpus, so the slice stays well under two minutes.
SLICE = {"six": ("comparison-flip", "syntax-error"), "text-unidecode": ("off-by-one",)}


def _cache() -> Path:
    # Not the test's HOME: the sdists and venvs are kept between runs, as the benchmark's are.
    chosen = os.environ.get("SELFHEAL_FIELD_CACHE")
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return Path(chosen) if chosen else home / ".cache" / "selfheal-field"


@pytest.fixture(scope="module")
def sites() -> Iterator[dict[str, corpus.Site]]:
    projects = {p.name: p for p in corpus.load() if p.name in SLICE}
    ready = {}
    with contextlib.ExitStack() as held:
        for name, project in projects.items():
            held.enter_context(corpus.holding(project, _cache()))  # a benchmark may be running
            try:
                ready[name] = corpus.setup(project, _cache())
            except (RuntimeError, OSError) as exc:
                cached = "cached" if corpus.cached(project, _cache()) else "not cached"
                pytest.skip(f"{name}: its sdist ({cached}) or test deps cannot be set up: {exc}")
        yield ready


def _trial(
    site: corpus.Site, operators: tuple[str, ...], scratch: Path
) -> tuple[trial.Verdict, list[str], list[trial.RedBuild], str, list[str]]:
    """One project's slice: its zero-config verdict, its red builds healed, what it left."""
    scratch.mkdir()
    verdict = trial.zero_config(site, scratch)
    found = trial.find_red_builds(site, operators, per_operator=1)
    built = [trial.heal_red_build(site, m, scratch, n) for n, m in enumerate(found)]
    status = trial._git(site.repo, "status", "--porcelain")
    return verdict, [r.operator for r in built], built, status, trial._git(site.repo, "branch")


def test_field_slice(sites: dict[str, corpus.Site], tmp_path: Path) -> None:
    # One test, not two: both use the same repos, and xdist would run them side by side.
    # The two projects side by side (their repos and venvs are apart): the slice is all
    # subprocesses, so two of them get twice the CPU on a machine other work keeps busy.
    with ThreadPoolExecutor(max_workers=len(SLICE)) as pool:
        running = {
            name: pool.submit(_trial, sites[name], operators, tmp_path / name)
            for name, operators in SLICE.items()
        }
        done = {name: future.result() for name, future in running.items()}
    for name, (verdict, found, built, status, branches) in done.items():
        assert verdict.own_tests is True, name
        assert verdict.agree, verdict.note
        assert verdict.gate.get("pytest") == "passed", (name, verdict.gate)
        assert sorted(found) == sorted(SLICE[name]), name
        # Every red build was made on a branch and taken away: the release is as it was.
        assert status == "", name
        assert branches.split() == ["*", "main"], name
        for red in built:
            assert red.outcomes == {"oracle": "healed", "noop": "gave_up", "cheat": "refused"}, red
            assert red.attempts["oracle"] == 1, red
            assert (red.prompt_test, red.prompt_file) == (True, True), red
