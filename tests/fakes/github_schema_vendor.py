"""Regenerate tests/fakes/github_openapi.json: the part of GitHub's official REST description
that selfheal's requests must conform to.

The source is the npm package @octokit/openapi (GitHub's own description, republished by
Octokit), file generated/api.github.com.json. Kept: the endpoints in ENDPOINTS, each with its
parameters and request body, and every component they reference. Dropped: responses (the
fake builds its answers from github_json; what is checked here is what selfheal sends).

    python -m tests.fakes.github_schema_vendor                  # npm pack the pinned version
    python -m tests.fakes.github_schema_vendor --version 23.0.2
    python -m tests.fakes.github_schema_vendor --source package.tgz|api.github.com.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"  # the version vendored now; bump it here and re-run
MEMBER = "package/generated/api.github.com.json"
OUT = Path(__file__).with_name("github_openapi.json")

# Every (method, path) selfheal calls, and the fake answers.
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs"),
    ("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs"),
)
_KEPT = ("operationId", "summary", "externalDocs", "parameters", "requestBody")


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _at(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def subset(document: dict[str, Any], version: str) -> dict[str, Any]:
    """The vendored document: ENDPOINTS' operations and the components they reach."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in ENDPOINTS:
        operation = document["paths"][path][method]
        paths.setdefault(path, {})[method] = {k: operation[k] for k in _KEPT if k in operation}
    components: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    while pending:
        ref = pending.pop()
        _, section, name = ref.removeprefix("#/").split("/", 2)
        if name in components.get(section, {}):
            continue
        node = _at(document, ref)
        components.setdefault(section, {})[name] = node
        pending.extend(_refs(node))
    return {
        "x-vendored-from": {
            "package": PACKAGE,
            "version": version,
            "file": MEMBER.removeprefix("package/"),
            "openapi": document.get("openapi"),
            "description-version": document.get("info", {}).get("version"),
            "regenerate": "python -m tests.fakes.github_schema_vendor",
        },
        "openapi": document.get("openapi"),
        "paths": dict(sorted(paths.items())),
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def _load(source: Path) -> tuple[dict[str, Any], str | None]:
    """The description and, from a package tarball, its version."""
    if source.suffix == ".json":
        return json.loads(source.read_text(encoding="utf-8")), None
    with tarfile.open(source) as tar:
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        document = json.load(tar.extractfile(MEMBER))  # type: ignore[arg-type]
    return document, str(meta["version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=VERSION, help=f"{PACKAGE} version to npm pack")
    parser.add_argument("--source", type=Path, help="a package tarball or the JSON file itself")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        if source is None:
            done = subprocess.run(
                ["npm", "pack", "--silent", f"{PACKAGE}@{args.version}"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            )
            source = Path(tmp) / done.stdout.strip().splitlines()[-1]
        document, version = _load(source)
    vendored = subset(document, version or args.version)
    OUT.write_text(json.dumps(vendored, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    count = sum(len(methods) for methods in vendored["paths"].values())
    print(f"{OUT.name}: {count} operations from {PACKAGE}@{version or args.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
