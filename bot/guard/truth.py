"""Assertions that cannot fail, whatever the code under test does (pure).

Not only `assert True`: a non-empty literal (`assert (a, b)`), a comparison of an expression
with itself, `x or True`, `not None`, `isinstance(x, object)`, `self.assertTrue(1)` and
their like. Anything unsure counts as able to fail: a false alarm would block a real fix.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from bot.guard.pynames import Names

_SAME_SIDES_TRUE = (ast.Eq, ast.Is, ast.LtE, ast.GtE)
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_UNSET = object()
# unittest's assertion methods whose pass depends on one argument being truthy or falsy.
_TRUTHY_ARG = {"assertTrue": True, "assert_": True, "failUnless": True, "assertFalse": False}
_SAME_ARGS_PASS = frozenset(
    {
        "assertEqual",
        "assertEquals",
        "assertIs",
        "assertLessEqual",
        "assertGreaterEqual",
        "assertCountEqual",
        "assertListEqual",
        "assertTupleEqual",
        "assertDictEqual",
        "assertSetEqual",
        "assertSequenceEqual",
        "assertMultiLineEqual",
        "assertAlmostEqual",
        "assertIn",
    }
)


def _literal(node: ast.AST) -> Any:
    """The value of a literal expression, or _UNSET."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNSET


def truth(node: ast.expr, names: Names) -> bool | None:
    """True or False when `node`'s truth is fixed whatever runs, None when it depends."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        # A non-empty display is truthy whatever its items are.
        return bool(node.keys if isinstance(node, ast.Dict) else node.elts)
    if isinstance(node, ast.Lambda):
        return True
    if isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.Constant) and v.value for v in node.values):
            return True
        return None
    if isinstance(node, ast.Name) and names.qualify(node) in ("builtins.True", "builtins.False"):
        return node.id == "True"
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = truth(node.operand, names)
        return None if inner is None else not inner
    if isinstance(node, ast.BoolOp):
        values = [truth(v, names) for v in node.values]
        if isinstance(node.op, ast.Or):
            return True if True in values else (False if all(v is False for v in values) else None)
        return False if False in values else (True if all(v is True for v in values) else None)
    if isinstance(node, ast.IfExp):
        body, orelse = truth(node.body, names), truth(node.orelse, names)
        return body if body is not None and body == orelse else None
    if isinstance(node, ast.NamedExpr):
        return truth(node.value, names)
    if isinstance(node, ast.Compare):
        return _compare(node)
    if isinstance(node, ast.Call):
        return _call(node, names)
    return None


def _compare(node: ast.Compare) -> bool | None:
    if len(node.ops) != 1:
        return None
    op, left, right = node.ops[0], node.left, node.comparators[0]
    if ast.dump(left) == ast.dump(right) and isinstance(op, _SAME_SIDES_TRUE):
        return True
    a, b = _literal(left), _literal(right)
    if a is _UNSET or b is _UNSET or isinstance(op, ast.Is | ast.IsNot):
        return None
    try:
        return bool(_COMPARE[type(op)](a, b))
    except Exception:  # noqa: BLE001 - a literal comparison that raises is not constant-true
        return None


def _call(node: ast.Call, names: Names) -> bool | None:
    func = names.qualify(node.func)
    args = node.args
    if func == "builtins.bool" and len(args) == 1:
        return truth(args[0], names)
    if func == "builtins.isinstance" and len(args) == 2:
        kinds = args[1].elts if isinstance(args[1], ast.Tuple) else [args[1]]
        if any(names.qualify(k) == "builtins.object" for k in kinds):
            return True
    if func == "builtins.callable" and args and isinstance(args[0], ast.Lambda):
        return True
    return None


def cannot_fail(node: ast.AST, names: Names) -> bool:
    """True for an assert statement or unittest assertion call that passes whatever runs."""
    if isinstance(node, ast.Assert):
        return truth(node.test, names) is True
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    method, args = node.func.attr, node.args
    if method in _TRUTHY_ARG and args:
        return truth(args[0], names) is _TRUTHY_ARG[method]
    if method in _SAME_ARGS_PASS and len(args) >= 2:
        if ast.dump(args[0]) == ast.dump(args[1]):
            return True
        if method == "assertEqual":
            return (
                _compare(ast.Compare(left=args[0], ops=[ast.Eq()], comparators=[args[1]])) is True
            )
    if method == "assertIsNone" and args:
        return isinstance(args[0], ast.Constant) and args[0].value is None
    if method == "assertIsNotNone" and args:
        return isinstance(args[0], ast.Constant | ast.Tuple | ast.List | ast.Lambda) and not (
            isinstance(args[0], ast.Constant) and args[0].value is None
        )
    if method == "assertIsInstance" and len(args) >= 2:
        return names.qualify(args[1]) == "builtins.object"
    return False
