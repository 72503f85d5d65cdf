"""The source an agent should see first: each failing test, what it calls, where it fails.

Pure apart from reading the repository's Python files through bot.fix.pyfiles (inside the
repo only, never .git, nothing over 1 MB). Unreadable or unparsable files are skipped: the
failure digest already carries their error.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.fix.pyfiles import (
    Definition,
    Found,
    Module,
    RepoPython,
    imports_of,
    is_test_module,
    package_of,
)
from bot.guard.sanitize import sanitize
from bot.render.text import fence, md_code
from bot.report import Failure

TEST = "failing test"
CALLED = "called by the test"
FAILS_HERE = "where it fails"

_MAX_FAILURES = 50  # distinct failures looked at; more would not fit any sane budget
_MIN_LINES_SHOWN = 3  # a truncated snippet shorter than this says too little
_LONG_CLASS = 60  # lines; a test that makes one of these is shown its __init__ instead
_BUILTINS = frozenset(dir(builtins))


@dataclass
class _Pick:
    """A span of a file to show, and why (several reasons when several lead to it)."""

    rel: str
    start: int
    end: int
    qualname: str
    roles: list[str]


# -- what to show ---------------------------------------------------------------------


def _span(node: Definition) -> tuple[int, int]:
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return start, node.end_lineno or node.lineno


def _add(picks: list[_Pick], found: Found, role: str) -> None:
    """Add a definition, or a reason to one already shown; a span never shows twice."""
    start, end = _span(found.node)
    rel = found.module.rel
    same_file = [p for p in picks if p.rel == rel]
    for pick in same_file:
        if pick.start <= start and end <= pick.end:
            if role not in pick.roles:
                pick.roles.append(role)
            return
    inside = [p for p in same_file if start <= p.start and p.end <= end]
    roles = list(dict.fromkeys([r for p in inside for r in p.roles] + [role]))
    new = _Pick(rel, start, end, found.qualname, roles)
    if not inside:
        picks.append(new)
        return
    # The bigger span takes the place of the first one it swallows: that is its relevance.
    picks[picks.index(inside[0])] = new
    for pick in inside[1:]:
        picks.remove(pick)


def _parse_test_id(test_id: str) -> tuple[str, list[str]]:
    """("path/test_x.py", ["Class", "test_name"]) from "path/test_x.py::Class::test_name[p]"."""
    path, _, rest = test_id.partition("::")
    # Parameters come last and may hold anything, "::" included; names hold no "[".
    names = rest.split("[", 1)[0]
    return path, [n for n in names.split("::") if n]


def _find_test(
    repo: RepoPython, module: Module, names: list[str]
) -> tuple[Found, Found | None] | None:
    """The test function or method the node id's names lead to, and its class if any."""
    if len(names) == 1:
        node = module.defs.get(names[0])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return Found(module, node, node.name), None
        return None
    cls = module.defs.get(names[0])
    qualname = names[0]
    for name in names[1:-1]:  # Class::Nested::test
        if not isinstance(cls, ast.ClassDef):
            return None
        cls = next((n for n in cls.body if isinstance(n, ast.ClassDef) and n.name == name), None)
        qualname += f".{name}"
    if not isinstance(cls, ast.ClassDef):
        return None
    method = repo.method(module, cls, names[-1])  # perhaps inherited from a base class
    if method is None:
        return None
    test = Found(method.module, method.node, f"{qualname}.{names[-1]}")
    return test, Found(module, cls, qualname)


def _chain(expr: ast.expr) -> list[str] | None:
    """["m", "f"] for `m.f`, ["Cls", "m"] for `Cls(...).m`; None for anything else."""
    attrs: list[str] = []
    while isinstance(expr, ast.Attribute):
        attrs.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Call):
        inner = _chain(expr.func)
        return None if inner is None else [*inner, *reversed(attrs)]
    if isinstance(expr, ast.Name):
        return [expr.id, *reversed(attrs)]
    return None


def _binding(node: ast.AST) -> tuple[ast.expr | None, ast.expr | None]:
    """(target, value) of `x = v`, `x: T = v` and `with v as x`."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        return node.targets[0], node.value
    if isinstance(node, ast.AnnAssign):
        return node.target, node.value
    if isinstance(node, ast.withitem):
        return node.optional_vars, node.context_expr
    return None, None


def _locals(func: Definition) -> tuple[set[str], dict[str, list[str]]]:
    """Names bound inside the test, and for `x = Cls(...)` what made x."""
    bound: set[str] = set()
    made: dict[str, list[str]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        target, value = _binding(node)
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            maker = _chain(value.func)
            if maker is not None:
                made[target.id] = maker
    return bound, made


def _used_names(func: Definition, imported: dict[str, str]) -> list[list[str]]:
    """What the test calls, and imported names it only passes around, in source order."""
    nodes = list(ast.walk(func))
    # A name that starts a call or an attribute is part of a longer chain, seen as that.
    in_chain = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    in_chain |= {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}
    used: list[tuple[int, int, list[str]]] = []
    for node in nodes:
        if isinstance(node, ast.Call) and (chain := _chain(node.func)) is not None:
            used.append((node.lineno, node.col_offset, chain))
        elif isinstance(node, ast.Name) and node.id in imported and id(node) not in in_chain:
            used.append((node.lineno, node.col_offset, [node.id]))
    return [chain for _, _, chain in sorted(used, key=lambda u: (u[0], u[1]))]


def _by_name(repo: RepoPython, name: str, rest: list[str]) -> Found | None:
    """The fallback: `name` (or `name.rest`) as the one top-level definition of that name."""
    found = repo.by_name(name)
    if not rest:
        return found
    if len(rest) == 1 and found is not None and isinstance(found.node, ast.ClassDef):
        return repo.method(found.module, found.node, rest[0])
    # `m.f()` with m a module the layout did not lead to: f itself.
    return repo.by_name(rest[0]) if len(rest) == 1 and found is None else None


@dataclass(frozen=True)
class _Scope:
    """What names mean inside one test function."""

    module: Module  # where the test function is written
    owner: Found | None  # the test's class, for self.helper()
    imported: dict[str, str]
    bound: set[str]  # arguments (fixtures) and local variables
    made: dict[str, list[str]]  # x -> Cls for `x = Cls(...)`


def _meaning(repo: RepoPython, scope: _Scope, chain: list[str]) -> Found | None:
    """The repo definition a called chain such as f, m.f, obj.method stands for, if known."""
    head, rest = chain[0], chain[1:]
    if head in scope.made:
        head, *rest = [*scope.made[head], *rest]
    elif head in ("self", "cls"):
        owner = scope.owner
        if owner is None or not isinstance(owner.node, ast.ClassDef) or len(rest) != 1:
            return None
        return repo.method(owner.module, owner.node, rest[0])
    elif head in scope.bound or head in scope.module.assigned:
        return None  # a fixture or a value: what it is is not known here
    if head in scope.module.defs:
        return repo.lookup(scope.module, [head, *rest])
    if head in scope.imported:
        target = scope.imported[head]
        found = repo.resolve(".".join([target, *rest]))
        if found is None and repo.defines_package(target.split(".")[0]):
            found = _by_name(repo, target.split(".")[-1], rest)  # a layout we do not know
        return found
    return _by_name(repo, head, rest) if head not in _BUILTINS else None  # a star import


def _callees(repo: RepoPython, test: Found, owner: Found | None) -> Iterator[Found]:
    """The repo's definitions the test calls, where they can be told apart from others."""
    module, func = test.module, test.node
    inner = [n for n in ast.walk(func) if isinstance(n, ast.stmt)]
    imported = {**module.imports, **imports_of(inner, package_of(module.rel))}
    bound, made = _locals(func)
    scope = _Scope(module, owner, imported, bound, made)
    for chain in _used_names(func, imported):
        found = _meaning(repo, scope, chain)
        if found is not None and isinstance(found.node, ast.ClassDef):
            start, end = _span(found.node)
            if end - start >= _LONG_CLASS:
                # The methods it calls come on their own; the whole class would crowd them out.
                found = repo.method(found.module, found.node, "__init__") or found
        if found is not None:
            yield found


def _enclosing(module: Module, line: int) -> Found | None:
    """The innermost function around `line`, named as Class.method or outer.inner."""
    best: Found | None = None

    def visit(node: ast.AST, prefix: str) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                start, end = _span(child)
            else:
                start = getattr(child, "lineno", line)
                end = getattr(child, "end_lineno", None) or line
            if not start <= line <= end:
                continue  # only the path down to the line is walked, not the whole file
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                qual = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    best = Found(module, child, qual)
                visit(child, qual + ".")
            else:
                visit(child, prefix)

    visit(module.tree, "")
    return best


def _test_module(repo: RepoPython, failure: Failure, path: str) -> Module | None:
    # pytest names tests relative to its rootdir, which may be a folder inside the repo.
    candidates = [path]
    if failure.file and failure.file.endswith(f"/{path}"):
        candidates.append(failure.file)
    return next((m for p in candidates if (m := repo.module(p)) is not None), None)


def _picks(repo: RepoPython, failures: Sequence[Failure]) -> list[_Pick]:
    picks: list[_Pick] = []
    seen: set[tuple[str, str | None, int | None]] = set()
    frames: dict[tuple[str, int], Found | None] = {}  # many tests often fail in one place
    for failure in failures:
        if not failure.test_id or (failure.test_id, failure.file, failure.line) in seen:
            continue
        seen.add((failure.test_id, failure.file, failure.line))
        if len(seen) > _MAX_FAILURES:
            break
        path, names = _parse_test_id(failure.test_id)
        module = _test_module(repo, failure, path)
        found_test = _find_test(repo, module, names) if module is not None and names else None
        if found_test is not None:
            test, owner = found_test
            _add(picks, test, TEST)
            for found in _callees(repo, test, owner):
                _add(picks, found, CALLED)
        if failure.file and failure.line and not is_test_module(failure.file):
            at = (failure.file, failure.line)
            if at not in frames:
                where = repo.module(failure.file)
                frames[at] = _enclosing(where, failure.line) if where is not None else None
            if (frame := frames[at]) is not None:
                _add(picks, frame, FAILS_HERE)
    return picks


# -- how it reads ---------------------------------------------------------------------


def _numbered(lines: Sequence[str], start: int) -> list[str]:
    width = len(str(start + len(lines) - 1))
    return [
        f"{start + i:>{width}} | {line}" if line else f"{start + i:>{width}} |"
        for i, line in enumerate(lines)
    ]


def _block(header: str, body: list[str]) -> str:
    return f"{header}\n\n{fence(chr(10).join(body), 'python')}"


@dataclass(frozen=True)
class _Shown:
    text: str
    cut: bool


def _render(repo: RepoPython, pick: _Pick, room: int) -> _Shown | None:
    """The snippet as Markdown within `room` characters (its end cut if need be), else None."""
    module = repo.module(pick.rel)
    if module is None:
        return None
    raw = "\n".join(module.lines[pick.start - 1 : pick.end])
    # sanitize() keeps line breaks, so the numbers still match the file.
    body = _numbered(sanitize(raw).split("\n"), pick.start)
    header = (
        f"### {md_code(sanitize(f'{pick.rel}:{pick.start}-{pick.end}'))}"
        f" ({' and '.join(pick.roles)}): {md_code(sanitize(pick.qualname))}"
    )
    whole = _block(header, body)
    if len(whole) <= room:
        return _Shown(whole, cut=False)
    # Keep the most lines that fit; the fence can only get shorter as lines go.
    kept, size = len(body), len(whole)
    while kept > _MIN_LINES_SHOWN:
        kept -= 1
        size -= len(body[kept]) + 1
        marker = f"[... lines {pick.start + kept}-{pick.end} cut ...]"
        if size + len(marker) + 1 <= room:
            cut = _block(header, [*body[:kept], marker])
            return _Shown(cut, cut=True) if len(cut) <= room else None
    return None


def related_source(repo: Path, failures: Sequence[Failure], budget_chars: int) -> str:
    """Markdown: each failing test's source, what it calls and where it fails, numbered.

    The test comes first, then what it calls, then the function the failure was raised
    in; within `budget_chars`, whole snippets are left out first, then the last is cut short.
    """
    python = RepoPython(repo)
    blocks: list[str] = []
    left = budget_chars
    for pick in _picks(python, failures) if budget_chars > 0 else []:
        shown = _render(python, pick, left)
        if shown is None:
            break
        blocks.append(shown.text)
        left -= len(shown.text) + 2  # the blank line before the next snippet
        if shown.cut:
            break
    return "\n\n".join(blocks)
