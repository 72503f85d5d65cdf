"""The test files a red commit's own change points at: a guess, checked by running them.

When nothing names the failing tests (no `--tests`, no CI log, no record of pytest's last
run), the commit that turned the build red most often broke the tests of what it changed. A
heal then reproduces with those test files alone, and the whole gate runs once, on the fix:
about one full run instead of two. The guess is never evidence: unless those files show a
failure, and every failure of the run is in one of them, the whole gate reproduces instead;
and the fix is always proven by the whole gate.

The suspects are the test files the commit changed, and the test files that import a module
it changed (`import pkg.mod`, `from pkg.mod import x`, `from pkg import mod`, or a submodule
of it). Not followed: re-exports (a test that imports `pkg` for what `pkg/__init__.py` takes
from `pkg/mod.py`), imports inside functions under another name, and anything but Python.
A change to a conftest.py, or suspects in more than half of the test files, points at
everything: no guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.fix.pyfiles import imported_modules, is_test_module, module_of

MAX_SUSPECTS = 200


def suspect_tests(
    changed: Sequence[str], tracked: Sequence[str], read: Callable[[str], str | None]
) -> list[str]:
    """The test files (paths, in `tracked` order) the change to `changed` points at, or []
    when it points at nothing or everything. `read(path)` is a tracked file's text (None
    when it cannot be read)."""
    # A name that starts with "-" would be an option on a command line (pytest without the
    # plugin gets the selection there): never a suspect.
    tests = [path for path in tracked if is_test_module(path) and not path.startswith("-")]
    if any(path.rsplit("/", 1)[-1] == "conftest.py" for path in changed):
        return []
    changed_tests = set(changed) & set(tests)
    modules = {m for p in changed if not is_test_module(p) and (m := module_of(p)) is not None}
    suspects = []
    for path in tests:
        if path in changed_tests:
            suspects.append(path)
            continue
        if not modules:
            continue
        text = read(path)
        if text is not None and _imports_any(imported_modules(text), modules):
            suspects.append(path)
    if len(suspects) > MAX_SUSPECTS or 2 * len(suspects) > len(tests):
        return []
    return suspects


def _imports_any(names: set[str], modules: set[str]) -> bool:
    return any(n == m or n.startswith(m + ".") for n in names for m in modules)
