"""Checks a request against GitHub's official REST description (the vendored subset in
github_openapi.json): the operation exists, its path and query parameters and its JSON body
match their schemas, and the headers GitHub asks every client to send are there.

The description is OpenAPI 3.0: `nullable: true` is not JSON Schema, so it becomes
`anyOf [the schema, null]` before jsonschema sees it. Query and path values arrive as text and
are read as the declared type first (`per_page=100` is the integer 100).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

DESCRIPTION = Path(__file__).with_name("github_openapi.json")
ACCEPT = "application/vnd.github+json"
API_VERSION = "2022-11-28"


def _json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` made explicit, recursively."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@functools.cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    return document


@functools.cache
def _components() -> dict[str, Any]:
    converted: dict[str, Any] = _json_schema(_document().get("components", {}))
    return converted


@functools.cache
def _operations() -> list[tuple[str, re.Pattern[str], str, dict[str, Any]]]:
    out = []
    for template, methods in _document()["paths"].items():
        pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))
        for method, operation in methods.items():
            out.append((method.upper(), pattern, template, operation))
    return out


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    _, section, name = ref.removeprefix("#/").split("/", 2)
    resolved: dict[str, Any] = _document()["components"][section][name]
    return resolved


def _errors(schema: Any, value: Any, where: str) -> list[str]:
    rooted = {"allOf": [_json_schema(schema)], "components": _components()}
    validator = jsonschema.Draft7Validator(rooted)
    found = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        message = error.message if len(error.message) <= 200 else "..." + error.message[-120:]
        found.append(f"{where}{''.join(f'[{p!r}]' for p in error.absolute_path)}: {message}")
    return found


def _typed(text: str, schema: Mapping[str, Any]) -> Any:
    """A query or path value as the type its schema declares (text when it doesn't parse)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def operation_of(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
    """The documented operation for a request: its path template, itself, the path values."""
    for verb, pattern, template, operation in _operations():
        match = pattern.fullmatch(path)
        if match and verb == ("GET" if method == "HEAD" else method):
            return template, operation, match.groupdict()
    return None


def header_violations(method: str, path: str, headers: Mapping[str, str]) -> list[str]:
    """The headers GitHub asks every request to carry; `headers` keyed by lower-case name."""
    accept, version = headers.get("accept"), headers.get("x-github-api-version")
    found = []
    if accept != ACCEPT:
        found.append(f"{method} {path}: Accept is {accept!r}, not {ACCEPT!r}")
    if version != API_VERSION:
        found.append(f"{method} {path}: X-GitHub-Api-Version is {version!r}, not {API_VERSION!r}")
    return found


def violations(method: str, path: str, query: Mapping[str, str], body: bytes) -> list[str]:
    """Every way this request's path, query and body depart from the official description;
    [] when they conform."""
    known = operation_of(method, path)
    if known is None:
        return [f"{method} {path}: no such operation in the official description"]
    template, operation, values = known
    said = f"{method} {template}"
    found = []
    declared = [_resolve(p) for p in operation.get("parameters", [])]
    for parameter in declared:
        name, place, schema = parameter["name"], parameter["in"], parameter.get("schema", {})
        given = values.get(name) if place == "path" else query.get(name)
        if given is None:
            if parameter.get("required"):
                found.append(f"{said}: the {place} parameter {name} is missing")
            continue
        found += _errors(schema, _typed(given, schema), f"{said} {place} {name}")
    names = {p["name"] for p in declared if p["in"] == "query"}
    found += [
        f"{said}: undocumented query parameter {name!r}" for name in query if name not in names
    ]
    found += _body_violations(said, operation.get("requestBody"), body)
    return found


def _body_violations(said: str, spec: dict[str, Any] | None, body: bytes) -> list[str]:
    if not body.strip():
        return [f"{said}: the request body is required"] if spec and spec.get("required") else []
    if spec is None:
        return [f"{said}: takes no request body"]
    try:
        value = json.loads(body)
    except ValueError:
        return [f"{said}: the request body is not JSON"]
    schema = spec.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return [f"{said}: the description has no JSON body for it"]
    return _errors(schema, value, f"{said} body")
