"""Triage: what one gate step's result means, as a list of classified `Failure`s.

Classification and signatures are pure. `Triage` reads only the names at the top of the repo
(to tell the repo's own modules from packages); each step kind (bot/gate/kinds/) uses it to
turn what its tool said into failures.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection
from pathlib import Path

from bot.config import GateStep
from bot.gate import gpu_errors, parsers, pytest_results
from bot.gate.parsers import Traceback
from bot.proc import ProcessResult
from bot.report import Category, Failure

MESSAGE_LIMIT = 300
EXCERPT_LIMIT = 1500
EXIT_NOT_FOUND = 127

# Exceptions whose failures a collection error is allowed to keep; any other becomes COLLECTION.
_COLLECTION_KEEPS = frozenset(
    {Category.SYNTAX, Category.IMPORT, Category.DEPENDENCY, Category.GPU_OOM, Category.INFRA}
)
_SYNTAX = frozenset({"SyntaxError", "IndentationError", "TabError"})
_MISSING_MODULE = re.compile(r"No module named '?(?P<module>[\w.]+)'?")


def classify_exception(exc_type: str, message: str, repo_top_names: Collection[str]) -> Category:
    """The category of a failure that raised `exc_type` with `message`."""
    name = exc_type.rsplit(".", 1)[-1]
    if gpu_errors.is_gpu_oom(name, message):
        return Category.GPU_OOM
    if gpu_errors.driver_problem(message) is not None:
        return Category.INFRA  # e.g. torch's "Torch not compiled with CUDA enabled" assertion
    if name == "AssertionError":
        return Category.ASSERTION
    if name == "Failed":
        # pytest.fail(); pytest-timeout's signal method fails the test with "Timeout (>Ns)".
        return Category.TIMEOUT if message.lstrip().startswith("Timeout") else Category.ASSERTION
    if name == "TypeError":
        return Category.TYPE
    if name in _SYNTAX:
        return Category.SYNTAX
    if name in ("ImportError", "ModuleNotFoundError"):
        missing = _MISSING_MODULE.search(message)
        if missing:
            top = missing.group("module").split(".", 1)[0]
            return Category.IMPORT if top in repo_top_names else Category.DEPENDENCY
        return Category.IMPORT if name == "ImportError" else Category.DEPENDENCY
    if name == "MemoryError" or "No space left on device" in message:
        return Category.INFRA
    return Category.ERROR


_NORMALIZERS = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"(?:/private)?/(?:tmp|var/folders)/[^\s'\"),\]]*"), "<tmp>"),
    (re.compile(r"[^\s'\"(\[]*pytest-of-[^\s'\"),\]]*"), "<tmp>"),
    (
        re.compile(r"(?:\bin )?\b\d+(?:\.\d+)?\s*(?:ms|us|µs|s|secs?|seconds?|min|minutes?)\b"),
        "<t>",
    ),
    (re.compile(r"\blines? \d+(?:-\d+)?"), "line ?"),
    (re.compile(r"(\.pyw?|\.pyx|>):\d+(?::\d+)?"), r"\1:?"),
    (re.compile(r"\s+"), " "),
)


def normalize_message(message: str) -> str:
    """`message` without what changes between two runs of the same failure."""
    for pattern, replacement in _NORMALIZERS:
        message = pattern.sub(replacement, message)
    return message.strip()


def signature(step: str, category: Category, key: str, message: str) -> str:
    """A stable id for a failure: equal across runs of the same failure, different otherwise."""
    text = "\0".join((step, category.value, key, normalize_message(message)))
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def repo_top_names(repo: Path) -> frozenset[str]:
    """Names the repo's own code can be imported as: top-level modules, here and under src/."""
    names: set[str] = set()
    for base in (repo, repo / "src"):
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.name.endswith(".py") and entry.is_file():
                names.add(entry.name[: -len(".py")])
            elif entry.is_dir() and entry.name.isidentifier() and _has_python(Path(entry.path)):
                names.add(entry.name)
    return frozenset(names)


def _has_python(path: Path) -> bool:
    return any(p.suffix == ".py" for p in path.iterdir() if p.is_file())


# --- text helpers -----------------------------------------------------------------------


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The first non-empty line of `text`, cut to `limit` characters."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def tail(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """The end of `text` in at most `limit` characters, starting on a line boundary."""
    text = text.strip("\n")
    if len(text) <= limit:
        return text
    cut = text[-(limit - 2) :]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return "…\n" + cut


def repo_roots(repo: Path) -> tuple[str, ...]:
    """The repo's absolute path as tools may print it (as given, and with links resolved)."""
    given = str(repo if repo.is_absolute() else Path.cwd() / repo)
    real = str(repo.resolve())
    return (given,) if given == real else (given, real)


def _relative_text(text: str, roots: Collection[str]) -> str:
    for root in roots:
        text = text.replace(root.rstrip("/") + "/", "")
    return text


# --- failures ---------------------------------------------------------------------------


class Triage:
    """Builds the failures of one step; holds what every failure of it shares."""

    def __init__(self, step: GateStep, result: ProcessResult, repo: Path) -> None:
        self.step = step
        self.result = result
        self.roots = repo_roots(repo)
        self.repo = repo
        self._names: frozenset[str] | None = None

    @property
    def names(self) -> frozenset[str]:
        if self._names is None:
            self._names = repo_top_names(self.repo)
        return self._names

    def failure(
        self,
        category: Category,
        key: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        test_id: str | None = None,
        rule: str | None = None,
        excerpt: str = "",
        fixable: bool = False,
        signed: str | None = None,
    ) -> Failure:
        message = one_line(_relative_text(message, self.roots)) or category.value
        return Failure(
            step=self.step.name,
            category=category,
            message=message,
            file=file,
            line=line,
            test_id=test_id,
            rule=rule,
            excerpt=tail(_relative_text(excerpt, self.roots)),
            signature=signature(self.step.name, category, key, signed or message),
            fixable=fixable,
        )

    @property
    def not_found(self) -> bool:
        """The shell's "command not found": the step never ran."""
        return self.result.returncode == EXIT_NOT_FOUND

    def infra(self) -> Failure:
        if self.result.start_error is not None:
            message = f"could not start {self.step.run[0]}: {self.result.start_error}"
        else:
            message = f"{self.step.name}: command not found (exit {EXIT_NOT_FOUND})"
        return self.failure(Category.INFRA, "start", message, excerpt=self.result.output)

    def timeout(self) -> Failure:
        seconds = round(self.result.duration_s)
        message = f"{self.step.name} did not finish and was killed after {seconds} s"
        path = pytest_results.last_progress_file(self.result.output)
        file = parsers.repo_relative(path, self.roots) if path else None
        return self.failure(
            Category.TIMEOUT, "killed", message, file=file, excerpt=self.result.output
        )

    def ruff(self, diagnostics: list[parsers.RuffDiagnostic]) -> list[Failure]:
        found = []
        for d in diagnostics:
            rule = d.code or "invalid-syntax"
            category = Category.SYNTAX if d.syntax_error else Category.LINT
            shown = f"{d.path}:{d.line}:{d.column}: {rule} {d.message}"
            found.append(
                self.failure(
                    category,
                    f"{d.path}:{rule}",
                    d.message,
                    file=d.path,
                    line=d.line,
                    rule=rule,
                    excerpt=shown,
                    fixable=d.fixable,
                )
            )
        return found

    def ruff_format(self, problems: list[parsers.FormatProblem]) -> list[Failure]:
        found = []
        for p in problems:
            category = Category.SYNTAX if p.syntax_error else Category.FORMAT
            rule = "invalid-syntax" if p.syntax_error else "unformatted"
            found.append(
                self.failure(
                    category,
                    f"{p.path}:{rule}",
                    p.message,
                    file=p.path,
                    line=p.line,
                    rule=rule,
                    excerpt=f"{p.path}: {p.message}",
                    fixable=not p.syntax_error,
                )
            )
        return found

    def from_exception(
        self,
        tb: Traceback | None,
        *,
        hint: str,
        key: str,
        test_id: str | None,
        collection: bool,
        file: str | None,
        line: int | None,
        excerpt: str,
    ) -> Failure:
        """A failure from the exception a traceback ends in (`hint`: the tool's own message)."""
        hint_type, hint_message = parsers.split_exception(hint)
        exc_type = (tb.exc_type if tb else None) or hint_type
        exc_message = tb.message if tb and tb.exc_type else hint_message
        if hint.startswith("[XPASS(strict)]"):
            category = Category.ASSERTION  # the test says it should fail, and it passed
        else:
            category = classify_exception(exc_type or "", exc_message, self.names)
        if collection and category not in _COLLECTION_KEEPS:
            category = Category.COLLECTION
        where = parsers.deepest_in_repo(tb.frames, self.roots) if tb else None
        if where is not None:
            file, line = where
        if collection or not hint.strip():
            message = f"{exc_type}: {exc_message}" if exc_type else exc_message or hint
        else:
            message = hint
        return self.failure(
            category,
            key,
            message,
            file=file,
            line=line,
            test_id=test_id,
            rule=exc_type,
            excerpt=excerpt,
        )

    def pytest(self, results: pytest_results.PytestResults) -> list[Failure]:
        """Failures from pytest's structured results (selfheal's plugin, or junit XML)."""
        found = [
            self.from_exception(
                parsers.parse_traceback(problem.text),
                hint=problem.message,
                key=problem.test_id or f"collect:{problem.file}",
                test_id=problem.test_id,
                collection=problem.collection_error,
                file=problem.file,
                line=problem.line,
                excerpt=problem.text,
            )
            for problem in results.problems
        ]
        if not results.complete:
            # pytest died before the end of its session (a crash, os._exit): what its output
            # says about that too, without the failures already read.
            ids = {f.test_id for f in found if f.test_id}
            signatures = {f.signature for f in found}
            found += [
                f for f in self.text() if f.test_id not in ids and f.signature not in signatures
            ]
        return found

    def text(self) -> list[Failure]:
        """Failures read from the output alone: no pytest results file, or a plain command."""
        output = self.result.output
        if pytest_results.timeout_banner(output):
            where = parsers.deepest_in_repo(parsers.all_frames(output), self.roots)
            return [
                self.failure(
                    Category.TIMEOUT,
                    "pytest-timeout",
                    "pytest-timeout stopped the run: a test took too long",
                    file=where[0] if where else None,
                    line=where[1] if where else None,
                    excerpt=output,
                )
            ]
        found = [
            self.from_exception(
                tf.traceback,
                hint=tf.summary,
                key=tf.test_id or f"collect:{tf.collect_path}",
                test_id=tf.test_id,
                collection=tf.collect_path is not None,
                file=parsers.repo_relative(tf.collect_path, self.roots)
                if tf.collect_path
                else None,
                line=None,
                excerpt=output,
            )
            for tf in pytest_results.parse_pytest_text(output)
        ]
        if found:
            return found
        tb = parsers.parse_traceback(output)
        if tb is not None and tb.exc_type:
            return [
                self.from_exception(
                    tb,
                    hint="",
                    key=f"exception:{tb.exc_type}",
                    test_id=None,
                    collection=False,
                    file=None,
                    line=None,
                    excerpt=output,
                )
            ]
        return [self.unrecognized()]

    def unrecognized(self) -> Failure:
        code = self.result.returncode
        driver = gpu_errors.driver_problem(self.result.output)
        if driver is not None:
            # No traceback to read, but the output says the GPU driver is missing or unfit.
            return self.failure(
                Category.INFRA,
                "gpu-driver",
                driver,
                rule="gpu-driver",
                excerpt="\n".join(self.result.output.splitlines()[-40:]),
            )
        last = next((s for s in reversed(self.result.output.splitlines()) if s.strip()), "")
        return self.failure(
            Category.ERROR,
            f"exit {code}",
            f"{self.step.name} failed with exit code {code}",
            rule=f"exit {code}",
            excerpt="\n".join(self.result.output.splitlines()[-40:]),
            # The last line (often a count of problems) tells one unparsed failure from another.
            signed=last,
        )
