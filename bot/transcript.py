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
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")

    def write(self, event: dict[str, Any]) -> None:
        if self.path is None:
            return
        # Redact before encoding: JSON escaping would hide a secret holding quotes or backslashes.
        clean = redact_data(json.loads(json.dumps(event, default=str)), self.secrets)
        line = json.dumps({"at": now().isoformat(), **clean}, ensure_ascii=False)  # type: ignore[dict-item]
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
