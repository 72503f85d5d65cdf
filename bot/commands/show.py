"""`selfheal report REPORT_JSON`: render a stored report again."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from bot.errors import BadInput
from bot.render.markdown import render_markdown
from bot.report import load_report


def show(args: argparse.Namespace) -> int:
    path = Path(args.report_json)
    try:
        report = load_report(path)
    except OSError as exc:
        raise BadInput(f"{path}: {exc.strerror}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise BadInput(f"{path} is not a selfheal report.json: {where}: {first['msg']}") from exc
    print(report.model_dump_json(indent=2) if args.json else render_markdown(report), end="\n")
    return 0
