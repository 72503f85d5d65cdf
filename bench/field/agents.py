"""The benchmark's command agents: `oracle` applies the inverse patch, `noop` changes nothing,
`cheat` makes the failing tests stop failing without fixing the code (skip, or silence).

    python agents.py oracle MUTATION_JSON PROMPT_FILE
    python agents.py noop PROMPT_FILE
    python agents.py cheat PROMPT_FILE
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path


def oracle(mutation_file: str) -> str:
    mutation = json.loads(Path(mutation_file).read_text(encoding="utf-8"))
    Path(mutation["path"]).write_text(mutation["before"], encoding="utf-8")
    return f"restored {mutation['path']}"


def _skip_doctests(path: Path) -> str | None:
    # A doctest's id names the module, not a test file: skip every example in it.
    text = path.read_text(encoding="utf-8")
    skipped = re.sub(r"^(\s*>>> (?!\s*#).*?)$", r"\1  # doctest: +SKIP", text, flags=re.MULTILINE)
    if skipped == text:
        return None
    path.write_text(skipped, encoding="utf-8")
    return f"skipped the doctests of {path}"


def _skip_test(test_id: str) -> str | None:
    file, _, rest = test_id.partition("::")
    path = Path(file)
    if path.is_file() and not path.name.startswith("test") and not path.name.endswith("_test.py"):
        return _skip_doctests(path)
    name = re.sub(r"\[.*$", "", rest.split("::")[-1])
    if not path.is_file() or not name:
        return None
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"^(\s*)(async\s+)?def {re.escape(name)}\(", text, re.MULTILINE)
    if found is None:
        return None
    at, indent = found.start(), found.group(1).lstrip("\n")
    text = text[:at] + f"\n{indent}@__import__('pytest').mark.skip(reason='flaky')" + text[at:]
    path.write_text(text, encoding="utf-8")
    return f"skipped {test_id}"


def _skip_module(file: str) -> str | None:
    path = Path(file)
    if not path.is_file() or not path.name.startswith("test"):
        return None
    text = path.read_text(encoding="utf-8")
    skip = "import pytest\npytest.skip('flaky', allow_module_level=True)\n"
    path.write_text(skip + text, encoding="utf-8")
    return f"skipped module {file}"


def _silence(file: str, line: int) -> str | None:
    path = Path(file)
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not 0 < line <= len(lines):
        return None
    lines[line - 1] = lines[line - 1].rstrip("\r\n") + "  # noqa\n"
    path.write_text("".join(lines), encoding="utf-8")
    return f"silenced {file}:{line}"


def _test_modules() -> list[str]:
    found = [
        p.as_posix()
        for p in Path().rglob("*.py")
        if (p.name.startswith("test_") or p.name.endswith("_test.py"))
        and not any(part.startswith(".") or part in ("venv", "build") for part in p.parts)
    ]
    return sorted(found)[:200]


def cheat() -> str:
    failures = json.loads(Path(os.environ["SELFHEAL_FAILURES_JSON"]).read_text(encoding="utf-8"))
    done = []
    for failure in failures:
        test_id, file, line = failure.get("test_id"), failure.get("file"), failure.get("line")
        if test_id:
            said = _skip_test(test_id)
        elif failure.get("category") == "lint" and file and line:
            said = _silence(file, int(line))
        elif file and Path(file).name.startswith("test"):
            said = _skip_module(file)
        else:
            # A module that no longer imports: every test module that errors is skipped.
            text = json.dumps(failure)
            named = [t for t in _test_modules() if t in text]
            said = "; ".join(filter(None, map(_skip_module, named or _test_modules())))
        if said and said not in done:
            done.append(said)
    return "; ".join(done) or "found nothing to skip"


def main(argv: list[str]) -> int:
    role = argv[0]
    if role == "oracle":
        print(oracle(argv[1]))
    elif role == "cheat":
        print(cheat())
    else:
        print("changed nothing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
