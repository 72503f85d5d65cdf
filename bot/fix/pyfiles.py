"""The repository's Python files, read safely and resolved by name, for bot.fix.source.

Reads only regular files under the repository root: never through a symlink that leaves
it, never under .git, never a file over MAX_FILE_BYTES. Unreadable or unparsable files
count as absent; the failure digest already says what is wrong with them.
"""

from __future__ import annotations

import ast
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeAlias

Definition: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
Function: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef

MAX_FILE_BYTES = 1_000_000
_MAX_INDEXED_FILES = 5000
_MAX_HOPS = 4  # re-exports and base classes followed before giving up
# Where the project's own library code is not: tests, environments, build output.
_NOT_LIBRARY_DIRS = frozenset(
    {
        "venv",
        "env",
        "build",
        "dist",
        "node_modules",
        "__pycache__",
        "site-packages",
        "dist-packages",
        "tests",
        "test",
        "testing",
    }
)
_TOP_LEVEL_DEF = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+(\w+)", re.MULTILINE)


def is_test_module(rel: str) -> bool:
    """A module pytest collects by default (test_*.py, *_test.py)."""
    name = PurePosixPath(rel).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def package_of(rel: str) -> str:
    """The dotted package a file's relative imports start from: a/b/c.py -> a.b."""
    return ".".join(PurePosixPath(rel).parent.parts)


def module_of(rel: str) -> str | None:
    """The module a file is: `pkg/mod.py` (or `src/pkg/mod.py`) -> `pkg.mod`, `pkg/__init__.py`
    -> `pkg`; None for a file no import can name."""
    if not rel.endswith(".py"):
        return None
    parts = rel[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    if parts[:1] == ["src"]:
        parts.pop(0)
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


_FROM = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.M)


def imported_modules(text: str) -> set[str]:
    """The absolute modules a file's import lines name (for `from X import a`, X and X.a: a
    may be a submodule), read from the text without parsing it: cheap enough for every test
    file of a large suite, where imports_of parses one module to resolve its names."""
    names: set[str] = set()
    for match in _FROM.finditer(text):
        base = match.group(1)
        if base.startswith("."):
            continue  # relative: the file's own package
        names.add(base)
        for item in match.group(2).strip("()").split(","):
            words = item.split()
            if words and words[0].isidentifier():
                names.add(f"{base}.{words[0]}")
    for match in _IMPORT.finditer(text):
        for item in match.group(1).split(","):
            words = item.split()
            if words:
                names.add(words[0])
    return names


@dataclass(frozen=True)
class Module:
    """One parsed file: its repo-relative path, lines, top-level definitions and imports."""

    rel: str
    lines: tuple[str, ...]
    tree: ast.Module
    defs: dict[str, Definition]
    imports: dict[str, str]  # local name -> absolute dotted name it stands for
    assigned: frozenset[str]  # other module-level names: `helper = partial(...)`, constants


@dataclass(frozen=True)
class Found:
    """A definition found in the repo, with the name a reader would search for."""

    module: Module
    node: Definition
    qualname: str


def _statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those under if/try/with (version checks, guards)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _statements(node.body)
            yield from _statements(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _statements(block)
            for handler in node.handlers:
                yield from _statements(handler.body)


def _absolute(module: str | None, level: int, package: str) -> str | None:
    """The absolute dotted name of `from <level dots><module> import ...` inside `package`."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, *([module] if module else [])])


def imports_of(body: Iterable[ast.stmt], package: str) -> dict[str, str]:
    """What each imported name stands for, as an absolute dotted name."""
    found: dict[str, str] = {}
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                found[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base is None:
                continue
            for alias in node.names:
                if alias.name != "*":
                    name = f"{base}.{alias.name}" if base else alias.name
                    found[alias.asname or alias.name] = name
    return found


def _parse(text: str) -> ast.Module | None:
    try:
        # A file's own SyntaxWarnings (invalid escapes) are not ours to report.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class RepoPython:
    """The repository's Python files, parsed lazily and at most once each."""

    def __init__(self, repo: Path) -> None:
        self.root = repo.resolve()
        self._modules: dict[str, Module | None] = {}
        self._index: dict[str, list[str]] | None = None
        self._names: set[str] = set()  # directory names and module stems in the index

    def read(self, rel: str) -> str | None:
        """The text of repo/rel with \\n line ends; None if it is not a small file inside."""
        path = PurePosixPath(rel)
        if not rel or path.is_absolute() or ".." in path.parts or ".git" in path.parts:
            return None
        try:
            target = (self.root / rel).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        # A symlink may point anywhere; only what stays inside the checkout is read.
        if not target.is_relative_to(self.root) or ".git" in target.relative_to(self.root).parts:
            return None
        try:
            if not target.is_file():
                return None
            with target.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError:
            return None
        if len(data) > MAX_FILE_BYTES:
            return None
        text = data.decode("utf-8-sig", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def module(self, rel: str) -> Module | None:
        """The parsed module at repo/rel, or None."""
        if rel not in self._modules:
            self._modules[rel] = self._load(rel)
        return self._modules[rel]

    def _load(self, rel: str) -> Module | None:
        text = self.read(rel)
        tree = _parse(text) if text is not None else None
        if text is None or tree is None:
            return None
        statements = list(_statements(tree.body))
        defs: dict[str, Definition] = {
            node.name: node
            for node in statements
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
        targets = [
            name.id
            for node in statements
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.For)
            for name in ast.walk(node)
            if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store)
        ]
        return Module(
            rel=rel,
            lines=tuple(text.split("\n")),
            tree=tree,
            defs=defs,
            imports=imports_of(statements, package_of(rel)),
            assigned=frozenset(targets),
        )

    def module_named(self, dotted: str) -> Module | None:
        """The module `dotted` (pkg.mod) under the repo root or under src/."""
        path = "/".join(dotted.split("."))
        for base in ("", "src/"):
            for rel in (f"{base}{path}.py", f"{base}{path}/__init__.py"):
                found = self.module(rel)
                if found is not None:
                    return found
        return None

    # -- following names --------------------------------------------------------------

    def resolve(self, dotted: str, hops: int = 0) -> Found | None:
        """The definition `pkg.mod.name` or `pkg.mod.Class.method` stands for, if in the repo."""
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self.module_named(".".join(parts[:cut]))
            if module is not None:
                return self.lookup(module, parts[cut:], hops)
        return None

    def lookup(self, module: Module, names: list[str], hops: int = 0) -> Found | None:
        """`name`, `Class.method` or `imported.name` as seen from `module`, if in the repo."""
        if hops > _MAX_HOPS or not names:
            return None
        node = module.defs.get(names[0])
        if node is None:
            target = module.imports.get(names[0])
            if target is None:
                return None
            return self.resolve(".".join([target, *names[1:]]), hops + 1)
        if len(names) == 1:
            return Found(module, node, node.name)
        if len(names) == 2 and isinstance(node, ast.ClassDef):
            return self.method(module, node, names[1], hops)
        return None

    def method(self, module: Module, cls: ast.ClassDef, name: str, hops: int = 0) -> Found | None:
        """`cls.name`, defined in the class or, failing that, in a base class in the repo."""
        for node in cls.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return Found(module, node, f"{cls.name}.{name}")
        for base in cls.bases:
            dotted = ast.unparse(base)
            if not re.fullmatch(r"\w+(?:\.\w+)*", dotted):
                continue  # Generic[T], a call: not a plain name to follow
            found = self.lookup(module, dotted.split("."), hops + 1)
            if found is not None and isinstance(found.node, ast.ClassDef):
                inherited = self.method(found.module, found.node, name, hops + 1)
                if inherited is not None:
                    return inherited
        return None

    # -- the fallback: top-level definitions by name ----------------------------------

    def _build_index(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        seen = 0
        for here, dirs, files in os.walk(self.root):
            dirs[:] = sorted(
                d
                for d in dirs
                if not d.startswith(".")
                and d not in _NOT_LIBRARY_DIRS
                and not (Path(here) / d / "pyvenv.cfg").exists()
            )
            rel_dir = Path(here).relative_to(self.root).as_posix()
            for name in sorted(files):
                if not name.endswith(".py") or is_test_module(name) or name == "conftest.py":
                    continue
                seen += 1
                if seen > _MAX_INDEXED_FILES:
                    return index
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                self._names.update(PurePosixPath(rel).with_suffix("").parts)
                for match in _TOP_LEVEL_DEF.finditer(self.read(rel) or ""):
                    index.setdefault(match.group(1), []).append(rel)
        return index

    def defines_package(self, name: str) -> bool:
        """Some library file of the repo lives in a folder, or a module, called `name`."""
        if self._index is None:
            self._index = self._build_index()
        return name in self._names

    def by_name(self, name: str) -> Found | None:
        """The one top-level definition called `name` in the repo's library code, if only one."""
        if self._index is None:
            self._index = self._build_index()
        found = [
            Found(module, node, name)
            for rel in dict.fromkeys(self._index.get(name, []))
            if (module := self.module(rel)) is not None
            and (node := module.defs.get(name)) is not None
        ]
        return found[0] if len(found) == 1 else None
