"""The content guard over real diffs: nested repositories, submodules, binary and oversized
files, modules that shadow another, and test code that does not parse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.guard.content import Files
from tests.conftest import MakeRepo, git
from tests.guard.guarded import guard, refused

BASE = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0"\ndependencies = ["PyYAML>=6", "requests[socks]"]\n',
    "calc/__init__.py": "",
    "calc/ops.py": "def clamp(value, low, high):\n    return max(low, min(value, low))\n",
    "tests/test_ops.py": "from calc.ops import clamp\n\n\ndef test_inside():\n    assert clamp(5, 0, 10) == 5\n",
}


def content(make_repo: MakeRepo, edits: dict[str, str | bytes | None], **kwargs: object) -> str:
    """The content guard's reason; asserts it is the only guard that refused."""
    result = guard(make_repo, BASE, edits, **kwargs)  # type: ignore[arg-type]
    assert refused(result) == ["content"], result
    return result["content"].reason


def test_a_nested_repository_is_refused_as_a_gitlink(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, origin=False)
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    (nested / "x.py").write_text("x = 1\n")
    git(nested, "add", "-A")
    git(nested, "commit", "-q", "-m", "nested")
    from bot.guard.diff import parse_diff
    from bot.guard.policy import check_changes
    from tests.guard.guarded import base_file, staged_diff

    changes = parse_diff(staged_diff(repo))
    assert [(c.path, c.new_mode) for c in changes] == [("vendor/lib", "160000")]
    verdicts = check_changes(
        changes,
        root=repo,
        mode="implement",
        protected=[],
        max_diff_lines=100,
        max_file_bytes=1000,
        allow_spec_changes=False,
        before=base_file(repo),
    )
    (verdict,) = [v for v in verdicts if not v.ok]
    assert verdict.guard == "content"
    assert verdict.file == "vendor/lib"
    assert verdict.reason.startswith("vendor/lib is a nested git repository (a gitlink).")


def test_a_gitmodules_file_is_refused(make_repo: MakeRepo) -> None:
    modules = '[submodule "lib"]\n\tpath = lib\n\turl = https://example.com/lib.git\n'
    assert content(make_repo, {".gitmodules": modules}).startswith(
        ".gitmodules changes the submodules"
    )


BINARIES = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "nul in text": b"x = 1\n\x00\ny = 2\n",
}


@pytest.mark.parametrize("data", BINARIES.values(), ids=BINARIES.keys())
def test_binary_files_are_refused(make_repo: MakeRepo, data: bytes) -> None:
    assert "calc/blob.bin is a binary file" in content(make_repo, {"calc/blob.bin": data})


def test_a_binary_over_the_limit_is_refused_though_its_diff_has_no_lines(
    make_repo: MakeRepo,
) -> None:
    big = os.urandom(2_000_000)
    reason = content(make_repo, {"assets/model.bin": big})
    assert "assets/model.bin is 2000000 bytes, over the limit of 1000000" in reason


def test_a_text_file_over_the_configured_limit_is_refused(make_repo: MakeRepo) -> None:
    text = "x = 1\n" * 100
    reason = content(make_repo, {"calc/data.py": text}, max_file_bytes=500)
    assert "calc/data.py is 600 bytes, over the limit of 500" in reason
    assert "nothing over 500 bytes" in reason
    assert refused(guard(make_repo, BASE, {"calc/data.py": text}, max_file_bytes=600)) == []


SHADOWS = {
    "pytest at the top": ("pytest.py", "the module `pytest` the gate itself imports"),
    "pytest package": ("pytest/__init__.py", "the module `pytest` the gate itself imports"),
    "_pytest in a test dir": ("tests/_pytest.py", "the module `_pytest`"),
    "pluggy": ("pluggy.py", "the module `pluggy`"),
    "sitecustomize": ("sitecustomize.py", "the module `sitecustomize`"),
    "usercustomize in src": ("src/usercustomize.py", "the module `usercustomize`"),
    "stdlib json": ("json.py", "the standard library's `json`"),
    "stdlib in tests": ("tests/unittest.py", "the standard library's `unittest`"),
    "dependency": ("yaml/__init__.py", "the dependency"),
    "dependency by its project name": ("pyyaml.py", "the dependency `pyyaml`"),
    "conftest package": ("conftest/__init__.py", "pytest's `conftest` modules"),
    "pth file": ("calc/evil.pth", "a .pth file, which Python runs at start-up"),
}


@pytest.mark.parametrize(("path", "words"), SHADOWS.values(), ids=SHADOWS.keys())
def test_new_modules_that_shadow_another_are_refused(
    make_repo: MakeRepo, path: str, words: str
) -> None:
    for mode in ("heal", "implement"):
        reason = content(make_repo, {path: "x = 1\n"}, mode=mode)
        assert f"{path} is new and would be imported instead of {words}" in reason


NOT_SHADOWS = {
    "in a package": "calc/json.py",
    "in a nested package": "calc/sub/__init__.py",
    "ordinary module": "helpers.py",
    "new test module": "tests/test_json_io.py",
}


@pytest.mark.parametrize("path", NOT_SHADOWS.values(), ids=NOT_SHADOWS.keys())
def test_ordinary_new_modules_pass(make_repo: MakeRepo, path: str) -> None:
    assert refused(guard(make_repo, BASE, {path: "x = 1\n"}, mode="implement")) == []


def test_a_module_added_to_a_package_named_like_the_stdlib_passes(make_repo: MakeRepo) -> None:
    base = {**BASE, "test/__init__.py": "", "test/test_a.py": "def test_a():\n    assert 1 + 1\n"}
    result = guard(make_repo, base, {"test/test_b.py": "def test_b():\n    assert 2 > 1 + 0\n"})
    assert refused(result) == []


UNPARSEABLE = {
    "syntax error": "def test_inside(:\n    pass\n",
    "bad encoding": b"# -*- coding: utf-8 -*-\nx = '\xff\xfe'\n",
}


@pytest.mark.parametrize("broken", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_test_code_that_does_not_parse_is_refused(make_repo: MakeRepo, broken: str | bytes) -> None:
    result = guard(make_repo, BASE, {"tests/test_ops.py": broken})
    verdict = result["content"]
    assert not verdict.ok
    assert "tests/test_ops.py does not parse (" in verdict.reason
    assert "so its tests cannot be checked" in verdict.reason


def test_a_test_file_whose_base_did_not_parse_is_not_compared(make_repo: MakeRepo) -> None:
    base = {**BASE, "tests/test_ops.py": "def test_inside(:\n    pass\n"}
    fixed = {"tests/test_ops.py": "def test_inside():\n    pass\n"}
    result = guard(make_repo, base, fixed)
    assert refused(result) == []
    assert "not compared, its base version does not parse either" in result["test-changes"].reason


def test_files_reads_without_following_links_or_leaving_the_root(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("hello")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret")
    os.symlink("a.txt", root / "link")
    os.symlink("../outside", root / "out")
    (root / "dir").mkdir()
    files = Files(root, lambda _: None, limit=3)
    assert files.after("a.txt").size == 5 and files.after("a.txt").data is None  # over the limit
    assert Files(root, lambda _: None, limit=10).after("a.txt").data == b"hello"
    assert files.after("link").regular is False and files.after("link").exists
    assert files.after("out/secret.txt").data is None
    assert files.after("dir").regular is False
    assert files.after("missing.txt").exists is False


def test_test_code_nested_too_deeply_is_refused_in_one_line(make_repo: MakeRepo) -> None:
    deep = "def test_inside():\n    assert clamp" + ".b" * 2000 + "\n"
    verdict = guard(make_repo, BASE, {"tests/test_ops.py": deep})["content"]
    assert not verdict.ok
    assert "tests/test_ops.py is nested too deeply for its tests to be checked" in verdict.reason
