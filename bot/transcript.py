"""transcript.jsonl: one JSON object per event of a run, appended as it happens."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.proc import redact_data, secret_values
from bot.report import now


class Transcript:
    """Appends events; values of secret variables are redacted before anything is written."""

    def __init__(self, path: Path | None, secrets: Sequence[str] | None = None) -> None:
        self.path = path
        self.secrets = secret_values() if secrets is None else list(secrets)
        self._made = False
        if path is not None and path.parent.is_dir():
            self._start()  # an earlier run's transcript must not pass for this one's

    def _start(self) -> None:
        """Make the report directory on the first event, not before: a run refused at the
        start (not a git repo, uncommitted changes) leaves nothing behind."""
        if self.path is None or self._made:
            return
        from bot.artifacts import ensure_report_dir

        ensure_report_dir(self.path.parent)
        self.path.write_text("", encoding="utf-8")
        self._made = True

    def write(self, event: dict[str, Any]) -> None:
        if self.path is None:
            return
        self._start()
        # Redact before encoding: JSON escaping would hide a secret holding quotes or backslashes.
        clean = redact_data(json.loads(json.dumps(event, default=str)), self.secrets)
        line = json.dumps({"at": now().isoformat(), **clean}, ensure_ascii=False)  # type: ignore[dict-item]
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
