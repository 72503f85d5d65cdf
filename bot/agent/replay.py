"""A local Messages API that answers from a script, so the real Claude code path runs offline.

    python -m bot.agent.replay SCRIPT.json|SCRIPT.jsonl|transcript.jsonl [--port N] [--api-key KEY]

Each POST /v1/messages takes the next script entry:

- {"status": 200, "body": {...}}: a full Message, sent as given;
- {"content": [...], "stop_reason": ..., "usage": {...}}: shorthand, wrapped into a full Message
  (id, type, role, the request's model, stop_sequence, every usage field); a tool_use block
  without an id gets one, and stop_reason defaults to tool_use when there is a tool_use block;
- {"status": 529, "error_type": "overloaded_error", "message": ...}: an error in the API's shape
  ({"type": "error", "error": {"type", "message"}, "request_id"}), status and error type each
  derived from the other when only one is given.

Any entry may carry "headers" (e.g. {"retry-after-ms": "1"}). Requests are checked the way the
real API checks them (400 invalid_request_error) before they take an entry, so a malformed
request from our code fails here as it would there. When the script runs out: 500 with
x-should-retry: false. Unknown routes: 404. A transcript.jsonl from a real run replays its
recorded responses ("claude_response" events) in order.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

STATUS_FOR_ERROR = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
ERROR_FOR_STATUS = {status: kind for kind, status in STATUS_FOR_ERROR.items()}
MAX_CACHE_BREAKPOINTS = 4  # the API refuses more cache_control blocks than this


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; tests inspect what the SDK really sent."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text when it was not JSON, or None


class ScriptError(ValueError):
    """A script file or entry that cannot be served."""


def load_script(path: Path) -> list[dict[str, Any]]:
    """Script entries from a .json list (or {"responses": [...]}) or a .jsonl file.

    JSONL lines that are transcript events replay only their "claude_response" events.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read {path}: {exc.strerror}") from exc
    items: Any
    if path.suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ScriptError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScriptError(f"{path}: not JSON: {exc.msg} (line {exc.lineno})") from exc
        items = data.get("responses") if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ScriptError(f"{path}: expected a list of objects (or {{'responses': [...]}})")
    if any("event" in item for item in items):
        return [
            {"status": 200, "body": item["response"]}
            for item in items
            if item.get("event") == "claude_response" and isinstance(item.get("response"), dict)
        ]
    return items


def error_body(kind: str, message: str, request_id: str) -> dict[str, Any]:
    """The body of every error the Messages API returns."""
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": request_id,
    }


def message_body(entry: Mapping[str, Any], model: str, number: int) -> dict[str, Any]:
    """A full Message from a shorthand entry; tool_use blocks without an id get one."""
    content = []
    for index, given in enumerate(entry.get("content") or []):
        block = dict(given)
        if block.get("type") == "tool_use":
            block.setdefault("id", f"toolu_replay_{number:04d}_{index}")
            block.setdefault("input", {})
        content.append(block)
    has_tool_use = any(b.get("type") == "tool_use" for b in content)
    usage = dict(entry.get("usage") or {})
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    full_usage = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "service_tier": "standard",
    }
    return {
        "id": entry.get("id", f"msg_replay_{number:04d}"),
        "type": "message",
        "role": "assistant",
        "model": entry.get("model", model),
        "content": content,
        "stop_reason": entry.get("stop_reason", "tool_use" if has_tool_use else "end_turn"),
        "stop_sequence": None,
        "usage": full_usage,
    }


def validation_error(body: Any) -> str | None:
    """What the real API would say is wrong with a /v1/messages body, or None."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    missing = [key for key in ("model", "max_tokens", "messages") if key not in body]
    if missing:
        return f"{missing[0]}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: Input should be a non-empty string"
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 0:
        return "max_tokens: Input should be a non-negative integer"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return _conversation_error(messages) or _breakpoint_error(body)


def _blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _conversation_error(messages: list[Any]) -> str | None:
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        if message.get("content") in (None, "", []):
            return f"messages.{index}: all messages must have non-empty content"
    if messages[0]["role"] != "user":
        return "messages: the first message must use the 'user' role"
    for index, message in enumerate(messages):
        asked = [b.get("id") for b in _blocks(message) if b.get("type") == "tool_use"]
        if message["role"] != "assistant" or not asked:
            continue
        if index + 1 == len(messages):
            continue  # a trailing assistant turn is a prefill, not an unanswered call
        following = messages[index + 1]
        answered = (
            {b.get("tool_use_id") for b in _blocks(following) if b.get("type") == "tool_result"}
            if following["role"] == "user"
            else set()
        )
        lost = [tool_id for tool_id in asked if tool_id not in answered]
        if lost:
            return (
                f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks"
                f" immediately after: {', '.join(map(str, lost))}. Each `tool_use` block must"
                " have a corresponding `tool_result` block in the next message."
            )
    return None


def _breakpoint_error(body: Mapping[str, Any]) -> str | None:
    marked = 0
    system = body.get("system")
    if isinstance(system, list):
        marked += sum(1 for b in system if isinstance(b, dict) and b.get("cache_control"))
    marked += sum(
        1 for t in body.get("tools") or [] if isinstance(t, dict) and t.get("cache_control")
    )
    for message in body["messages"]:
        marked += sum(1 for b in _blocks(message) if b.get("cache_control"))
    if marked > MAX_CACHE_BREAKPOINTS:
        return (
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided."
            f" Found {marked}."
        )
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    timeout = 30  # an idle keep-alive connection does not hold its thread forever

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the CLI show what matters themselves."""

    def do_GET(self) -> None:
        self._record(None)
        self._error(404, "not_found_error", f"Not found: {self.command} {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        self._record(body)
        if self.path.split("?", 1)[0] != "/v1/messages":
            self._error(404, "not_found_error", f"Not found: {self.command} {self.path}")
            return
        if isinstance(body, str):
            self._error(400, "invalid_request_error", "the request body is not valid JSON")
            return
        if self.server.api_key is not None and not self._authorised():
            self._error(401, "authentication_error", "invalid x-api-key")
            return
        problem = validation_error(body)
        if problem is not None:
            self._error(400, "invalid_request_error", problem)
            return
        entry, number = self.server.next_entry()
        if entry is None:
            self._error(
                500,
                "api_error",
                f"the replay script ran out after {number} response(s)",
                {"x-should-retry": "false"},
            )
            return
        self._answer(entry, body, number)

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _authorised(self) -> bool:
        key = self.server.api_key
        bearer = self.headers.get("authorization") or ""
        return self.headers.get("x-api-key") == key or bearer == f"Bearer {key}"

    def _record(self, body: Any) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.record(RecordedRequest(self.command, self.path, headers, body))

    def _answer(self, entry: Mapping[str, Any], body: Mapping[str, Any], number: int) -> None:
        headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
        status = int(entry.get("status") or 0) or (
            STATUS_FOR_ERROR.get(str(entry.get("error_type")), 500)
            if "error_type" in entry
            else 200
        )
        if status >= 400:
            kind = str(entry.get("error_type") or ERROR_FOR_STATUS.get(status, "api_error"))
            message = str(entry.get("message") or f"scripted {kind}")
            self._error(status, kind, message, headers)
            return
        payload = entry["body"] if "body" in entry else message_body(entry, body["model"], number)
        self._send(status, payload, headers)

    def _error(
        self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        request_id = self.server.request_id()
        self._send(status, error_body(kind, message, request_id), headers, request_id)

    def _send(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", request_id or self.server.request_id())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive connections must not hold up shutdown

    def __init__(self, port: int, script: Sequence[Mapping[str, Any]], api_key: str | None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.script = [dict(entry) for entry in script]
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.served = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def next_entry(self) -> tuple[dict[str, Any] | None, int]:
        with self.lock:
            if self.served >= len(self.script):
                return None, self.served
            self.served += 1
            return self.script[self.served - 1], self.served

    def request_id(self) -> str:
        with self.lock:
            return f"req_replay_{next(self.ids):04d}"


class ReplayServer:
    """The scripted Messages API on 127.0.0.1 (a free port), for the lifetime of a `with`."""

    def __init__(
        self,
        script: Sequence[Mapping[str, Any]],
        *,
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        """`api_key`: when set, requests must carry it (x-api-key or Bearer), else 401."""
        self._server = _Server(port, script, api_key)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._started = False

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._server.lock:
            return list(self._server.requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Only the POST /v1/messages requests."""
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.path.split("?", 1)[0] == "/v1/messages"
        ]

    @property
    def served(self) -> int:
        """How many script entries were answered."""
        with self._server.lock:
            return self._server.served

    @property
    def remaining(self) -> int:
        with self._server.lock:
            return len(self._server.script) - self._server.served

    def start(self) -> ReplayServer:
        if not self._started:
            self._thread.start()
            self._started = True
        return self

    def close(self) -> None:
        if self._started:
            self._server.shutdown()
            self._thread.join()
            self._started = False
        self._server.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.agent.replay",
        description="Serve a scripted or recorded Messages API on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument(
        "script", type=Path, help="a .json list, a .jsonl file, or a transcript.jsonl"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: any free one)"
    )
    parser.add_argument("--api-key", help="refuse requests that do not carry this key (401)")
    args = parser.parse_args(argv)
    try:
        script = load_script(args.script)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server = ReplayServer(script, port=args.port, api_key=args.api_key)
    except OSError as exc:
        print(f"error: cannot listen on port {args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    # Ctrl-C stops it even where it was started with SIGINT ignored (a background job of a
    # script, nohup), which Python would otherwise leave ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with server:
        print(
            f"ANTHROPIC_BASE_URL={server.base_url}  ({len(script)} response(s) scripted)",
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"stopped after {server.served} response(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
