"""Test-code changes that rewrite the specification rather than weaken a test (pure).

When healing, the tests are the specification: a hook that changes what is collected, selected
or how outcomes are reported, or a test that patches the code under test, makes a red build
green without fixing it. Each finding is one line naming the file and what to look at.
"""

from __future__ import annotations

import ast
import re
from collections import Counter

from bot.guard.pynames import Names

# Hooks that only add options, headers or wording, or compare for display.
_HARMLESS_HOOKS = frozenset(
    {
        "pytest_addoption",
        "pytest_report_header",
        "pytest_terminal_summary",
        "pytest_assertrepr_compare",
        "pytest_make_parametrize_id",
    }
)
_COLLECTION_NAMES = frozenset({"collect_ignore", "collect_ignore_glob", "pytest_plugins"})
_PATCHING_METHODS = frozenset({"setattr", "delattr", "setitem", "delitem", "syspath_prepend"})
_MOCK_PATCH = re.compile(r"^(?:unittest\.mock|mock|\w*mocker)\.patch(?:\.\w+)?$")


def _only_registers_markers(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`pytest_configure` that only does config.addinivalue_line("markers", ...)."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "addinivalue_line"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and call.args[0].value == "markers"
        ):
            return False
    return True


def _hooks(tree: ast.Module | None) -> dict[str, Counter[str]]:
    found: dict[str, Counter[str]] = {}
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "pytest_"
        ):
            if node.name in _HARMLESS_HOOKS:
                continue
            if node.name == "pytest_configure" and _only_registers_markers(node):
                continue
            found.setdefault(node.name, Counter())[ast.dump(node)] += 1
    return found


def _collection_settings(tree: ast.Module | None) -> Counter[str]:
    """Module-level statements that set collect_ignore, collect_ignore_glob or pytest_plugins."""
    return Counter(
        ast.dump(stmt)
        for stmt in (tree.body if tree is not None else [])
        if any(isinstance(n, ast.Name) and n.id in _COLLECTION_NAMES for n in ast.walk(stmt))
    )


def _root(node: ast.AST) -> ast.Name | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _patches(tree: ast.Module | None, names: Names | None) -> Counter[str]:
    """Each spot that replaces something at run time: monkeypatch, mock.patch, or assignment
    into an imported module (`calc.ops.clamp = ...`, `sys.modules["calc"] = ...`)."""
    found: Counter[str] = Counter()
    if tree is None or names is None:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, called = node.func, names.qualify(node.func) or ""
            target = node.args[0] if node.args else None
            if (
                (isinstance(func, ast.Attribute) and func.attr in _PATCHING_METHODS)
                or _MOCK_PATCH.match(called)
                or (
                    called in ("builtins.setattr", "builtins.delattr")
                    and target is not None
                    and (root := _root(target)) is not None
                    and names.is_imported(root.id)
                )
            ):
                found[ast.unparse(node)] += 1
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute | ast.Subscript):
                    root = _root(target)
                    if root is not None and names.is_imported(root.id):
                        found[ast.unparse(target) + " = ..."] += 1
    return found


def _cut(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def spec_changes(
    path: str,
    old_tree: ast.Module | None,
    old_names: Names | None,
    new_tree: ast.Module,
    new_names: Names,
) -> list[str]:
    """Hooks, collection settings and patches that `new_tree` has and `old_tree` had not."""
    found = []
    old_hooks = _hooks(old_tree)
    for name, versions in _hooks(new_tree).items():
        if versions - old_hooks.get(name, Counter()):
            verb = "changes" if name in old_hooks else "adds"
            found.append(f"{path}: {verb} the pytest hook {name}, which can change what runs")
    if _collection_settings(new_tree) - _collection_settings(old_tree):
        found.append(f"{path}: changes collect_ignore or pytest_plugins")
    for text in _patches(new_tree, new_names) - _patches(old_tree, old_names):
        found.append(f"{path}: patches code at run time (`{_cut(text)}`)")
    return found
