"""The agent's tools, confined to one repository: list, read, search, edit, write, test, finish.

Every path is checked before use, and read and written, through bot.guard.confine. Text from
the repository or a test run is sanitized and capped before the model sees it. A model's
mistake is an error result it can act on, never an exception.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import GitError
from bot.forge.git import tree_command
from bot.guard.confine import (
    PathRefused,
    check_patterns,
    read_bytes,
    resolve,
    shown,
    single_link_file,
    writable,
    write_text,
)
from bot.guard.diff import unquote_path
from bot.guard.sanitize import sanitize
from bot.render.text import cap_text, one_line

MAX_WRITE_CHARS = 1_000_000
MAX_SEARCH_LINES = 200
MAX_SEARCH_LINE_CHARS = 400
MAX_TEST_IDS = 100
MAX_SUMMARY_CHARS = 4000
MIN_CAP_CHARS = 500
GIT_TIMEOUT_S = 60.0
_GIT_OUTPUT_CAP = 4 * 1024 * 1024
# Literal pathspecs: the model's path is a path, never `:(glob)` or other pathspec magic.
_GIT = ("--literal-pathspecs", "-c", "core.quotepath=off")


def _string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _line_number(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "description": description}


_TOOLS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "list_files": (
        "List files in the repository (tracked and new ones; files git ignores are left out)."
        " Paths are relative to the repository root.",
        {
            "path": _string("Directory to list, relative to the repository root (default: .)."),
            "pattern": _string(
                "Glob matched against the end of each path, such as *.py or tests/*.py."
            ),
        },
        [],
    ),
    "read_file": (
        "Read a text file with numbered lines. Long files are cut; read on with start_line.",
        {
            "path": _string("File path relative to the repository root."),
            "start_line": _line_number("First line to show (default 1)."),
            "end_line": _line_number("Last line to show (default: the end of the file)."),
        },
        ["path"],
    ),
    "search": (
        "Search file contents with git grep; prints path:line:text for each matching line."
        " Binary and ignored files are skipped.",
        {
            "pattern": _string("POSIX extended regular expression, or plain text with fixed."),
            "path": _string("Directory or file to search in (default: the whole repository)."),
            "fixed": {"type": "boolean", "description": "Match pattern as plain text."},
        },
        ["pattern"],
    ),
    "edit_file": (
        "Replace one exact piece of text in a file. `old` must match exactly once, whitespace"
        " included; add surrounding lines to make it unique.",
        {
            "path": _string("File path relative to the repository root."),
            "old": _string("The exact text to replace."),
            "new": _string("The text to put in its place."),
        },
        ["path", "old", "new"],
    ),
    "write_file": (
        "Create a file, or replace a file's whole content. Missing directories are created.",
        {
            "path": _string("File path relative to the repository root."),
            "content": _string("The complete new content of the file."),
        },
        ["path", "content"],
    ),
    "run_tests": (
        "Run the project's own test step and show its output (the end is kept when long).",
        {
            "test_ids": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Test ids or files to run, such as tests/test_app.py::test_add"
                " (default: the whole test step).",
            },
        },
        [],
    ),
    "finish": (
        "Say you are done, with a short summary of what you changed and why. Call it last.",
        {"summary": _string("What you changed and why, in a few sentences.")},
        ["summary"],
    ),
}

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "array": list,
}


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


class _Refused(Exception):
    """A call the model must change; the message says how."""


def _usage(name: str) -> str:
    _, properties, required = _TOOLS[name]
    params = ", ".join(
        f"{key}{'' if key in required else '?'}: {spec['type']}" for key, spec in properties.items()
    )
    return f"{name}({params})"


def _check_arguments(name: str, arguments: object) -> dict[str, Any]:
    """The arguments, checked against the tool's own input schema."""
    _, properties, required = _TOOLS[name]
    if not isinstance(arguments, Mapping):
        raise _Refused(f"{name} takes an object of arguments: {_usage(name)}")
    unknown = sorted(str(key) for key in arguments if key not in properties)
    missing = [key for key in required if key not in arguments]
    if unknown or missing:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unexpected {one_line(', '.join(unknown), 200)}"] if unknown else []
        raise _Refused(f"{name}: {'; '.join(problems)}. Call it as {_usage(name)}")
    for key, value in arguments.items():
        spec = properties[key]
        kind = spec["type"]
        ok = isinstance(value, _JSON_TYPES[kind]) and not (
            kind == "integer" and isinstance(value, bool)
        )
        if kind == "array":
            ok = ok and all(isinstance(item, str) for item in value)
        if not ok:
            raise _Refused(f"{name}: {key} must be a {kind}. Call it as {_usage(name)}")
        if kind == "integer" and value < spec.get("minimum", value):
            raise _Refused(f"{name}: {key} must be at least {spec['minimum']}")
        for text in value if kind == "array" else [value] if kind == "string" else []:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused(f"{name}: {key} is not valid Unicode text") from None
    return dict(arguments)


def _glob_match(path: str, pattern: str) -> bool:
    return PurePosixPath(path).match(pattern) or fnmatch.fnmatchcase(path, pattern)


_HIT_LINE = re.compile(r"(?=:[0-9]+:)")


def _single_link_hit(root: Path, hit: str) -> bool:
    """Whether a `path:line:text` hit of git grep comes from a file with no other name.

    git grep reads a hard link like any file, and its other name may be outside the tree.
    A path may hold `:12:` itself, so every reading of the hit that names a file must be safe.
    """
    named = [unquote_path(hit[: m.start()]) for m in _HIT_LINE.finditer(hit)]
    found = [root / name for name in named if name and os.path.lexists(root / name)]
    return bool(found) and all(single_link_file(path) for path in found)


def _count_matches(text: str, old: str) -> int:
    """Occurrences of `old`, overlapping ones included: each would be a different edit."""
    count, at = 0, text.find(old)
    while at >= 0:
        count += 1
        at = text.find(old, at + 1)
    return count


class RepoTools:
    """The seven tools over one repository; `call` runs one, `definitions` describes them."""

    def __init__(
        self,
        root: Path,
        *,
        protected: Sequence[str],
        run_tests: Callable[[Sequence[str]], str],
        env: Mapping[str, str],
        cap_chars: int = 16_000,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        if not self.root.is_dir():
            raise ValueError(f"the repository root {root} is not a directory")
        self.protected = list(protected)
        check_patterns(self.protected)
        self._run_tests = run_tests
        del env  # git runs through bot.forge.git, with selfheal's own pinned environment
        self.cap_chars = max(cap_chars, MIN_CAP_CHARS)
        self.finished: str | None = None
        self.calls: Counter[str] = Counter()
        self._handlers: dict[str, Callable[[dict[str, Any]], str]] = {
            "list_files": self._list_files,
            "read_file": self._read_file,
            "search": self._search,
            "edit_file": self._edit_file,
            "write_file": self._write_file,
            "run_tests": self._run_tests_tool,
            "finish": self._finish,
        }

    def definitions(self) -> list[dict[str, Any]]:
        """Tool definitions for the Anthropic Messages API (name, description, input_schema)."""
        return [
            {
                "name": name,
                "description": description,
                "input_schema": {
                    "type": "object",
                    "properties": copy.deepcopy(properties),
                    "required": list(required),
                    "additionalProperties": False,
                },
            }
            for name, (description, properties, required) in _TOOLS.items()
        ]

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Run one tool; a bad call comes back as an error result saying what to change."""
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            self.calls["unknown"] += 1
            known = ", ".join(self._handlers)
            return ToolResult(
                f"unknown tool {one_line(sanitize(str(name)), 100)!r}; the tools are: {known}",
                is_error=True,
            )
        self.calls[name] += 1
        try:
            content = handler(_check_arguments(name, arguments))
        except (_Refused, PathRefused) as exc:
            return ToolResult(cap_text(str(exc), self.cap_chars, head_share=1.0), is_error=True)
        except OSError as exc:
            return ToolResult(f"{name} failed: {exc.strerror or exc}", is_error=True)
        return ToolResult(
            cap_text(content, self.cap_chars, head_share=0.25 if name == "run_tests" else 1.0)
        )

    # -- git ------------------------------------------------------------------------

    def _git(self, *args: str) -> tuple[int | None, str, str]:
        try:
            code, out, err = tree_command(
                self.root, args, options=_GIT, timeout=GIT_TIMEOUT_S, output_cap=_GIT_OUTPUT_CAP
            )
        except GitError as exc:
            raise _Refused(f"git {args[0]} did not run: {one_line(str(exc), 300)}") from exc
        if code == -9 or "Timeout: the command" in err:
            raise _Refused(f"git {args[0]} did not run: timeout")
        return code, out, err

    # -- the tools --------------------------------------------------------------------

    def _list_files(self, args: dict[str, Any]) -> str:
        target = resolve(self.root, args.get("path", "."))
        if not target.real.exists():
            raise _Refused(f"{target.rel}: no such directory; use list_files with path .")
        pattern: str | None = args.get("pattern")
        if pattern is not None and not pattern.strip():
            raise _Refused("list_files: pattern is empty; leave it out to list everything")
        code, out, err = self._git(
            "ls-files", "--cached", "--others", "--exclude-standard", "--", target.rel
        )
        if code != 0:
            raise _Refused(f"list_files failed: {one_line(sanitize(err), 500)}")
        names = sorted(
            name
            # Not -z: bot.proc elides output lines holding NUL; odd names come C-quoted instead.
            for name in dict.fromkeys(unquote_path(line) for line in out.split("\n"))
            if name
            and os.path.lexists(self.root / name)
            and (pattern is None or _glob_match(name, pattern))
        )
        if not names:
            return f"no files in {target.rel}" + (f" match {pattern}" if pattern else "")
        lines, used = [], 0
        budget = self.cap_chars - 200
        for name in names:
            line = sanitize(name)
            if used + len(line) + 1 > budget:
                break
            lines.append(line)
            used += len(line) + 1
        if len(lines) < len(names):
            lines.append(
                f"[cut: {len(names) - len(lines)} more files; narrow the list with path or pattern]"
            )
        return "\n".join(lines)

    def _read_file(self, args: dict[str, Any]) -> str:
        target = resolve(self.root, args["path"])
        text = sanitize(read_bytes(target).decode("utf-8", errors="replace"))
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        total = len(lines)
        if total == 0:
            return f"{target.rel} is empty"
        start: int = args.get("start_line", 1)
        end: int = min(args.get("end_line", total), total)
        if start > total:
            raise _Refused(f"{target.rel}: start_line {start} is past the end ({total} lines)")
        if end < start:
            raise _Refused(f"{target.rel}: end_line {end} is before start_line {start}")
        shown: list[str] = []
        used = 0
        budget = self.cap_chars - 300
        for number in range(start, end + 1):
            text_line = lines[number - 1].removesuffix("\r")
            line = f"{number:>6}\t{text_line}"
            if shown and used + len(line) + 1 > budget:
                break
            shown.append(cap_text(line, budget, head_share=1.0))
            used += len(shown[-1]) + 1
        last = start + len(shown) - 1
        header = f"{target.rel} (lines {start}-{last} of {total}):"
        body = "\n".join([header, *shown])
        if last < end:
            body += f"\n[cut: {end - last} more lines; read on with start_line={last + 1}]"
        return body

    def _search(self, args: dict[str, Any]) -> str:
        pattern: str = args["pattern"]
        if not pattern or "\x00" in pattern:
            raise _Refused("search: pattern is empty or holds a NUL character")
        target = resolve(self.root, args.get("path", "."))
        kind = "-F" if args.get("fixed", False) else "-E"
        code, out, err = self._git(
            "grep", "-n", "-I", "--no-color", "--untracked", kind, "-e", pattern, "--", target.rel
        )
        if code == 1 and not err.strip():
            return f"no matches for {one_line(pattern, 200)!r} in {target.rel}"
        if code != 0:
            raise _Refused(f"search failed: {one_line(sanitize(err), 500)}")
        hits = [hit for hit in out.split("\n") if hit and _single_link_hit(self.root, hit)]
        lines, used = [], 0
        budget = self.cap_chars - 200
        for hit in hits[:MAX_SEARCH_LINES]:
            line = sanitize(hit)
            if len(line) > MAX_SEARCH_LINE_CHARS:
                cut = len(line) - MAX_SEARCH_LINE_CHARS
                line = f"{line[:MAX_SEARCH_LINE_CHARS]} [line cut: {cut} characters omitted]"
            if used + len(line) + 1 > budget:
                break
            lines.append(line)
            used += len(line) + 1
        if len(lines) < len(hits):
            lines.append(
                f"[cut: {len(hits) - len(lines)} more matching lines; narrow the search with"
                " path or a more specific pattern]"
            )
        return "\n".join(lines)

    def _edit_file(self, args: dict[str, Any]) -> str:
        target = writable(self.root, args["path"], self.protected)
        old: str = args["old"]
        new: str = args["new"]
        if not old:
            raise _Refused("edit_file: old is empty; to create a file use write_file")
        if old == new:
            raise _Refused("edit_file: old and new are the same; there is nothing to change")
        if not target.real.exists():
            raise _Refused(f"{target.rel}: no such file; use write_file to create it")
        try:
            text = read_bytes(target).decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(f"{target.rel}: is not UTF-8 text; it cannot be edited") from None
        count = _count_matches(text, old)
        if count == 0 and "\r\n" in text and "\n" in old and "\r\n" not in old:
            # The file has Windows line ends; read_file showed them as plain newlines.
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
            count = _count_matches(text, old)
        if count != 1:
            advice = (
                "read the file again and copy the text exactly, indentation included"
                if count == 0
                else "include more surrounding lines in old so that it matches exactly once"
            )
            raise _Refused(f"{target.rel}: old matches {count} times, not once; {advice}")
        at = text.index(old)
        write_text(target, text[:at] + new + text[at + len(old) :])
        line = text.count("\n", 0, at) + 1
        return f"edited {target.rel} at line {line}"

    def _write_file(self, args: dict[str, Any]) -> str:
        content: str = args["content"]
        if len(content) > MAX_WRITE_CHARS:
            raise _Refused(f"write_file: content is over the {MAX_WRITE_CHARS} character limit")
        target = writable(self.root, args["path"], self.protected)
        existed = target.real.exists()
        write_text(target, content)
        lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
        return f"{'overwrote' if existed else 'created'} {target.rel} ({lines} lines)"

    def _run_tests_tool(self, args: dict[str, Any]) -> str:
        ids: list[str] = args.get("test_ids", [])
        if len(ids) > MAX_TEST_IDS:
            raise _Refused(f"run_tests: at most {MAX_TEST_IDS} test ids at a time")
        for test_id in ids:
            # Test ids only: an option (-p plugin, --rootdir) or @argfile would change the run.
            if (
                not test_id.strip()
                or test_id.startswith(("-", "@"))
                or any(ch in test_id for ch in "\x00\r\n")
            ):
                raise _Refused(
                    f"run_tests: {shown(test_id)} is not a test id; give ids such as"
                    " tests/test_app.py::test_add, without options"
                )
            resolve(self.root, test_id.split("::", 1)[0])
        return sanitize(self._run_tests(list(ids)))

    def _finish(self, args: dict[str, Any]) -> str:
        summary: str = args["summary"].strip()
        if not summary:
            raise _Refused("finish: summary is empty; say in a few sentences what you changed")
        self.finished = summary[:MAX_SUMMARY_CHARS]
        return "Summary recorded. Stop now: selfheal checks the change and runs the gate."
