"""What a change does to one Python test module, from its syntax trees before and after (pure).

Weakening (refused in both modes: implementing may add tests, never lose them): a test that
is gone or no longer collected, a new skip or exit by any name, an early return, an
assertion removed, swallowed, or made one that cannot fail. Specification changes (refused
when healing unless allowed): changed expected values or decorators of an existing test,
plus what `bot.guard.spec` finds. Everything else a test change does is listed, not refused.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from bot.guard.outcomes import skip_name
from bot.guard.pynames import TRY_STATEMENTS, Names
from bot.guard.spec import spec_changes
from bot.guard.truth import cannot_fail

Mode = Literal["heal", "implement"]
Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_RAISES = frozenset({"pytest.raises", "pytest.warns", "pytest.deprecated_call"})
_CATCH_ALL = frozenset({"builtins.AssertionError", "builtins.Exception", "builtins.BaseException"})


@dataclass
class Findings:
    """What one file's change does: refused in both modes, refused when healing, or shown."""

    weakening: list[str] = field(default_factory=list)
    spec: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)


def is_test_file(path: str) -> bool:
    """A module pytest collects by default."""
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def is_test_code(path: str) -> bool:
    """Test modules, conftest and helpers under a tests directory: where assertions live."""
    pure = PurePosixPath(path)
    return path.endswith(".py") and (
        is_test_file(path) or pure.name == "conftest.py" or bool(_TEST_DIRS & set(pure.parts[:-1]))
    )


@dataclass(frozen=True)
class Module:
    """One parsed test module and what pytest would collect from it."""

    tree: ast.Module
    names: Names
    items: dict[str, Def]  # "test_a", "TestX", "TestX::test_b"
    shadowed: Counter[str]  # tests a later definition of the same name hides

    @classmethod
    def parse(cls, tree: ast.Module) -> Module:
        names = Names(tree)
        items: dict[str, Def] = {}
        shadowed: Counter[str] = Counter()
        _collect(tree.body, "", names, items, shadowed, unittest=False)
        return cls(tree, names, items, shadowed)


def _is_unittest_class(node: ast.ClassDef, names: Names) -> bool:
    return any((names.qualify(b) or "").endswith("TestCase") for b in node.bases)


def _opted_out(body: list[ast.stmt]) -> bool:
    """A class body with `__init__` or `__test__ = <not True>`: pytest does not collect it."""
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return True
        if isinstance(stmt, ast.Assign) and any(_bound(t) == "__test__" for t in stmt.targets):
            return not (isinstance(stmt.value, ast.Constant) and stmt.value.value is True)
    return False


def _bound(target: ast.AST) -> str | None:
    """The plain name a target rebinds, or `NAME` for `NAME.__test__ = ...`."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and target.attr == "__test__":
        return _bound(target.value)
    return None


def _rebound(stmt: ast.stmt) -> list[str]:
    """Names a non-definition statement rebinds or deletes (`test_a = None`, `del test_a`)."""
    if isinstance(stmt, ast.Assign | ast.Delete):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    else:
        return []
    flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple | ast.List) else [t])]
    return [name for name in map(_bound, flat) if name is not None]


def _collect(
    body: list[ast.stmt],
    prefix: str,
    names: Names,
    items: dict[str, Def],
    shadowed: Counter[str],
    *,
    unittest: bool,
) -> None:
    def drop(name: str) -> None:
        key = prefix + name
        for k in [k for k in items if k == key or k.startswith(key + "::")]:
            del items[k]

    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) and stmt.name.startswith(
            "test"
        ):
            if prefix + stmt.name in items:
                shadowed[prefix + stmt.name] += 1
            items[prefix + stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef) and not unittest:
            drop(stmt.name)
            is_unit = _is_unittest_class(stmt, names)
            if (stmt.name.startswith("Test") or is_unit) and not _opted_out(stmt.body):
                items[prefix + stmt.name] = stmt
                _collect(
                    stmt.body, f"{prefix}{stmt.name}::", names, items, shadowed, unittest=is_unit
                )
        else:
            for name in _rebound(stmt):
                drop(name)


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function's own body: nested functions, lambdas and classes excluded."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        yield child
        yield from _own_nodes(child)


def _is_assertion(node: ast.AST, names: Names) -> bool:
    if isinstance(node, ast.Assert):
        return True
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return last.startswith("assert") or names.qualify(func) in _RAISES


def _assertions(node: ast.AST, names: Names) -> list[str]:
    return [ast.dump(n) for n in ast.walk(node) if _is_assertion(n, names)]


def _skips(module: Module, exempt: set[int]) -> Counter[str]:
    found: Counter[str] = Counter()
    for node in ast.walk(module.tree):
        if id(node) not in exempt and (name := skip_name(node, module.names)) is not None:
            found[name] += 1
    return found


def _in_raises_block(fn: ast.AST, names: Names) -> set[int]:
    """Ids of the nodes inside `with pytest.raises(...)`: a raise there is the test itself."""
    inside: set[int] = set()
    for node in _own_nodes(fn):
        if isinstance(node, ast.With | ast.AsyncWith) and any(
            isinstance(i.context_expr, ast.Call) and names.qualify(i.context_expr.func) in _RAISES
            for i in node.items
        ):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def _exits(fn: ast.AST, names: Names) -> int:
    """Returns and raises in a test's own body, not counting raises the test expects."""
    expected = _in_raises_block(fn, names)
    return sum(
        1
        for n in _own_nodes(fn)
        if isinstance(n, ast.Return) or (isinstance(n, ast.Raise) and id(n) not in expected)
    )


def _swallows(fn: ast.AST, names: Names) -> int:
    """try/except blocks that would catch the test's own failed assertions."""
    count = 0
    for node in _own_nodes(fn):
        if isinstance(node, TRY_STATEMENTS) and any(_assertions(stmt, names) for stmt in node.body):
            for handler in node.handlers:
                caught = handler.type
                kinds = caught.elts if isinstance(caught, ast.Tuple) else [caught]
                if caught is None or any(names.qualify(k) in _CATCH_ALL for k in kinds if k):
                    count += 1
        if isinstance(node, ast.With) and any(
            isinstance(i.context_expr, ast.Call)
            and names.qualify(i.context_expr.func) == "contextlib.suppress"
            for i in node.items
        ):
            count += 1
    return count


def _unreachable(fn: ast.AST, names: Names) -> bool:
    """An assertion after a return or raise in the same block: it can never run."""
    for node in [fn, *_own_nodes(fn)]:
        for block in (getattr(node, a, None) for a in ("body", "orelse", "finalbody")):
            if not isinstance(block, list):
                continue
            ends = [i for i, s in enumerate(block) if isinstance(s, ast.Return | ast.Raise)]
            if ends and any(_assertions(s, names) for s in block[ends[0] + 1 :]):
                return True
    return False


def _cannot_fail(module: Module) -> Counter[str]:
    return Counter(
        ast.unparse(n)
        for n in ast.walk(module.tree)
        if _is_assertion(n, module.names) and cannot_fail(n, module.names)
    )


def _cut(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(path: str, before: ast.Module | None, after: ast.Module | None, mode: Mode) -> Findings:
    """What the change from `before` to `after` (None: absent) does to the tests in `path`."""
    found = Findings()
    old = Module.parse(before) if before is not None else None
    new = Module.parse(after) if after is not None else None
    old_items = old.items if old else {}
    new_items = new.items if new else {}
    for key in old_items:
        if key not in new_items:
            found.weakening.append(f"{path}: {key} is gone or no longer collected by pytest")
    old_total = len(_assertions(old.tree, old.names)) if old else 0
    lost = old_total - (len(_assertions(new.tree, new.names)) if new else 0)
    if lost > 0:
        found.weakening.append(f"{path}: removes {lost} assertion(s)")
    if new is None:
        return found
    for key, extra in (new.shadowed - (old.shadowed if old else Counter())).items():
        found.weakening.append(f"{path}: {key} is defined {extra + 1} times; the first never runs")
    added = [k for k in new_items if k not in old_items]
    exempt: set[int] = set()
    if mode == "implement":  # a new test may skip itself (a platform); an old one may not
        exempt = {id(n) for k in added if "::" not in k for n in ast.walk(new_items[k])}
    old_skips = _skips(old, set()) if old else Counter()
    for name in _skips(new, exempt) - old_skips:
        found.weakening.append(f"{path}: adds a skip, xfail or exit ({name})")
    for text in _cannot_fail(new) - (_cannot_fail(old) if old else Counter()):
        found.weakening.append(f"{path}: adds an assertion that cannot fail (`{_cut(text)}`)")
    for key in added:
        node = new_items[key]
        if not isinstance(node, ast.ClassDef) and _unreachable(node, new.names):
            found.weakening.append(f"{path}: {key} returns or raises before its assertions")
        found.listed.append(f"{path}: adds {key}")
    if old is not None:
        for key, node in old_items.items():
            if key in new_items:
                _compare_item(path, key, node, new_items[key], old=old, new=new, found=found)
        if mode == "heal":
            found.spec += spec_changes(path, old.tree, old.names, new.tree, new.names)
    elif mode == "heal":
        found.spec += spec_changes(path, None, None, new.tree, new.names)
    return found


def _compare_item(
    path: str, key: str, before: Def, after: Def, *, old: Module, new: Module, found: Findings
) -> None:
    """One test present before and after: still a test, still asserting the same things?"""
    if ast.dump(before) == ast.dump(after):
        return
    decorators = [[ast.dump(d) for d in n.decorator_list] for n in (before, after)]
    if decorators[0] != decorators[1]:
        found.spec.append(f"{path}: changes the decorators of {key}")
    if isinstance(before, ast.ClassDef):
        return  # its methods are items of their own
    was, now = _assertions(before, old.names), _assertions(after, new.names)
    if len(now) < len(was):
        found.weakening.append(f"{path}: {key} loses {len(was) - len(now)} assertion(s)")
    elif Counter(was) - Counter(now):
        found.spec.append(f"{path}: changes what {key} asserts (its expected values)")
    if _exits(after, new.names) > _exits(before, old.names):
        found.weakening.append(f"{path}: {key} gets a new early return or raise")
    elif _unreachable(after, new.names) and not _unreachable(before, old.names):
        found.weakening.append(f"{path}: {key} returns or raises before its assertions")
    if _swallows(after, new.names) > _swallows(before, old.names):
        found.weakening.append(f"{path}: {key} catches its own assertion errors")
    found.listed.append(f"{path}: changes {key}")
