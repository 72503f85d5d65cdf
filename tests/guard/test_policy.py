"""Each diff guard refusing what it should, and an ordinary fix passing them all."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.guard.diff import ChangedFile, Status, parse_diff
from bot.guard.policy import GUARDS, check_changes, refusal_summary, shannon_entropy
from bot.report import GuardVerdict
from tests.conftest import MakeRepo, git

PROTECTED = [".github/**"]


def change(
    path: str,
    added: tuple[str, ...] = (),
    removed: tuple[str, ...] = (),
    status: Status = "modified",
    old_path: str | None = None,
    new_mode: str | None = "100644",
) -> ChangedFile:
    return ChangedFile(
        path=path,
        old_path=old_path,
        status=status,
        old_mode=None if status == "added" else "100644",
        new_mode=None if status == "deleted" else new_mode,
        binary=False,
        added=added,
        removed=removed,
    )


def verdicts(
    changes: list[ChangedFile],
    root: Path,
    mode: str = "heal",
    protected: list[str] | None = None,
    max_diff_lines: int = 500,
) -> dict[str, GuardVerdict]:
    result = check_changes(
        changes,
        root=root,
        mode=mode,  # type: ignore[arg-type]
        protected=PROTECTED if protected is None else protected,
        max_diff_lines=max_diff_lines,
    )
    assert [v.guard for v in result] == list(GUARDS)  # one verdict per guard, always
    return {v.guard: v for v in result}


def failed(changes: list[ChangedFile], root: Path, **kwargs: object) -> list[str]:
    return [g for g, v in verdicts(changes, root, **kwargs).items() if not v.ok]  # type: ignore[arg-type]


def test_an_ordinary_fix_passes_every_guard(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "pkg/calc.py": "def add(a, b):\n    return a - b\n",
            "tests/helpers.py": "def make(n):\n    return list(range(n))\n",
            "tests/test_calc.py": (
                "import pytest\n\nfrom pkg.calc import add\n\n\n"
                "def test_add():\n    assert add(1, 2) == 4\n\n\n"
                "@pytest.mark.skip(reason='slow')\ndef test_slow():\n    assert add(0, 0) == 0\n"
            ),
        },
        origin=False,
    )
    (repo / "pkg" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "tests" / "helpers.py").write_text(
        "def make(n, start=0):\n    return list(range(start, n))\n"
    )
    (repo / "tests" / "test_calc.py").write_text(
        "import pytest\n\nfrom pkg.calc import add\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_add_negative():\n    assert add(-1, -2) == -3\n\n\n"
        "@pytest.mark.skip(reason='slow, see #12')\ndef test_slow():\n    assert add(0, 0) == 0\n"
    )
    git(repo, "add", "-A")
    diff = git(repo, "diff", "--cached", "--binary", "-M", "HEAD")
    result = verdicts(parse_diff(diff), repo)
    assert all(v.ok for v in result.values()), refusal_summary(list(result.values()))
    assert refusal_summary(list(result.values())) == ""


# --- protected paths ---------------------------------------------------------------------


def test_protected_path_is_refused_naming_the_file(tmp_path: Path) -> None:
    result = verdicts(
        [change(".github/workflows/ci.yml", ("run: true",), ("run: pytest",))], tmp_path
    )
    verdict = result["protected-path"]
    assert not verdict.ok
    assert verdict.file == ".github/workflows/ci.yml"
    assert verdict.reason == (
        ".github/workflows/ci.yml is a protected path. Leave protected paths (.github/**) "
        "exactly as they are and fix the problem elsewhere."
    )


def test_moving_a_file_out_of_a_protected_path_is_refused(tmp_path: Path) -> None:
    moved = change("ci.yml", status="renamed", old_path=".github/workflows/ci.yml")
    assert failed([moved], tmp_path) == ["protected-path"]


def test_protected_patterns_are_gitignore_style(tmp_path: Path) -> None:
    patterns = ["/secrets/", "*.pem", "!public.pem"]
    assert failed([change("secrets/db.txt", ("x",))], tmp_path, protected=patterns) == [
        "protected-path"
    ]
    assert failed([change("keys/server.pem", ("x",))], tmp_path, protected=patterns) == [
        "protected-path"
    ]
    assert failed([change("src/secrets/db.txt", ("x",))], tmp_path, protected=patterns) == []
    assert failed([change("public.pem", ("x",))], tmp_path, protected=patterns) == []
    assert failed([change(".github/x.yml", ("x",))], tmp_path, protected=[]) == []


# --- test weakening ----------------------------------------------------------------------

WEAKENINGS = {
    "deleted test file": (
        [change("tests/test_calc.py", (), ("def test_add():",), status="deleted")],
        "deletes the test file tests/test_calc.py",
    ),
    "deleted test function": (
        [change("tests/test_calc.py", (), ("def test_add():", "    assert add(1, 2) == 3"))],
        "removes or renames test_add in tests/test_calc.py",
    ),
    "test function renamed out of collection": (
        [change("tests/test_calc.py", ("def _test_add():",), ("def test_add():",))],
        "removes or renames test_add",
    ),
    "test class renamed out of collection": (
        [change("test_calc.py", ("class CalcChecks:",), ("class TestCalc:",))],
        "removes or renames TestCalc",
    ),
    "async test deleted": (
        [change("tests/test_io.py", (), ("async def test_read():",))],
        "removes or renames test_read",
    ),
    "assert removed": (
        [change("tests/test_calc.py", ("    add(1, 2)",), ("    assert add(1, 2) == 3",))],
        "removes 1 assertion(s) from tests/test_calc.py",
    ),
    "unittest assert removed": (
        [change("tests/test_calc.py", (), ("        self.assertEqual(add(1, 2), 3)",))],
        "removes 1 assertion(s)",
    ),
    "assert made tautological": (
        [change("tests/test_calc.py", ("    assert True",), ("    assert add(1, 2) == 3",))],
        "cannot fail",
    ),
    "assert removed from a helper": (
        [change("tests/helpers.py", (), ("    assert result.ok",))],
        "removes 1 assertion(s) from tests/helpers.py",
    ),
    "test file renamed out of collection": (
        [change("tests/calc_checks.py", status="renamed", old_path="tests/test_calc.py")],
        "renames tests/test_calc.py to tests/calc_checks.py, so pytest no longer collects it",
    ),
    "pyproject deselect": (
        [change("pyproject.toml", ('addopts = "--deselect tests/test_calc.py::test_add"',))],
        "adds a skip, xfail or deselection in pyproject.toml",
    ),
    "noqa added": (
        [change("pkg/calc.py", ("import os  # noqa: F401",), ("import os",))],
        "adds a `# noqa` or `# type: ignore` comment in pkg/calc.py",
    ),
    "type ignore added": (
        [change("pkg/calc.py", ("    return a + b  # type: ignore[operator]",))],
        "`# type: ignore`",
    ),
    "file-level ruff noqa": ([change("pkg/calc.py", ("# ruff: noqa",))], "`# noqa`"),
}
SKIPS = [
    "@pytest.mark.skip",
    "@pytest.mark.skip(reason='later')",
    "@pytest.mark.skipif(sys.platform == 'linux', reason='x')",
    "@pytest.mark.xfail",
    "    pytest.skip('broken')",
    "    pytest.xfail('broken')",
    "@unittest.skip('broken')",
    "@unittest.expectedFailure",
    "@skip('broken')",
    "np = pytest.importorskip('numpy')",
    "        self.skipTest('broken')",
    "pytestmark = pytest.mark.skip",
    "collect_ignore = ['test_calc.py']",
]


@pytest.mark.parametrize(("changes", "words"), WEAKENINGS.values(), ids=WEAKENINGS.keys())
def test_weakening_is_refused_in_heal_mode_only(
    tmp_path: Path, changes: list[ChangedFile], words: str
) -> None:
    verdict = verdicts(changes, tmp_path)["test-weakening"]
    assert not verdict.ok
    assert words in verdict.reason
    assert "fix the code under test instead" in verdict.reason
    assert verdict.file == changes[0].path
    assert failed(changes, tmp_path, mode="implement") == []


@pytest.mark.parametrize("line", SKIPS)
def test_new_skips_and_xfails_are_refused(tmp_path: Path, line: str) -> None:
    added = change("tests/test_calc.py", (line, "def test_add():"), ("def test_add():",))
    verdict = verdicts([added], tmp_path)["test-weakening"]
    assert not verdict.ok
    assert "adds a skip, xfail or deselection in tests/test_calc.py" in verdict.reason


NOT_WEAKENING = {
    "assert expected value changed": change(
        "tests/test_calc.py", ("    assert add(1, 2) == 3",), ("    assert add(1, 2) == 4",)
    ),
    "helper edited": change("tests/helpers.py", ("def make(n, start=0):",), ("def make(n):",)),
    "skip moved": change(
        "tests/test_calc.py",
        ("@pytest.mark.skip(reason='slow, see #12')",),
        ("@pytest.mark.skip(reason='slow')",),
    ),
    "skip removed": change("tests/test_calc.py", (), ("@pytest.mark.xfail",)),
    "test renamed to another test": change(
        "tests/test_calc.py", ("def test_add_small():",), ("def test_add():",)
    ),
    "test added": change("tests/test_calc.py", ("def test_more():", "    assert add(2, 2) == 4")),
    "noqa line edited": change("pkg/calc.py", ("x = 2  # noqa: E501",), ("x = 1  # noqa: E501",)),
    "noqa removed": change("pkg/calc.py", ("import os",), ("import os  # noqa",)),
    "assert removed from library code": change(
        "pkg/calc.py", (), ("    assert isinstance(a, int)",)
    ),
    "test file renamed to another test file": change(
        "tests/test_arith.py", status="renamed", old_path="tests/test_calc.py"
    ),
    "non-test file deleted": change("tests/data.json", (), ("{}",), status="deleted"),
    "skip word in prose": change("README.md", ("We skip nothing: pytest.mark.skip is banned.",)),
}


@pytest.mark.parametrize("ordinary", NOT_WEAKENING.values(), ids=NOT_WEAKENING.keys())
def test_ordinary_test_edits_are_not_weakening(tmp_path: Path, ordinary: ChangedFile) -> None:
    assert failed([ordinary], tmp_path) == []


def test_implement_mode_says_it_did_not_check(tmp_path: Path) -> None:
    verdict = verdicts([change("tests/test_calc.py", status="deleted")], tmp_path, mode="implement")
    assert verdict["test-weakening"].ok
    assert "not checked" in verdict["test-weakening"].reason


# --- secrets -----------------------------------------------------------------------------

# Built from pieces so no scanner mistakes this file for a leak.
FAKE = {
    "github classic": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A",
    "github oauth": "gho_" + "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa",
    "github fine-grained": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "aws session": "ASIA" + "Z2X3C4V5B6N7M8L9",
    "anthropic": "sk-ant-" + "api03-Xq7Lm2Pz9Rt4Vn8Ks1Wd6Yh3Bf5Gc0Ja",
    "slack": "xoxb-" + "1234567890-0987654321-AbCdEfGhIjKl",
}
SECRET_LINES = {
    **{name: f'TOKEN = "{value}"' for name, value in FAKE.items()},
    "bare github token": f"curl -H 'Authorization: token {FAKE['github classic']}'",
    "private key": "-----BEGIN " + "OPENSSH PRIVATE KEY-----",
    "rsa private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
    "generic api key": 'API_KEY = "' + "q8Zr3Lp0Xv7Nw2Ks5Jd9Hf4Gb" + '"',
    "annotated password": 'db_password: str = "' + "Tr0ub4dor&3-Horse!Battery9" + '"',
    "json client secret": '"client_secret": "' + "9f8E7d6C5b4A3z2Y1x0WvUtS" + '",',
    "yaml auth token": "auth_token: '" + "mK3nP8qR2sT7uV1wX6yZ0aB4" + "'",
}


@pytest.mark.parametrize("line", SECRET_LINES.values(), ids=SECRET_LINES.keys())
def test_secrets_are_refused_without_repeating_them(tmp_path: Path, line: str) -> None:
    verdict = verdicts([change("pkg/settings.py", ("import os", line))], tmp_path)["secrets"]
    assert not verdict.ok
    assert verdict.file == "pkg/settings.py"
    assert "pkg/settings.py adds a credential (" in verdict.reason
    value = max(re.split(r"[\s'\"=,:]+", line), key=len)
    for start in range(max(len(value) - 8, 1)):
        assert value[start : start + 8] not in verdict.reason


NOT_SECRETS = {
    "env lookup": 'token = os.environ["GITHUB_TOKEN"]',
    "short password": 'password = "changeme"',
    "placeholder": 'api_key = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    "url": 'token_url = "https://github.com/login/oauth/access_token"',
    "path": 'secret_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"',
    "prose": 'token_help = "Enter your personal access token in the box below"',
    "template": 'cache_key = "{prefix}-{python_version}-{lockfile_hash}"',
    "dotted name": 'keymap = "editor.actions.clipboardCopyAction"',
    "kebab words": 'cache_key = "selfheal-pip-cache-linux-python"',
    "short prefix": "ghp_short = 1",
    "public key": "-----BEGIN PUBLIC KEY-----",
}


@pytest.mark.parametrize("line", NOT_SECRETS.values(), ids=NOT_SECRETS.keys())
def test_ordinary_lines_are_not_secrets(tmp_path: Path, line: str) -> None:
    assert failed([change("pkg/settings.py", (line,))], tmp_path) == []


def test_removing_a_secret_is_fine(tmp_path: Path) -> None:
    removal = change("pkg/settings.py", ('TOKEN = os.environ["T"]',), (f'TOKEN = "{FAKE["aws"]}"',))
    assert failed([removal], tmp_path) == []


def test_editing_a_line_that_already_held_a_fake_key_is_fine(tmp_path: Path) -> None:
    fixture = f'    assert mask("{FAKE["aws"]}") == "***"'
    edited = change("tests/test_mask.py", (fixture.replace("***", "****"),), (fixture,))
    assert failed([edited], tmp_path) == []
    moved_in = change("tests/test_mask.py", (fixture.replace("***", "****"),))
    assert failed([moved_in], tmp_path) == ["secrets"]


def test_the_reason_names_the_variable_not_the_value(tmp_path: Path) -> None:
    line = 'API_KEY = "' + "q8Zr3Lp0Xv7Nw2Ks5Jd9Hf4Gb" + '"'
    verdict = verdicts([change("app.py", (line,))], tmp_path)["secrets"]
    assert verdict.reason.startswith("app.py adds a credential (hard-coded value of API_KEY).")


def test_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == 2.0


# --- escape ------------------------------------------------------------------------------


def test_new_symlink_is_refused(tmp_path: Path) -> None:
    link = change("docs/link", ("../../etc/passwd",), status="added", new_mode="120000")
    verdict = verdicts([link], tmp_path)["escape"]
    assert not verdict.ok
    assert verdict.file == "docs/link"
    assert "docs/link is a symbolic link" in verdict.reason


def test_deleting_a_symlink_is_fine(tmp_path: Path) -> None:
    gone = change("docs/link", (), ("target",), status="deleted")
    assert failed([gone], tmp_path) == []


@pytest.mark.parametrize(
    "path", ["../outside.py", "pkg/../../outside.py", "/etc/passwd", ".git/config"]
)
def test_paths_outside_the_root_are_refused(tmp_path: Path, path: str) -> None:
    verdict = verdicts([change(path, ("x",))], tmp_path)["escape"]
    assert not verdict.ok
    assert f"{path} resolves outside the repository" in verdict.reason


def test_a_path_through_an_existing_symlink_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink("../elsewhere", root / "vendor")
    os.symlink("pkg", root / "inner")  # a symlink that stays inside is harmless
    assert failed([change("vendor/lib.py", ("x = 1",))], root) == ["escape"]
    assert failed([change("inner/mod.py", ("x = 1",))], root) == []
    assert failed([change("pkg/mod.py", ("x = 1",))], root) == []


# --- size and summary --------------------------------------------------------------------


def test_size_counts_added_and_removed_lines(tmp_path: Path) -> None:
    changes = [change("a.py", ("1", "2"), ("3",)), change("b.py", ("4",))]
    assert failed(changes, tmp_path, max_diff_lines=4) == []
    verdict = verdicts(changes, tmp_path, max_diff_lines=3)["size"]
    assert not verdict.ok
    assert "the change is 4 lines (added plus removed), over the limit of 3" in verdict.reason


def test_refusal_summary_has_one_line_per_failed_guard(tmp_path: Path) -> None:
    changes = [
        change(".github/workflows/ci.yml", ("x",)),
        change("tests/test_calc.py", (), ("def test_a():",), status="deleted"),
        change("tests/test_other.py", (), ("def test_b():",), status="deleted"),
    ]
    result = check_changes(
        changes, root=tmp_path, mode="heal", protected=PROTECTED, max_diff_lines=1
    )
    lines = refusal_summary(result).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["protected-path", "test-weakening", "size"]
    assert "tests/test_calc.py" in lines[1]
    assert "tests/test_other.py" in lines[1]
    assert refusal_summary([GuardVerdict(guard="size", ok=True)]) == ""
