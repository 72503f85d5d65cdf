from __future__ import annotations

import json
from pathlib import Path

from bot.report import Report, report_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "report.schema.json"


def test_shipped_schema_matches_the_model() -> None:
    # Regenerate with: python -c "from bot.report import report_schema; print(report_schema(), end='')"
    assert SCHEMA.read_text(encoding="utf-8") == report_schema()


def test_schema_describes_the_report() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "Report"
    assert set(schema["required"]) >= {"tool_version", "mode", "status", "repo", "base_sha"}
    assert set(schema["properties"]) == set(Report.model_fields)
