"""The proposal bundle: what `selfheal work` hands to `selfheal propose` (patch, report, meta).

The work stage runs the project's code and the agent, so by the time the propose stage
reads the bundle anything in it may have been rewritten. Reading is therefore strict:
known files only, size caps, a validated schema; the propose stage re-decides the job
from the event itself, re-checks the guards on the patch, and only compares the bundle's
claims with its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from bot.errors import BadInput
from bot.report import Frozen, Report

META_FILE = "bundle.json"
MAX_PATCH_BYTES = 5 * 1024 * 1024
MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_META_BYTES = 64 * 1024


class BundleMeta(Frozen):
    """What the work stage decided and worked on."""

    bundle_version: Literal[1] = 1
    job: Literal["heal", "implement", "review"]
    repository: str = Field(max_length=140)
    sha: str = Field(pattern=r"^[0-9a-f]{40}$")  # the commit the fix applies to
    into: str = Field(max_length=255)  # the branch the pull request goes into
    issue: int | None = Field(default=None, ge=1)
    thread: int | None = Field(default=None, ge=1)


def _read_capped(path: Path, cap: int) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(cap + 1)
    except OSError as exc:
        raise BadInput(f"the bundle's {path.name} cannot be read: {exc.strerror}") from exc
    if len(data) > cap:
        raise BadInput(f"the bundle's {path.name} is over {cap} bytes: refused")
    return data


def _malformed(directory: Path, exc: ValidationError) -> BadInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return BadInput(f"the bundle in {directory} is malformed: {where}: {first['msg']}")


def _read_patch(directory: Path) -> str:
    patch_path = directory / "fix.patch"
    if not patch_path.exists():
        return ""
    return _read_capped(patch_path, MAX_PATCH_BYTES).decode("utf-8", errors="replace")


def read_bundle(directory: Path) -> tuple[BundleMeta, Report, str]:
    """The bundle's meta, report and patch; BadInput for anything malformed or oversized."""
    meta, patch = read_review_bundle(directory)
    try:
        report = Report.model_validate_json(
            _read_capped(directory / "report.json", MAX_REPORT_BYTES)
        )
    except ValidationError as exc:
        raise _malformed(directory, exc) from exc
    if report.base_sha and report.base_sha != meta.sha:
        raise BadInput(
            f"the bundle's report is for {report.base_sha[:12]} but its meta says "
            f"{meta.sha[:12]}: refused"
        )
    return meta, report, patch


def read_review_bundle(directory: Path) -> tuple[BundleMeta, str]:
    """The bundle's meta and patch (all a fork review's bundle has: no loop ran)."""
    if not directory.is_dir():
        raise BadInput(f"--bundle {directory}: no such directory")
    try:
        meta = BundleMeta.model_validate_json(_read_capped(directory / META_FILE, MAX_META_BYTES))
    except ValidationError as exc:
        raise _malformed(directory, exc) from exc
    return meta, _read_patch(directory)


def write_meta(directory: Path, meta: BundleMeta) -> Path:
    path = directory / META_FILE
    path.write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path
