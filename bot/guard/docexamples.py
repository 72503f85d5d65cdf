"""The doctest examples a file holds, found from its syntax tree, never by importing it (pure).

pytest's --doctest-modules imports each module and runs doctest's DocTestFinder over it: the
docstrings of the module, of its classes, functions, methods and properties (recursively through
classes, never inside functions), and the strings of a module-level `__test__` dict. This finds
the same docstrings by walking the statements an import would run, and parses each with
doctest's own DocTestParser. Text files (--doctest-glob) are one docstring each.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections import Counter
from dataclasses import dataclass, field

from bot.guard.outcomes import skip_name
from bot.guard.pynames import TRY_STATEMENTS, Names

# pytest registers these when its doctest plugin loads; a project's examples may use them.
for _flag in ("ALLOW_UNICODE", "ALLOW_BYTES", "NUMBER"):
    doctest.register_optionflag(_flag)
_DIRECTIVE = re.compile(r"#\s*doctest:.*$", re.MULTILINE)
Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class Unreadable(ValueError):
    """A file whose doctests cannot be read: it does not decode, parse, or its examples are
    malformed (pytest fails to collect them)."""


class Unparsed(Unreadable):
    """A module that is not Python at all (its test code, if any, is reported as such)."""


@dataclass(frozen=True)
class Example:
    """One `>>>` example: what it runs (normalised), what it expects, and its directives."""

    key: str  # the source's syntax tree, so formatting and directive comments do not count
    source: str  # the source as written, for messages
    want: str
    exc_msg: str | None
    options: dict[str, bool]  # directive name -> on (+NAME) or off (-NAME)
    tree: ast.Module | None = field(default=None, compare=False, repr=False)


@dataclass
class Doctests:
    """Every docstring owner's examples in one file, and what could hide them at run time."""

    owners: dict[str, list[Example]] = field(default_factory=dict)  # "" is the module (or text)
    decorators: dict[str, str] = field(default_factory=dict)  # owner -> its decorators' dump
    hiders: Counter[str] = field(default_factory=Counter)  # `__doc__ = ...`, `__test__ = False`
    entries: Counter[str] = field(default_factory=Counter)  # __test__ keys whose value is no str
    module_skips: Counter[str] = field(default_factory=Counter)  # skips run on import
    imports: list[ast.stmt] = field(default_factory=list, repr=False)

    @property
    def count(self) -> int:
        return sum(len(examples) for examples in self.owners.values())


_FLAG_NAMES = {value: name for name, value in doctest.OPTIONFLAGS_BY_NAME.items()}


def _key(source: str) -> tuple[str, ast.Module | None]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return " ".join(_DIRECTIVE.sub("", source).split()), None
    return ast.dump(tree), tree


def examples(text: str, name: str) -> list[Example]:
    """The examples of one docstring; Unreadable when doctest itself rejects them."""
    try:
        found = doctest.DocTestParser().get_examples(text, name)
    except ValueError as exc:  # what pytest reports as a collection error
        raise Unreadable(str(exc).splitlines()[0][:160]) from exc
    return [
        Example(
            key=key,
            source=_DIRECTIVE.sub("", e.source).strip(),
            want=e.want,
            exc_msg=e.exc_msg,
            options={_FLAG_NAMES.get(f, str(f)): on for f, on in e.options.items()},
            tree=tree,
        )
        for e in found
        for key, tree in [_key(e.source)]
    ]


def example_skips(doctests: Doctests, owner: str, example: Example) -> list[str]:
    """Skip or exit names `example`'s code reaches, through the module's imports and the
    names the owner's other examples bind (they share one namespace)."""
    if example.tree is None:
        return []
    trees = [e.tree for e in doctests.owners.get(owner, []) if e.tree is not None]
    body = [*doctests.imports, *(stmt for tree in trees for stmt in tree.body)]
    names = Names(ast.Module(body=body, type_ignores=[]))
    return [n for node in ast.walk(example.tree) if (n := skip_name(node, names)) is not None]


def _branches(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The blocks of a compound statement an import may run (not `if False:` and the like)."""
    if isinstance(stmt, ast.If):
        test = stmt.test
        if isinstance(test, ast.Constant):
            return [stmt.body if test.value else stmt.orelse]
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            return [stmt.orelse]
        if _is_main_check(test):
            return [stmt.orelse]
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, TRY_STATEMENTS):
        return [stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody]
    if isinstance(stmt, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While):
        return [stmt.body, getattr(stmt, "orelse", [])]
    if isinstance(stmt, ast.Match):
        return [case.body for case in stmt.cases]
    return []


def _is_main_check(test: ast.expr) -> bool:
    """`__name__ == "__main__"`: true when run as a script, never on import."""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.ops[0], ast.Eq)
        and {ast.unparse(test.left), ast.unparse(test.comparators[0])} == {"__name__", "'__main__'"}
    )


def _accessor(node: Def) -> bool:
    """`@name.setter` (or .deleter, .getter) on a `def name`: it extends the property `name`."""
    return not isinstance(node, ast.ClassDef) and any(
        isinstance(d, ast.Attribute)
        and d.attr in ("setter", "deleter", "getter")
        and isinstance(d.value, ast.Name)
        and d.value.id == node.name
        for d in node.decorator_list
    )


def _rebinds(stmt: ast.stmt) -> list[str]:
    """Plain names a statement rebinds or deletes: `Owner = None` hides Owner's docstring."""
    if isinstance(stmt, ast.Assign | ast.Delete):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and stmt.value is not None:
        targets = [stmt.target]
    else:
        return []
    flat = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple | ast.List) else [t])]
    return [t.id for t in flat if isinstance(t, ast.Name)]


class _Walk:
    def __init__(self) -> None:
        self.found = Doctests()
        self.run_on_import: list[ast.stmt] = []  # module-level simple statements

    def docstring(self, owner: str, text: str | None) -> None:
        if text and ">>>" in text:
            try:
                self.found.owners[owner] = examples(text, owner or "module")
            except Unreadable as exc:
                raise Unreadable(f"{owner or 'the module docstring'}: {exc}") from exc

    def drop(self, owner: str) -> None:
        for key in [k for k in self.found.owners if k == owner or k.startswith(owner + ".")]:
            del self.found.owners[key]

    def body(self, stmts: list[ast.stmt], prefix: str, *, module: bool) -> None:
        for stmt in stmts:
            if isinstance(stmt, Def):
                owner = prefix + stmt.name
                if _accessor(stmt):
                    continue  # `@x.setter def x`: the property keeps the getter's docstring
                self.drop(owner)  # a later definition replaces an earlier one
                self.docstring(owner, ast.get_docstring(stmt, clean=False))
                self.found.decorators[owner] = str([ast.dump(d) for d in stmt.decorator_list])
                if isinstance(stmt, ast.ClassDef):
                    self.body(stmt.body, f"{prefix}{stmt.name}.", module=False)
                continue
            for name in _rebinds(stmt):
                if name != "__test__":
                    self.drop(prefix + name)
            if module and not _branches(stmt):
                self.module_level(stmt)
            for block in _branches(stmt):
                self.body(block, prefix, module=module)

    def module_level(self, stmt: ast.stmt) -> None:
        """A simple statement an import runs: `__test__`, or a skip (it skips every doctest)."""
        self.run_on_import.append(stmt)
        if not any(isinstance(n, ast.Name) and n.id == "__test__" for n in ast.walk(stmt)):
            return
        value = stmt.value if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        if not isinstance(value, ast.Dict) or not isinstance(stmt, ast.Assign):
            self.found.hiders[ast.unparse(stmt)] += 1
            self.drop("__test__")
            return
        self.drop("__test__")
        for key, item in zip(value.keys, value.values, strict=True):
            name = (
                key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
            )
            name = name if name is not None else ast.unparse(key or item)
            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                self.docstring(f"__test__.{name}", item.value)
            else:
                self.found.entries[f"__test__.{name}"] += 1


def _doc_assignments(tree: ast.Module) -> Counter[str]:
    """Statements anywhere that assign or delete a `__doc__`: they replace a docstring."""
    found = Counter[str]()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        else:
            continue
        if any(getattr(t, "id", getattr(t, "attr", None)) == "__doc__" for t in targets):
            found[ast.unparse(node)] += 1
    return found


def module_doctests(data: bytes) -> Doctests:
    """The doctests of a Python module's bytes (the coding cookie is honoured)."""
    try:
        tree = ast.parse(data)
    except SyntaxError as exc:
        raise Unparsed(f"line {exc.lineno}: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Unparsed(type(exc).__name__) from exc
    try:
        walk = _Walk()
        walk.docstring("", ast.get_docstring(tree, clean=False))
        walk.body(tree.body, "", module=True)
        # The examples run in the module's globals: its top-level imports name what they call.
        run = walk.run_on_import
        walk.found.imports = [s for s in run if isinstance(s, ast.Import | ast.ImportFrom)]
        names = Names(ast.Module(body=run, type_ignores=[]))
        walk.found.module_skips.update(
            name for stmt in run for node in ast.walk(stmt) if (name := skip_name(node, names))
        )
        if b"__doc__" in data:  # a whole walk is most of the cost on a large module
            walk.found.hiders.update(_doc_assignments(tree))
    except RecursionError as exc:
        raise Unreadable("nested too deeply to be checked") from exc
    return walk.found


def text_doctests(data: bytes) -> Doctests:
    """The doctests of a text file pytest collects (--doctest-glob), read as UTF-8 as pytest does."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return Doctests(owners={"": examples(text, "the file")} if ">>>" in text else {})
