"""Per-project results kept between runs, so a run cut short resumes (`run.py --resume`).

    $SELFHEAL_FIELD_CACHE/results/NAME.json              zero-config verdict, red builds
    $SELFHEAL_FIELD_CACHE/results/agent-AGENT/NAME.json  one real agent's heals

Each file names what it was measured on (the manifest's entry for the project); a result for
another release, other test deps, another command or other mutated modules is measured again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import corpus


def _path(name: str, agent: str | None) -> Path:
    results = corpus.cache_dir() / "results"
    return (results / f"agent-{agent}" if agent else results) / f"{name}.json"


def manifest(project: corpus.Project) -> str:
    """What a result was measured on."""
    return f"{project.sha256} {sorted(project.deps)} {project.own} {sorted(project.mutate)}"


def read(project: corpus.Project, agent: str | None = None) -> dict[str, Any]:
    """What is stored for the project as set up now; {} when nothing (or another set-up) is."""
    path = _path(project.name, agent)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return data if data.get("manifest") == manifest(project) else {}


def write(project: corpus.Project, agent: str | None = None, **fields: Any) -> None:
    """Store `fields` (dataclasses, or lists of them; None removes a field) beside the rest."""
    path = _path(project.name, agent)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**read(project, agent), "manifest": manifest(project)}
    for key, value in fields.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = _plain(value)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
