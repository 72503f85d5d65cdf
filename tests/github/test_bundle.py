"""The proposal bundle is read as hostile input: strict, capped, consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import BadInput
from bot.github.bundle import MAX_PATCH_BYTES, BundleMeta, read_bundle, write_meta
from tests.render.reports import healed

SHA = "a" * 40


def _bundle(tmp_path: Path, **meta: object) -> Path:
    write_meta(tmp_path, BundleMeta(job="heal", repository="o/r", sha=SHA, into="main", **meta))
    (tmp_path / "report.json").write_text(healed().model_dump_json())
    (tmp_path / "fix.patch").write_text("diff --git a/x b/x\n")
    return tmp_path


def test_round_trip(tmp_path: Path) -> None:
    meta, report, patch = read_bundle(_bundle(tmp_path, thread=2))
    assert (meta.sha, meta.into, meta.thread) == (SHA, "main", 2)
    assert report.status == healed().status
    assert patch == "diff --git a/x b/x\n"


@pytest.mark.parametrize(
    ("file", "content", "said"),
    [
        ("bundle.json", '{"job": "heal"}', "malformed"),
        (
            "bundle.json",
            '{"job": "rm -rf", "repository": "o/r", "sha": "' + SHA + '", "into": "m"}',
            "job",
        ),
        ("bundle.json", "not json", "malformed"),
        ("report.json", '{"status": "healed"}', "malformed"),
        ("fix.patch", "x" * (MAX_PATCH_BYTES + 1), "over"),
    ],
)
def test_bad_bundles_are_refused_clearly(
    tmp_path: Path, file: str, content: str, said: str
) -> None:
    _bundle(tmp_path)
    (tmp_path / file).write_text(content)
    with pytest.raises(BadInput, match=said):
        read_bundle(tmp_path)


def test_report_for_another_commit_is_refused(tmp_path: Path) -> None:
    _bundle(tmp_path)
    (tmp_path / "report.json").write_text(
        healed().model_copy(update={"base_sha": "b" * 40}).model_dump_json()
    )
    with pytest.raises(BadInput, match="refused"):
        read_bundle(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such directory"):
        read_bundle(tmp_path / "nope")
