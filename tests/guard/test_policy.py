"""Each diff guard refusing what it should, and an ordinary fix passing them all."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.guard.diff import ChangedFile, Status, parse_diff
from bot.guard.policy import GUARDS, check_changes, refusal_summary
from bot.guard.secrets import shannon_entropy
from bot.report import GuardVerdict
from tests.conftest import MakeRepo, git
from tests.guard.guarded import base_file, guard, refused

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
    before: Callable[[str], bytes | None] = lambda _: None,
) -> dict[str, GuardVerdict]:
    result = check_changes(
        changes,
        root=root,
        mode=mode,  # type: ignore[arg-type]
        protected=PROTECTED if protected is None else protected,
        max_diff_lines=max_diff_lines,
        max_file_bytes=1_000_000,
        allow_spec_changes=False,
        before=before,  # by default nothing: most of these changes are not on disk
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
                "def test_add():\n    assert add(1, 2) == 3\n\n\n"
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
        "@pytest.mark.skip(reason='slow')\ndef test_slow():\n    add(1, 1)\n    assert add(0, 0) == 0\n"
    )
    git(repo, "add", "-A")
    diff = git(repo, "diff", "--cached", "--binary", "-M", "HEAD")
    result = verdicts(parse_diff(diff), repo, before=base_file(repo))
    assert all(v.ok for v in result.values()), refusal_summary(list(result.values()))
    assert refusal_summary(list(result.values())) == ""
    assert result["test-changes"].reason == (
        "tests/test_calc.py: adds test_add_negative; tests/test_calc.py: changes test_slow"
    )


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


# --- test weakening (tests/guard/test_testcode.py has every rule; here: over a real diff) ---

CALC = {
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a, b):\n    return a - b\n",
    "tests/helpers.py": "def check(x):\n    assert x.ok\n",
    "tests/data.json": "{}\n",
    "tests/test_calc.py": (
        "from pkg.calc import add\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n\n"
        "class TestCalc:\n    def test_zero(self):\n        assert add(0, 0) == 0\n"
    ),
}
TEST = CALC["tests/test_calc.py"]
WEAKENINGS: dict[str, tuple[dict[str, str | None], str]] = {
    "deleted test file": ({"tests/test_calc.py": None}, "deletes the test file tests/test_calc.py"),
    "deleted test function": (
        {"tests/test_calc.py": TEST.replace("def test_add():\n    assert add(1, 2) == 3\n", "")},
        "test_add is gone or no longer collected",
    ),
    "test renamed out of collection": (
        {"tests/test_calc.py": TEST.replace("def test_add", "def _test_add")},
        "test_add is gone or no longer collected",
    ),
    "test class renamed out of collection": (
        {"tests/test_calc.py": TEST.replace("class TestCalc", "class CalcChecks")},
        "TestCalc is gone or no longer collected",
    ),
    "assert removed": (
        {"tests/test_calc.py": TEST.replace("assert add(1, 2) == 3", "add(1, 2)")},
        "removes 1 assertion(s)",
    ),
    "assert made tautological": (
        {"tests/test_calc.py": TEST.replace("assert add(1, 2) == 3", "assert add(1, 2) or 1")},
        "adds an assertion that cannot fail (`assert add(1, 2) or 1`)",
    ),
    "assert removed from a helper": (
        {"tests/helpers.py": "def check(x):\n    return x.ok\n"},
        "tests/helpers.py: removes 1 assertion(s)",
    ),
    "test file renamed out of collection": (
        {"tests/test_calc.py": None, "tests/calc_checks.py": TEST},
        "renames tests/test_calc.py to tests/calc_checks.py, so pytest no longer collects it",
    ),
    "aliased skip": (
        {
            "tests/test_calc.py": "import pytest as p\n"
            + TEST.replace("def test_add", "@p.mark.skip\ndef test_add")
        },
        "adds a skip, xfail or exit (pytest.mark.skip)",
    ),
}


@pytest.mark.parametrize(("edits", "words"), WEAKENINGS.values(), ids=WEAKENINGS.keys())
def test_weakening_is_refused_in_both_modes(
    make_repo: MakeRepo, edits: dict[str, str | None], words: str
) -> None:
    for mode in ("heal", "implement"):
        verdict = guard(make_repo, CALC, edits, mode=mode)["test-weakening"]
        assert not verdict.ok
        assert words in verdict.reason
        assert "fix the code under test instead" in verdict.reason
        assert verdict.file is not None and verdict.file.startswith("tests/")


SILENCERS = {
    "noqa added": (change("pkg/calc.py", ("import os  # noqa: F401",), ("import os",)), "`# noqa`"),
    "type ignore added": (
        change("pkg/calc.py", ("    return a + b  # type: ignore[operator]",)),
        "`# type: ignore`",
    ),
    "file-level ruff noqa": (change("pkg/calc.py", ("# ruff: noqa",)), "`# noqa`"),
}


@pytest.mark.parametrize(("silencer", "words"), SILENCERS.values(), ids=SILENCERS.keys())
def test_new_lint_silencers_are_refused_when_healing(
    tmp_path: Path, silencer: ChangedFile, words: str
) -> None:
    verdict = verdicts([silencer], tmp_path)["test-weakening"]
    assert not verdict.ok
    assert "adds a `# noqa` or `# type: ignore` comment in pkg/calc.py" in verdict.reason
    assert words in verdict.reason
    assert failed([silencer], tmp_path, mode="implement") == []


NOT_WEAKENING = {
    "helper edited": {"tests/helpers.py": "def check(x, y=1):\n    assert x.ok\n"},
    "test added": {
        "tests/test_calc.py": TEST + "\n\ndef test_more():\n    assert add(2, 2) == 4\n"
    },
    "test renamed to another test": {
        "tests/test_calc.py": TEST.replace("class TestCalc", "class TestCalc2")
        + "\n\nclass TestCalc:\n    def test_zero(self):\n        assert add(0, 0) == 0\n"
    },
    "test file renamed to another test file": {
        "tests/test_calc.py": None,
        "tests/test_arith.py": TEST,
    },
    "assert removed from library code": {"pkg/calc.py": "def add(a, b):\n    return a + b\n"},
    "non-test file deleted": {"tests/data.json": None},
    "skip word in prose": {"README.md": "We skip nothing: pytest.mark.skip is banned.\n"},
}


@pytest.mark.parametrize("edits", NOT_WEAKENING.values(), ids=NOT_WEAKENING.keys())
def test_ordinary_test_edits_are_not_weakening(
    make_repo: MakeRepo, edits: dict[str, str | None]
) -> None:
    result = guard(make_repo, CALC, edits)
    assert refused(result) == [], refusal_summary(list(result.values()))


def test_implement_mode_does_not_check_the_specification(make_repo: MakeRepo) -> None:
    changed = {"tests/test_calc.py": TEST.replace("== 3", "== 4")}
    healing = guard(make_repo, CALC, changed)
    assert refused(healing) == ["test-spec"]
    implementing = guard(make_repo, CALC, changed, mode="implement")
    assert refused(implementing) == []
    assert implementing["test-spec"].reason == "not checked: implementing may change the tests"
    assert "tests/test_calc.py: changes test_add" in implementing["test-changes"].reason


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
        changes,
        root=tmp_path,
        mode="heal",
        protected=PROTECTED,
        max_diff_lines=1,
        max_file_bytes=1000,
        allow_spec_changes=False,
        before=lambda _: None,
    )
    lines = refusal_summary(result).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["protected-path", "test-weakening", "size"]
    assert "tests/test_calc.py" in lines[1]
    assert "tests/test_other.py" in lines[1]
    assert refusal_summary([GuardVerdict(guard="size", ok=True)]) == ""
