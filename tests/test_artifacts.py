"""The report directory: kept out of git, four files, no secret values in any of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.artifacts import ensure_report_dir, report_dir_for, write_artifacts
from bot.errors import BadInput
from bot.report import load_report
from tests.conftest import MakeRepo, git
from tests.render.reports import healed, stuck

PATCH = "diff --git a/src/calc.py b/src/calc.py\n--- a/src/calc.py\n+++ b/src/calc.py\n"
FILES = ["fix.patch", "report.json", "report.md", "transcript.jsonl"]


def test_default_report_dir_is_in_the_repo_and_ignored_by_git(make_repo: MakeRepo) -> None:
    repo = make_repo({"app.py": "x = 1\n"}, origin=False)
    report_dir = report_dir_for(repo, None)
    assert report_dir == repo / ".selfheal"
    assert not report_dir.exists()  # made when there is something to write, not before
    write_artifacts(report_dir, healed(), PATCH)
    ignore = (report_dir / ".gitignore").read_text()
    assert "*" in ignore.splitlines()
    (report_dir / "prompt-1.md").write_text("prompt")
    assert git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored=no") == ""
    assert git(repo, "check-ignore", ".selfheal/report.json").strip() == ".selfheal/report.json"


def test_chosen_report_dir_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report_dir = report_dir_for(tmp_path / "repo", Path("out/reports"))
    assert report_dir == tmp_path / "out" / "reports"
    assert report_dir.is_absolute()
    assert not report_dir.exists()
    assert ensure_report_dir(report_dir) == report_dir
    assert (report_dir / ".gitignore").is_file()
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("below", ["file.txt/reports", "file.txt"])
def test_a_report_dir_that_cannot_be_made_is_bad_input_naming_it(
    tmp_path: Path, below: str
) -> None:
    (tmp_path / "file.txt").write_text("a regular file\n")
    with pytest.raises(BadInput, match=r"report directory .*file\.txt"):
        report_dir_for(tmp_path / "repo", tmp_path / below)
    with pytest.raises(BadInput, match="cannot be created"):
        ensure_report_dir(tmp_path / "file.txt" / "reports")


def test_chosen_report_dir_absolute_and_existing_gitignore_kept(tmp_path: Path) -> None:
    chosen = tmp_path / "reports"
    chosen.mkdir()
    (chosen / ".gitignore").write_text("mine\n")
    assert report_dir_for(tmp_path / "repo", chosen) == chosen
    write_artifacts(chosen, healed(), PATCH)
    assert (chosen / ".gitignore").read_text() == "mine\n"


def test_write_artifacts_writes_the_four_files(tmp_path: Path) -> None:
    report = healed()
    written = write_artifacts(tmp_path, report, PATCH)
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES
    # The report learns where its files are, keeping what it already knew.
    assert written.artifacts == {
        **report.artifacts,
        **{name: str(tmp_path / name) for name in FILES},
    }
    assert load_report(tmp_path / "report.json") == written
    assert (tmp_path / "fix.patch").read_text() == PATCH
    assert (tmp_path / "transcript.jsonl").read_text() == ""
    assert "selfheal/heal-1" in (tmp_path / "report.md").read_text()


def test_write_artifacts_keeps_an_existing_transcript(tmp_path: Path) -> None:
    (tmp_path / "transcript.jsonl").write_text('{"event": "gate"}\n')
    write_artifacts(tmp_path, stuck(), "")
    assert (tmp_path / "transcript.jsonl").read_text() == '{"event": "gate"}\n'


def test_secret_values_are_redacted_from_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "ghs0123456789abcdefSECRET"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("DEPLOY_PASSWORD", "hunter2-deploy")
    report = stuck().model_copy(
        update={"detail": f"push to https://x:{token}@github.com failed (hunter2-deploy)"}
    )
    patch = f"{PATCH}+TOKEN = '{token}'\n+PW = 'hunter2-deploy'\n"
    write_artifacts(tmp_path, report, patch)
    for name in FILES:
        text = (tmp_path / name).read_text()
        assert token not in text, name
        assert "hunter2-deploy" not in text, name
    assert "+TOKEN = '***'" in (tmp_path / "fix.patch").read_text()
    detail = json.loads((tmp_path / "report.json").read_text())["detail"]
    assert detail == "push to https://x:***@github.com failed (***)"


def test_a_secret_the_markdown_escapes_is_still_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GitHub tokens hold underscores, which report.md escapes as "\_" in prose.
    token = "ghs_0123456789_abcdefSECRET"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    report = stuck().model_copy(update={"detail": f"push with {token} failed"})
    write_artifacts(tmp_path, report, "")
    markdown = (tmp_path / "report.md").read_text()
    assert "abcdefSECRET" not in markdown


def test_a_secret_the_json_escapes_is_still_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = 'pa"ss\\word-123'
    monkeypatch.setenv("DB_PASSWORD", secret)
    report = stuck().model_copy(update={"detail": f"login with {secret} failed"})
    write_artifacts(tmp_path, report, "")
    detail = json.loads((tmp_path / "report.json").read_text())["detail"]
    assert secret not in detail
    assert "word-123" not in (tmp_path / "report.json").read_text()


def test_the_report_says_which_isolation_was_used(tmp_path: Path) -> None:
    from bot import isolation

    written = write_artifacts(tmp_path, healed(), PATCH)
    assert written.isolation == isolation.describe()
    assert written.isolation.startswith("process: ")
    assert load_report(tmp_path / "report.json").isolation == written.isolation
    assert f"Isolation: {written.isolation}" in (tmp_path / "report.md").read_text()
    kept = write_artifacts(tmp_path, healed().model_copy(update={"isolation": "separate user"}), "")
    assert kept.isolation == "separate user"  # what the run recorded is not overwritten
