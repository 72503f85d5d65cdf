"""The Actions runner: the only module that writes GITHUB_OUTPUT, the step summary and
workflow commands (::add-mask::, ::error::, ::group::).

Everything here is a no-op outside a runner (no GITHUB_OUTPUT, no GITHUB_STEP_SUMMARY), so
the same code paths run locally. Values are untrusted (branch names, messages from the
project's tests): outputs use a random heredoc delimiter that the value cannot contain, and
workflow-command data is escaped so a value cannot end the command or start another.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

# GitHub's cap on one step summary upload; larger summaries are dropped with an error.
SUMMARY_LIMIT = 1024 * 1024


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """The runner files and stdout of one step; `env` is a parameter so tests pass a dict."""

    def __init__(self, env: Mapping[str, str] | None = None, out: TextIO | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.out = out or sys.stdout

    @property
    def on_runner(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true" or bool(self.env.get("GITHUB_OUTPUT"))

    def _file(self, name: str) -> Path | None:
        value = self.env.get(name, "")
        return Path(value) if value else None

    def set_outputs(self, outputs: Mapping[str, str]) -> None:
        """Append step outputs to $GITHUB_OUTPUT in the multi-line (heredoc) form."""
        path = self._file("GITHUB_OUTPUT")
        if path is None:
            return
        lines = []
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            while delimiter in value:  # pragma: no cover - 128 random bits
                delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        with path.open("a", encoding="utf-8") as file:
            file.write("".join(lines))

    def summary(self, markdown: str) -> None:
        """Append Markdown to the job's step summary, cut to what GitHub accepts."""
        path = self._file("GITHUB_STEP_SUMMARY")
        if path is None:
            return
        data = markdown.encode("utf-8")
        if len(data) > SUMMARY_LIMIT:
            cut = "\n\n[... summary cut at GitHub's 1 MiB limit; report.json has it all]\n"
            keep = SUMMARY_LIMIT - len(cut.encode())
            markdown = data[:keep].decode("utf-8", errors="ignore") + cut
        with path.open("a", encoding="utf-8") as file:
            file.write(markdown.rstrip("\n") + "\n")

    def command(self, name: str, message: str = "", **properties: str | int | None) -> None:
        """One workflow command line (`::name k=v,...::message`), escaped; only on a runner."""
        if not self.on_runner:
            return
        props = ",".join(
            f"{key}={_escape_property(str(value))}"
            for key, value in properties.items()
            if value is not None and value != ""
        )
        head = f"::{name} {props}" if props else f"::{name}"
        self.out.write(f"{head}::{_escape_data(message)}\n")
        self.out.flush()

    def mask(self, value: str) -> None:
        """Ask the runner to hide `value` in every later log line."""
        for line in value.splitlines():  # the runner masks line by line
            if line.strip():
                self.command("add-mask", line)

    def error(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.command("error", message, file=file, line=line)

    def notice(self, message: str) -> None:
        self.command("notice", message)


def usage_outputs(totals: Mapping[str, Any]) -> dict[str, str]:
    """The model's cost and tokens as step outputs, from report.json's agent_totals; zeros
    when no agent reported any (an unpriced model leaves cost-usd empty)."""
    usage = totals.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}

    def count(*names: str) -> int:
        return sum(v for n in names if isinstance(v := usage.get(n), int) and v > 0)

    cost = totals.get("cost_usd", 0.0) if totals else 0.0
    return {
        "cost-usd": f"{cost:.4f}" if isinstance(cost, (int, float)) else "",
        "input-tokens": str(
            count("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ),
        "output-tokens": str(count("output_tokens")),
    }
