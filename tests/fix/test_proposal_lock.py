"""The branch lock lives in this user's private directory: a planted link is not followed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from bot.errors import ProposalError
from bot.fix.proposal import _lock_branch


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_two_runs_take_turns_on_one_file(temp_root: Path) -> None:
    first = _lock_branch("url", "selfheal/x")
    os.close(first)
    second = _lock_branch("url", "selfheal/x")
    os.close(second)
    home = temp_root / f"selfheal-locks-{os.getuid()}"
    assert len(list(home.iterdir())) == 1
    assert home.stat().st_mode & 0o777 == 0o700


def test_a_shared_lock_directory_is_not_used(temp_root: Path) -> None:
    home = temp_root / f"selfheal-locks-{os.getuid()}"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    with pytest.raises(ProposalError, match="not a private directory"):
        _lock_branch("url", "selfheal/x")


def test_a_planted_link_is_not_followed(temp_root: Path) -> None:
    os.close(_lock_branch("url", "selfheal/x"))
    home = temp_root / f"selfheal-locks-{os.getuid()}"
    (lock,) = home.iterdir()
    lock.unlink()
    target = temp_root / "victim"
    lock.symlink_to(target)
    with pytest.raises(ProposalError, match="cannot open the branch lock"):
        _lock_branch("url", "selfheal/x")
    assert not target.exists()
