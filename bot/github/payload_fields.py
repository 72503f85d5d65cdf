"""Reading an event payload: typed fields at dotted paths, or a Skip with a one-line reason.

Payloads are hostile input: anyone who can comment can shape part of one, and a file named
by GITHUB_EVENT_PATH can hold anything. Each reader checks type and shape, and quotes
what it shows escaped and cut, so no field can raise or flood a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from bot.github.refs import branch_name_problem

_MAX_NUMBER = 2**31 - 1

_SHA = re.compile(r"[0-9a-fA-F]{40}")
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")


class Skip(Exception):
    """Ends a decision early: the reason, and the fields already known (an issue number)."""

    def __init__(self, reason: str, **known: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.known = known


def skip(reason: str, **known: Any) -> NoReturn:
    raise Skip(reason, **known)


# --- reading a payload ----------------------------------------------------------------------


def quoted(text: str, limit: int = 80) -> str:
    """Untrusted text quoted for a one-line reason: escaped, and cut to `limit` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def value_at(obj: Mapping[str, Any], path: str) -> object:
    """The value at a dotted path such as `workflow_run.head_repository.full_name`."""
    value: object = obj
    walked: list[str] = []
    for key in path.split("."):
        if not isinstance(value, Mapping):
            where = ".".join(walked)
            skip(f"the payload's {where} is {json_type(value)}, not an object")
        walked.append(key)
        if key not in value:
            skip(f"the payload has no {path}")
        value = value[key]
    return value


def object_at(obj: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    value = value_at(obj, path)
    if not isinstance(value, Mapping):
        skip(f"the payload's {path} is {json_type(value)}, not an object")
    return value


def text_at(obj: Mapping[str, Any], path: str) -> str:
    value = value_at(obj, path)
    if not isinstance(value, str):
        skip(f"the payload's {path} is {json_type(value)}, not a string")
    return value


def flag_at(obj: Mapping[str, Any], path: str) -> bool:
    value = value_at(obj, path)
    if not isinstance(value, bool):
        skip(f"the payload's {path} is {json_type(value)}, not a boolean")
    return value


def positive_number(value: object) -> int | None:
    """An issue or pull request number (JSON's true is not 1), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_NUMBER:
        return None
    return value


def run_id_of(value: object) -> int | None:
    """A workflow run id: unlike issue numbers, these are past 2**31 already."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        return None
    return value


def number_at(obj: Mapping[str, Any], path: str) -> int:
    number = positive_number(value_at(obj, path))
    if number is None:
        skip(f"the payload's {path} is not an issue or pull request number")
    return number


# --- names ----------------------------------------------------------------------------------


def branch_from(value: object, where: str) -> str:
    if not isinstance(value, str):
        skip(f"the payload's {where} is {json_type(value)}, not a branch name")
    problem = branch_name_problem(value)
    if problem is not None:
        skip(f"branch {quoted(value)} {problem}")
    return value


def sha_from(value: object, where: str) -> str:
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        shown = quoted(value) if isinstance(value, str) else json_type(value)
        skip(f"the payload's {where} ({shown}) is not a 40-digit commit SHA")
    return value.lower()


def login_at(payload: Mapping[str, Any], where: str) -> str:
    login = text_at(payload, f"{where}.login")
    if not _LOGIN.fullmatch(login):
        skip(f"the payload's {where}.login {quoted(login)} is not a GitHub login")
    return login


def labels_at(payload: Mapping[str, Any]) -> list[str]:
    labels = value_at(payload, "issue.labels")
    if not isinstance(labels, list):
        skip(f"the payload's issue.labels is {json_type(labels)}, not an array")
    names = []
    for label in labels:
        if not isinstance(label, Mapping) or not isinstance(label.get("name"), str):
            skip("the payload's issue.labels holds an entry without a name")
        names.append(label["name"])
    return names
