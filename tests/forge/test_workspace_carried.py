"""Generated, git-ignored modules the project imports are carried from the user's checkout
into the workspace and back after every reset, and are never part of a fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.forge import carried
from bot.forge.git import open_workspace
from tests.cli import heal, load, scripted
from tests.conftest import MakeRepo, git
from tests.forge.states import BOT, tree_state

# A hatch-vcs / setuptools_scm project: the package imports a version file git ignores.
HATCH_VCS = {
    ".gitignore": "src/hello/_version.py\n*.so\n*.pyc\n.venv/\nbuild/\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/hello/__init__.py": "from hello._version import __version__\n",
    "src/hello/greet.py": "def greet(name):\n    return 'hello ' + name\n",
    "tests/test_greet.py": (
        "import hello\nfrom hello.greet import greet\n\n\n"
        "def test_greet():\n    assert greet('you') == 'hello you'\n\n\n"
        "def test_version():\n    assert hello.__version__ == '1.2.3'\n"
    ),
}
VERSION = "__version__ = '1.2.3'\n"


@pytest.fixture(autouse=True)
def _not_on_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy, never an adopted checkout (the temp dir is tests/forge/conftest.py's)."""
    for name in ("GITHUB_ACTIONS", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def hatch_vcs_repo(make_repo: MakeRepo) -> Path:
    repo = make_repo(HATCH_VCS)
    (repo / "src" / "hello" / "_version.py").write_text(VERSION)  # as `pip install -e .` does
    return repo


def pytest_in(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_hatch_vcs_version_file_is_carried_and_the_tests_pass_in_the_workspace(
    make_repo: MakeRepo,
) -> None:
    repo = hatch_vcs_repo(make_repo)
    assert pytest_in(repo, dict(os.environ)).returncode == 0  # the user's checkout is green
    with open_workspace(repo) as ws:
        assert ws.mode == "copy"
        assert ws.carried == ("src/hello/_version.py",)
        assert (ws.path / "src/hello/_version.py").read_text() == VERSION
        done = pytest_in(ws.path, ws.child_env(os.environ))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout
        assert ws.total_diff() == ""
        assert ws.changed_files() == []


def test_without_it_the_workspace_fails_at_import(make_repo: MakeRepo) -> None:
    # The finding of the field trials, kept as the reason for carrying at all.
    repo = make_repo(HATCH_VCS)
    with open_workspace(repo) as ws:
        assert ws.carried == ()
        done = pytest_in(ws.path, ws.child_env(os.environ))
        assert done.returncode != 0
        assert "hello._version" in done.stdout


def test_an_agent_editing_a_carried_file_changes_no_diff_and_no_verification(
    make_repo: MakeRepo,
) -> None:
    repo = hatch_vcs_repo(make_repo)
    with open_workspace(repo) as ws:
        version = ws.path / "src/hello/_version.py"
        fix = ws.path / "src/hello/greet.py"
        fix.write_text("def greet(name):\n    return 'hi ' + name\n")
        # The agent hides a change in the generated file, and un-ignores it.
        version.write_text(VERSION + "import os\n")
        (ws.path / ".gitignore").write_text("*.so\n")
        assert "b/src/hello/_version.py" not in ws.total_diff()
        assert "b/src/hello/_version.py" not in ws.attempt_diff()
        assert {c.path for c in ws.changed_files()} == {"src/hello/greet.py", ".gitignore"}
        sha = ws.commit(BOT, "fix")
        ws.reset_to(sha)
        # The final verification sees the user's own generated file, not the agent's.
        assert version.read_text() == VERSION
        assert "src/hello/_version.py" not in tree_files(ws, sha)
        ws.rollback()  # back to the open's checkpoint: the generated file as the user has it
        assert version.read_text() == VERSION
        # An ignored fix anywhere else is wiped as before; the generated file comes back.
        version.unlink()
        (ws.path / "src/hello/sitecustomize.py").write_text("FIX = 1\n")
        (ws.path / ".gitignore").write_text(HATCH_VCS[".gitignore"] + "sitecustomize.py\n")
        ws.reset_to(ws.base_sha)
        assert version.read_text() == VERSION
        assert not (ws.path / "src/hello/sitecustomize.py").exists()


def tree_files(ws: object, sha: str) -> list[str]:
    git_dir = ws._git.path  # type: ignore[attr-defined]
    return git(Path(git_dir), "ls-tree", "-r", "--name-only", sha).split()


def test_only_importable_files_in_directories_git_does_not_ignore_are_carried(
    make_repo: MakeRepo,
) -> None:
    repo = hatch_vcs_repo(make_repo)
    ext = repo / "src/hello/_speedups.cpython-311-x86_64-linux-gnu.so"
    ext.write_bytes(b"\x7fELF not really")
    ext.chmod(0o755)
    (repo / "src/hello/greet.cpython-311.pyc").write_bytes(b"\0bytecode")  # never: may hide a fix
    for ignored_dir in (".venv/lib", "build/lib/hello"):
        (repo / ignored_dir).mkdir(parents=True)
        (repo / ignored_dir / "mod.py").write_text("X = 1\n")
    # A venv git does not ignore as a whole: nothing under a pyvenv.cfg is carried.
    (repo / ".gitignore").write_text(HATCH_VCS[".gitignore"] + "env2/lib/\nenv2/*.py\n")
    git(repo, "commit", "-qam", "ignore env2")
    (repo / "env2/lib").mkdir(parents=True)
    (repo / "env2/pyvenv.cfg").write_text("home = /usr\n")
    (repo / "env2/activate_this.py").write_text("X = 1\n")
    with open_workspace(repo) as ws:
        assert ws.carried == (
            "src/hello/_speedups.cpython-311-x86_64-linux-gnu.so",
            "src/hello/_version.py",
        )
        copied = ws.path / ext.relative_to(repo)
        assert copied.read_bytes() == ext.read_bytes()
        assert os.access(copied, os.X_OK)
        assert not (ws.path / ".venv").exists()
        assert not (ws.path / "build").exists()
        assert not (ws.path / "env2").exists()


def test_links_and_hard_links_are_never_followed_or_copied(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'outside'\n")
    repo = make_repo(
        {".gitignore": "*.so\n_gen*.py\nlinked/\n", "pkg/__init__.py": "", "pkg/x.py": ""}
    )
    (repo / "pkg/_gen_passwd.py").symlink_to("/etc/passwd")
    (repo / "pkg/_gen_secret.py").symlink_to(secret)
    (repo / "pkg/_gen_inside.py").symlink_to("x.py")
    (repo / "pkg/evil.so").symlink_to(secret)
    os.link(secret, repo / "pkg/_gen_hard.py")
    (repo / "linked").symlink_to(tmp_path)  # an ignored link to a directory outside
    (repo / "pkg/_gen_ok.py").write_text("OK = 1\n")
    before = tree_state(tmp_path / "temp")
    kept = f"selfheal-trees-{os.getuid()}/"
    with open_workspace(repo) as ws:
        assert ws.carried == ("pkg/_gen_ok.py",)
        assert sorted(ws.carried_skipped) == [
            "pkg/_gen_hard.py (a hard link)",
            "pkg/_gen_inside.py (a link)",
            "pkg/_gen_passwd.py (a link)",
            "pkg/_gen_secret.py (a link)",
            "pkg/evil.so (a link)",
        ]
        files = tree_state(ws.path)
        assert "outside" not in repr(files)
        assert not any(name.startswith(("linked", "pkg/_gen_s", "pkg/_gen_p")) for name in files)
        # A link the agent puts at a carried path is replaced, never written through.
        (ws.path / "pkg/_gen_ok.py").unlink()
        (ws.path / "pkg/_gen_ok.py").symlink_to(secret)
        ws.reset_to(ws.base_sha)
        assert (ws.path / "pkg/_gen_ok.py").read_text() == "OK = 1\n"
        assert not (ws.path / "pkg/_gen_ok.py").is_symlink()
        assert secret.read_text() == "TOKEN = 'outside'\n"
        # A committed link where the package directory was: the file is not written through.
        (ws.path / "pkg/__init__.py").unlink()
        (ws.path / "pkg/x.py").unlink()
        (ws.path / "pkg/_gen_ok.py").unlink()
        (ws.path / "pkg").rmdir()
        (ws.path / "pkg").symlink_to(tmp_path)
        ws.reset_to(ws.commit(BOT, "pkg is a link"))
        assert not (tmp_path / "_gen_ok.py").exists()
    left = {k: v for k, v in tree_state(tmp_path / "temp").items() if not k.startswith(kept)}
    assert before == left == {}


def test_the_caps_leave_files_behind_and_say_why(
    make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo({".gitignore": "_gen*.py\n", "a/__init__.py": ""})
    for number, size in enumerate((10, 50, 20, 10, 10), 1):
        (repo / "a" / f"_gen{number}.py").write_text("#" * size)
    monkeypatch.setattr(carried, "MAX_FILE_BYTES", 40)
    monkeypatch.setattr(carried, "MAX_TOTAL_BYTES", 25)
    monkeypatch.setattr(carried, "MAX_FILES", 2)
    with open_workspace(repo) as ws:
        assert ws.carried == ("a/_gen1.py", "a/_gen4.py")
        assert ws.carried_skipped == (
            "a/_gen2.py (over 40 bytes)",
            "a/_gen3.py (over 25 bytes in all)",
            "a/_gen5.py (over the 2 file limit)",
        )


def test_a_file_the_base_tracks_is_the_bases_not_the_checkouts(make_repo: MakeRepo) -> None:
    repo = make_repo({"pkg/_version.py": "OLD = 1\n", "pkg/__init__.py": ""})
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "rm", "-q", "--cached", "pkg/_version.py")
    (repo / ".gitignore").write_text("_version.py\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "generate the version")
    (repo / "pkg/_version.py").write_text("NEW = 2\n")
    with open_workspace(repo, base) as ws:
        assert ws.carried == ()
        assert (ws.path / "pkg/_version.py").read_text() == "OLD = 1\n"
    with open_workspace(repo) as ws:
        assert ws.carried == ("pkg/_version.py",)
        assert (ws.path / "pkg/_version.py").read_text() == "NEW = 2\n"


@pytest.mark.slow
def test_heal_of_a_hatch_vcs_project_is_green_and_proposes_no_generated_file(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo(
        {**HATCH_VCS, "src/hello/greet.py": "def greet(name):\n    return 'hello' + name\n"}
    )
    (repo / "src/hello/_version.py").write_text(VERSION)
    fix = {"path": "src/hello/greet.py", "old": "'hello' + name", "new": "'hello ' + name"}
    agent = scripted(tmp_path, {"summary": "a space after hello", "edits": [fix]})
    done = heal(repo, agent, env={"TMPDIR": str(tmp_path / "temp")})
    assert done.returncode == 0, done.stdout + done.stderr
    report = load(repo)
    assert report["status"] == "healed", report["detail"]
    assert [f["test_id"] for f in report["failures"]] == ["tests/test_greet.py::test_greet"]
    branch = report["proposal"]["branch"]
    assert git(repo, "diff", "--name-only", "main", branch).split() == ["src/hello/greet.py"]
    assert "_version.py" not in (repo / ".selfheal" / "fix.patch").read_text()
    assert (repo / "src/hello/_version.py").read_text() == VERSION
    assert report["workspace"] == (
        "a copy of the checkout (not used in place: not on GitHub Actions); 1 generated "
        "file(s) carried from it: src/hello/_version.py"
    )
    assert (
        "carried from it: src/hello/\\_version.py."
        in (repo / ".selfheal" / "report.md").read_text()
    )
