"""The tool versions a project pins, read from its files (pure: nothing is run or installed).

A project whose CI lints with ruff 0.4 accepts code that ruff 0.17 flags; the gate must run
the ruff the project's own CI runs, or it "heals" lint the project never asked for. The pin
is looked for where projects keep it, most specific first: the pre-commit hook (what CI's
lint job usually runs), a lock file (what a range resolved to), an exact pin in
pyproject.toml, a requirements file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import toml

# Only plain release numbers: the version goes into an install command, and a file of the
# repository must not be able to put anything else there.
_VERSION = re.compile(r"\d{1,4}(?:\.\d{1,4}){1,3}")
_PRE_COMMIT_FILES = (".pre-commit-config.yaml", ".pre-commit-config.yml")
_LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock")
_REQUIREMENTS_GLOBS = (
    "requirements*.txt",
    "*requirements*.txt",
    "requirements/*.txt",
    "requirements*/*.txt",
)
_MAX_BYTES = 4 * 1024 * 1024  # a lock file larger than this is not read


@dataclass(frozen=True)
class ToolPin:
    """`tool` at exactly `version`, as `source` (a file, and where in it) says."""

    tool: str
    version: str
    source: str


def find_pin(repo: Path, tool: str = "ruff") -> ToolPin | None:
    """The version of `tool` the project pins, or None when it pins none exactly."""
    for finder in (_pre_commit, _lock_files, _pyproject, _requirements):
        for version, source in finder(repo, tool):
            if _VERSION.fullmatch(version):
                return ToolPin(tool=tool, version=version, source=source)
    return None


def _read(path: Path) -> str:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            return ""
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _toml(path: Path) -> dict[str, Any]:
    try:
        return toml.loads(_read(path))
    except toml.TOMLDecodeError:
        return {}  # a broken file pins nothing; the tool will say what is wrong with it


# --- .pre-commit-config.yaml ---------------------------------------------------------------

# `rev: v0.4.10`, `rev: 'v0.4.10'`, or a commit with the comment `pre-commit autoupdate
# --freeze` writes: `rev: 3b1a...  # frozen: v0.4.10`.
_REV = re.compile(
    r"""^\s*rev:\s*(?P<value>[^#]*?)\s*(?:#\s*frozen:\s*v?(?P<frozen>\S+)\s*)?(?:#.*)?$"""
)
_REPO = re.compile(r"^\s*-?\s*repo:\s*['\"]?(\S+?)['\"]?\s*(?:#.*)?$")
_HOOK_REPOS = {"ruff": ("ruff-pre-commit",)}


def _pre_commit(repo: Path, tool: str) -> Iterator[tuple[str, str]]:
    # Read as lines, not YAML: the version of a frozen SHA lives only in a comment.
    markers = _HOOK_REPOS.get(tool, (f"{tool}-pre-commit",))
    for name in _PRE_COMMIT_FILES:
        current = ""
        for line in _read(repo / name).splitlines():
            found = _REPO.match(line)
            if found:
                current = found.group(1)
                continue
            rev = _REV.match(line)
            if rev and any(m in current for m in markers):
                sha_or_tag = rev.group("value").strip("'\"")
                version = rev.group("frozen") or sha_or_tag
                yield version.removeprefix("v"), name


_HOOK_ID = re.compile(r"^\s*-\s*id:\s*['\"]?([A-Za-z0-9_.-]+)")


def pre_commit_hooks(repo: Path, tool: str = "ruff") -> frozenset[str] | None:
    """The hook ids the project runs from `tool`'s pre-commit repo; None when it has none.

    A project that runs `ruff-check` there but formats with black has no `ruff-format` hook:
    its CI never runs `ruff format`, so neither should its gate."""
    markers = _HOOK_REPOS.get(tool, (f"{tool}-pre-commit",))
    found: set[str] | None = None
    for name in _PRE_COMMIT_FILES:
        current = ""
        for line in _read(repo / name).splitlines():
            matched = _REPO.match(line)
            if matched:
                current = matched.group(1)
                if any(m in current for m in markers):
                    found = found if found is not None else set()
                continue
            hook = _HOOK_ID.match(line)
            if hook and found is not None and any(m in current for m in markers):
                found.add(hook.group(1))
    return None if found is None else frozenset(found)


# --- lock files ----------------------------------------------------------------------------


def _lock_files(repo: Path, tool: str) -> Iterator[tuple[str, str]]:
    for name in _LOCK_FILES:
        for package in _toml(repo / name).get("package", []):
            if isinstance(package, dict) and package.get("name") == tool:
                version = package.get("version")
                if isinstance(version, str):
                    yield version, name


# --- pyproject.toml: dependency groups, extras, poetry groups ------------------------------

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([^\s;,]+)")


def _exact(requirement: object, tool: str) -> str | None:
    if not isinstance(requirement, str):
        return None  # e.g. {include-group = "lint"}: the group itself is read too
    found = _REQUIREMENT.match(requirement)
    if found and _same_name(found.group(1), tool):
        return found.group(2)
    return None


def _same_name(a: str, b: str) -> bool:
    return re.sub(r"[-_.]+", "-", a).lower() == re.sub(r"[-_.]+", "-", b).lower()


def _pyproject(repo: Path, tool: str) -> Iterator[tuple[str, str]]:
    data = _toml(repo / "pyproject.toml")
    tables: list[tuple[str, object]] = []
    for table, where in (
        (data.get("dependency-groups"), "[dependency-groups]"),
        (data.get("project", {}).get("optional-dependencies"), "[project.optional-dependencies]"),
    ):
        if isinstance(table, dict):
            tables += [(f"{where} {group}", items) for group, items in table.items()]
    uv_dev = data.get("tool", {}).get("uv", {}).get("dev-dependencies")
    tables.append(("[tool.uv] dev-dependencies", uv_dev))
    for where, items in tables:
        for item in items if isinstance(items, list) else []:
            version = _exact(item, tool)
            if version:
                yield version, f"pyproject.toml {where}"
    yield from _poetry(data, tool)


def _poetry(data: dict[str, Any], tool: str) -> Iterator[tuple[str, str]]:
    poetry = data.get("tool", {}).get("poetry", {})
    if not isinstance(poetry, dict):
        return
    tables = [("dev-dependencies", poetry.get("dev-dependencies"))]
    groups = poetry.get("group", {})
    if isinstance(groups, dict):
        tables += [
            (f"group.{name}", group.get("dependencies"))
            for name, group in groups.items()
            if isinstance(group, dict)
        ]
    for where, deps in tables:
        if not isinstance(deps, dict):
            continue
        for name, spec in deps.items():
            if not _same_name(name, tool):
                continue
            version = spec.get("version") if isinstance(spec, dict) else spec
            # In poetry a bare "0.4.10" is an exact pin, as is "==0.4.10"; "^0.4" is not.
            if isinstance(version, str):
                yield (
                    version.strip().removeprefix("==").strip(),
                    f"pyproject.toml [tool.poetry.{where}]",
                )


# --- requirements files --------------------------------------------------------------------


def _requirements(repo: Path, tool: str) -> Iterator[tuple[str, str]]:
    seen: set[Path] = set()
    for pattern in _REQUIREMENTS_GLOBS:
        for path in sorted(repo.glob(pattern)):
            if path in seen or not path.resolve().is_relative_to(repo.resolve()):
                continue  # a link out of the repository pins nothing
            seen.add(path)
            for line in _read(path).splitlines():
                version = _exact(line.split("#", 1)[0], tool)
                if version:
                    yield version, path.relative_to(repo).as_posix()
