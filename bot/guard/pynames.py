"""What a name in a Python module refers to, through its imports and simple aliases (pure).

`import pytest as p`, `from pytest import mark as m`, `s = pytest.skip`,
`getattr(pytest, "skip")` and `__import__("pytest")` all resolve to dotted names such as
"pytest.mark.skip", so a rule about a name holds however it is spelled.
"""

from __future__ import annotations

import ast
import builtins
import sys

# `try` statements: `try ... except*` too, on Python 3.11 and later (where it parses).
if sys.version_info >= (3, 11):
    TRY_STATEMENTS = (ast.Try, ast.TryStar)
else:  # pragma: no cover - the suite runs on 3.11+; CI's 3.10 job runs it
    TRY_STATEMENTS = (ast.Try,)

_BUILTINS = frozenset(dir(builtins))
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module"})


class Names:
    """The dotted name each local name of one module stands for (one flat scope: a guard
    would rather over-resolve than let a function-local alias hide a skip)."""

    def __init__(self, tree: ast.Module) -> None:
        self.bound: dict[str, str] = {}
        self.imported: set[str] = set()  # local names bound by an import statement
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bound[alias.asname] = alias.name
                        self.imported.add(alias.asname)
                    else:
                        top = alias.name.split(".")[0]
                        self.bound[top] = top
                        self.imported.add(top)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    local = alias.asname or alias.name
                    self.bound[local] = f"{node.module}.{alias.name}"
                    self.imported.add(local)
        # Aliases of aliases (`s = p.skip`, `t = s`): resolve until nothing new is learnt.
        assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.AnnAssign)]
        for _ in range(3):
            for node in assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is None:
                    continue
                value = self.qualify(node.value)
                for target in targets:
                    if isinstance(target, ast.Name) and value not in (None, target.id):
                        self.bound.setdefault(target.id, value)

    def qualify(self, node: ast.AST) -> str | None:
        """The dotted name `node` refers to ("pytest.mark.skip"), or None for anything else."""
        if isinstance(node, ast.Name):
            if node.id in self.bound:
                return self.bound[node.id]
            return f"builtins.{node.id}" if node.id in _BUILTINS else node.id
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, ast.Call):
            return self._call_value(node)
        return None

    def _call_value(self, call: ast.Call) -> str | None:
        """`getattr(X, "name")` is X.name; `__import__("m")`, `import_module("m")` are m."""
        func = self.qualify(call.func)
        args = call.args
        first = args[0] if args else None
        if func == "builtins.getattr" and len(args) >= 2:
            base = self.qualify(args[0])
            name = _text(args[1])
            return None if base is None or name is None else f"{base}.{name}"
        if func in _IMPORTERS:
            return _text(first) if first is not None else None
        return None

    def is_imported(self, name: str) -> bool:
        return name in self.imported


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def called_name(names: Names, node: ast.AST) -> str | None:
    """The dotted name a call calls, or None when `node` is no call or calls nothing named."""
    return names.qualify(node.func) if isinstance(node, ast.Call) else None
