"""Names that skip, expect to fail, or end a test run: pytest's, unittest's and the process's.

A test that reaches one of them before its assertions passes, or is not counted, whatever
the code under test does; any reference counts, called, raised or used as a decorator.
"""

from __future__ import annotations

import ast

from bot.guard.pynames import Names

SKIPS = frozenset(
    {
        "pytest.skip",
        "pytest.xfail",
        "pytest.importorskip",
        "pytest.exit",
        "pytest.mark.skip",
        "pytest.mark.skipif",
        "pytest.mark.xfail",
        "_pytest.outcomes",
        "_pytest.skipping",
        "unittest.skip",
        "unittest.skipIf",
        "unittest.skipUnless",
        "unittest.expectedFailure",
        "unittest.SkipTest",
        "unittest.case.skip",
        "unittest.case.skipIf",
        "unittest.case.skipUnless",
        "unittest.case.expectedFailure",
        "unittest.case.SkipTest",
        "sys.exit",
        "os._exit",
        "os.abort",
        "os.kill",
        "os.killpg",
        "signal.raise_signal",
        "builtins.exit",
        "builtins.quit",
        "builtins.SystemExit",
        "builtins.KeyboardInterrupt",
    }
)


def skip_name(node: ast.AST, names: Names) -> str | None:
    """The dotted name of a skip, xfail or exit `node` refers to, or None."""
    if isinstance(node, ast.Attribute) and node.attr == "skipTest":
        return "skipTest"
    if isinstance(node, ast.Name | ast.Attribute | ast.Call):
        name = names.qualify(node)
        if name is not None and any(name == s or name.startswith(s + ".") for s in SKIPS):
            return name
    return None
