"""A scripted command agent: replays edits from a JSON script. Not a language model.

    python -m bot.agent.scripted SCRIPT.json [PROMPT_FILE]

The script is {"attempts": [{"summary": str, "edits": [{"path", "old", "new"} | {"path", "delete": true}
| {"path", "write": str}]}]}; attempt N (SELFHEAL_ATTEMPT) replays entry N, the last entry repeats.
It is used by `selfheal demo` and by tests that need an agent with known behaviour.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def apply_attempt(script: dict[str, Any], attempt: int, repo: Path) -> str:
    """Apply the script's edits for `attempt` inside `repo`; returns the summary to print."""
    attempts = script.get("attempts") or [{}]
    entry = attempts[min(attempt, len(attempts)) - 1]
    for edit in entry.get("edits", []):
        target = repo / edit["path"]
        if edit.get("delete"):
            target.unlink(missing_ok=True)
        elif "write" in edit:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit["write"], encoding="utf-8")
        else:
            text = target.read_text(encoding="utf-8")
            if edit["old"] in text:
                target.write_text(text.replace(edit["old"], edit["new"], 1), encoding="utf-8")
    return str(entry.get("summary", "scripted edits applied"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    script = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    attempt = int(os.environ.get("SELFHEAL_ATTEMPT", "1"))
    repo = Path(os.environ.get("SELFHEAL_REPO", "."))
    print(f"scripted agent (not a language model): {apply_attempt(script, attempt, repo)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
