"""Mutation operators: small text edits, found with `ast`, on a project's own modules.

Each operator yields candidate mutations of one source text, in file order; the benchmark
keeps those its project's own test command turns red (SWE-smith's fail-to-pass check).
An edit touches only the characters of the node it changes, so the inverse patch is exact.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Operators whose red build shows in the tests, and those that show in ruff.
TEST_OPERATORS = (
    "comparison-flip",
    "off-by-one",
    "wrong-constant",
    "removed-statement",
    "swapped-arguments",
    "broken-import",
    "syntax-error",
)
RUFF_OPERATORS = ("lint-error", "formatting")
OPERATORS = TEST_OPERATORS + RUFF_OPERATORS


@dataclass(frozen=True)
class Mutation:
    operator: str
    path: str  # relative to the repo root
    line: int
    before: str  # the whole file, before and after
    after: str
    what: str  # one line for the table: "line 12: < became >="


_FLIP = {
    ast.Lt: ("<", ">="),
    ast.GtE: (">=", "<"),
    ast.Gt: (">", "<="),
    ast.LtE: ("<=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
}


def _offsets(source: str) -> list[int]:
    starts, total = [0], 0
    for line in source.splitlines(keepends=True):
        total += len(line.encode("utf-8"))
        starts.append(total)
    return starts


class _Editor:
    """Byte-offset edits on one source (ast columns are UTF-8 byte offsets)."""

    def __init__(self, source: str) -> None:
        self.data = source.encode("utf-8")
        self.starts = _offsets(source)

    def at(self, line: int, col: int) -> int:
        return self.starts[line - 1] + col

    def text(self, a: int, b: int) -> str:
        return self.data[a:b].decode("utf-8")

    def replace(self, a: int, b: int, new: str) -> str:
        return (self.data[:a] + new.encode("utf-8") + self.data[b:]).decode("utf-8")


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _in_functions(tree: ast.Module) -> Iterator[ast.AST]:
    seen: set[int] = set()
    for fn in _functions(tree):
        for node in ast.walk(fn):
            if id(node) not in seen:
                seen.add(id(node))
                yield node


def _comparison_flip(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for node in _in_functions(tree):
        if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
            continue
        flip = _FLIP.get(type(node.ops[0]))
        left, right = node.left, node.comparators[0]
        if flip is None or left.end_lineno != right.lineno or left.end_col_offset is None:
            continue
        a, b = ed.at(left.end_lineno, left.end_col_offset), ed.at(right.lineno, right.col_offset)
        gap = ed.text(a, b)
        if gap.strip() != flip[0]:
            continue
        new = gap.replace(flip[0], flip[1])
        yield node.lineno, ed.replace(a, b, new), f"{flip[0]} became {flip[1]}"


def _int_constants(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in _in_functions(tree):
        if isinstance(node, ast.Compare | ast.BinOp | ast.Subscript | ast.Call):
            for child in ast.iter_child_nodes(node):
                targets = child.elts if isinstance(child, ast.Tuple) else [child]
                for target in targets:
                    if isinstance(target, ast.Constant) and type(target.value) is int:
                        yield target
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
                for part in (node.slice.lower, node.slice.upper):
                    if isinstance(part, ast.Constant) and type(part.value) is int:
                        yield part


def _off_by_one(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for node in _int_constants(tree):
        assert node.end_col_offset is not None
        a, b = ed.at(node.lineno, node.col_offset), ed.at(node.lineno, node.end_col_offset)
        if ed.text(a, b) != str(node.value):
            continue
        yield (
            node.lineno,
            ed.replace(a, b, str(node.value + 1)),
            f"{node.value} became {node.value + 1}",
        )


def _wrong_constant(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
        and n.body
        and isinstance(n.body[0], ast.Expr)
    }
    for node in _in_functions(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        assert node.end_col_offset is not None
        if node.lineno != node.end_lineno:
            continue
        a, b = ed.at(node.lineno, node.col_offset), ed.at(node.lineno, node.end_col_offset)
        shown = ed.text(a, b)
        if node.value is True or node.value is False:
            new = str(not node.value)
        elif isinstance(node.value, str) and 0 < len(node.value) <= 20 and shown[-1] in "'\"":
            new = shown[:-1] + "?" + shown[-1]  # one more character than the project expects
        else:
            continue
        yield node.lineno, ed.replace(a, b, new), f"{shown} became {new}"


_REMOVABLE = (ast.Assign, ast.AugAssign, ast.Expr, ast.Return, ast.Raise, ast.AnnAssign)


def _removed_statement(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for fn in _functions(tree):
        body = fn.body
        for i, stmt in enumerate(body):
            if not isinstance(stmt, _REMOVABLE) or stmt.lineno != stmt.end_lineno:
                continue
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring
            if len(body) < 2:
                continue
            assert stmt.end_col_offset is not None
            a, b = ed.at(stmt.lineno, stmt.col_offset), ed.at(stmt.lineno, stmt.end_col_offset)
            gone = ed.text(a, b)
            if ";" in gone:
                continue
            yield stmt.lineno, ed.replace(a, b, "pass"), f"removed `{gone[:50]}`"


def _swapped_arguments(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for node in _in_functions(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        x, y = node.args[0], node.args[1]
        if isinstance(x, ast.Starred) or isinstance(y, ast.Starred):
            continue
        if x.lineno != x.end_lineno or y.lineno != y.end_lineno or x.lineno != y.lineno:
            continue
        assert x.end_col_offset is not None and y.end_col_offset is not None
        xa, xb = ed.at(x.lineno, x.col_offset), ed.at(x.lineno, x.end_col_offset)
        ya, yb = ed.at(y.lineno, y.col_offset), ed.at(y.lineno, y.end_col_offset)
        xs, ys = ed.text(xa, xb), ed.text(ya, yb)
        if xs == ys:
            continue
        swapped = ed.replace(xa, yb, ys + ed.text(xb, ya) + xs)
        yield node.lineno, swapped, f"swapped {xs[:20]} and {ys[:20]}"


def _broken_import(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.names and stmt.names[0].name != "*":
            alias = stmt.names[0]
            if alias.lineno is None or alias.end_col_offset is None or stmt.module == "__future__":
                continue
            a = ed.at(alias.lineno, alias.col_offset)
            b = a + len(alias.name.encode("utf-8"))
            if ed.text(a, b) != alias.name:
                continue
            yield stmt.lineno, ed.replace(a, b, alias.name + "_gone"), f"imports {alias.name}_gone"
        elif isinstance(stmt, ast.Import) and stmt.names[0].name.isidentifier():
            alias = stmt.names[0]
            a = ed.at(alias.lineno, alias.col_offset)
            b = a + len(alias.name.encode("utf-8"))
            if ed.text(a, b) == alias.name:
                what = f"imports {alias.name}_gone"
                yield stmt.lineno, ed.replace(a, b, alias.name + "_gone"), what


def _syntax_error(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for fn in _functions(tree):
        first = fn.body[0]
        # The colon before the body, on the def's last line: dropping it breaks the module.
        line = first.lineno - 1 if first.lineno > fn.lineno else fn.lineno
        text = ed.text(ed.at(line, 0), ed.at(line + 1, 0))
        stripped = text.rstrip("\r\n")
        if stripped.rstrip().endswith(":") and first.lineno > fn.lineno:
            cut = stripped.rstrip()
            a = ed.at(line, 0) + len(cut.encode("utf-8")) - 1
            yield line, ed.replace(a, a + 1, ""), "dropped the colon of `def`"


def _lint_error(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    # F841 (a local assigned and never used): no test notices it, and ruff's fix for it is
    # unsafe, so only an agent (or a reviewer) removes it.
    for fn in _functions(tree):
        first = fn.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if len(fn.body) < 2:
                continue
            first = fn.body[1]
        if first.lineno == fn.lineno:
            continue
        a = ed.at(first.lineno, 0)
        indent = " " * first.col_offset
        added = f"{indent}unused_result = {first.col_offset}\n"
        yield first.lineno, ed.replace(a, a, added), "added `unused_result = ...` (F841)"


def _formatting(tree: ast.Module, ed: _Editor) -> Iterator[tuple[int, str, str]]:
    for node in _in_functions(tree):
        if isinstance(node, ast.Assign) and node.lineno == node.end_lineno:
            target = node.targets[0]
            assert target.end_col_offset is not None
            a = ed.at(target.end_lineno or node.lineno, target.end_col_offset)
            b = ed.at(node.value.lineno, node.value.col_offset)
            if ed.text(a, b) == " = ":
                yield node.lineno, ed.replace(a, b, "="), "`x = y` became `x=y`"


_FINDERS: dict[str, Callable[[ast.Module, _Editor], Iterator[tuple[int, str, str]]]] = {
    "comparison-flip": _comparison_flip,
    "off-by-one": _off_by_one,
    "wrong-constant": _wrong_constant,
    "removed-statement": _removed_statement,
    "swapped-arguments": _swapped_arguments,
    "broken-import": _broken_import,
    "syntax-error": _syntax_error,
    "lint-error": _lint_error,
    "formatting": _formatting,
}


def candidates(operator: str, path: str, source: str) -> Iterator[Mutation]:
    """The mutations `operator` can make of `source` (the file at `path`), in file order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    ed = _Editor(source)
    found = sorted(_FINDERS[operator](tree, ed), key=lambda m: m[0])
    for line, after, what in found:
        if after != source:
            yield Mutation(operator, path, line, source, after, f"line {line}: {what}")
