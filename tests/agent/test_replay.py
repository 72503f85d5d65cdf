"""The replay server: a local Messages API that the real anthropic SDK talks to."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import MessageParam

from bot.agent.replay import ReplayServer, ScriptError, load_script, main
from tests.fakes.messages_api import failure, reply, text, tool_use, usage

KEY = "sk-ant-replay-test-0123456789"
MODEL = "claude-sonnet-5-5"
HELLO: list[MessageParam] = [{"role": "user", "content": "hello"}]


def client_for(server: ReplayServer, retries: int = 0, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=server.base_url, max_retries=retries)


def post(
    server: ReplayServer, path: str, body: Any, raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.base_url + path, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def test_shorthand_becomes_a_full_message_for_the_sdk() -> None:
    script = [
        reply(
            text("looking"),
            tool_use("read_file", path="calc.py"),
            spent=usage(100, 20, cache_write=300, cache_read=40),
        )
    ]
    with ReplayServer(script) as server, client_for(server) as client:
        message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert message.model == MODEL  # the request's model
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "tool_use"  # derived from the tool_use block
    assert message.stop_sequence is None
    assert message.id.startswith("msg_replay_")
    block = message.content[1]
    assert block.type == "tool_use"
    assert block.name == "read_file" and block.input == {"path": "calc.py"}
    assert block.id.startswith("toolu_replay_")
    assert message.usage.input_tokens == 100
    assert message.usage.output_tokens == 20
    assert message.usage.cache_creation_input_tokens == 300
    assert message.usage.cache_read_input_tokens == 40
    assert message._request_id is not None and message._request_id.startswith("req_replay_")


def test_a_full_body_is_served_as_given() -> None:
    body = {
        "id": "msg_recorded",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-5",
        "content": [{"type": "text", "text": "done"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 3},
    }
    with ReplayServer([{"status": 200, "body": body}]) as server, client_for(server) as client:
        message = client.messages.create(model=MODEL, max_tokens=64, messages=HELLO)
    assert message.id == "msg_recorded"
    assert message.model == "claude-opus-5"
    assert message.usage.input_tokens == 7


def test_the_server_records_what_the_sdk_sent() -> None:
    with ReplayServer([reply(text("hi"))]) as server, client_for(server) as client:
        client.messages.create(model=MODEL, max_tokens=64, messages=HELLO, system="be brief")
        (seen,) = server.requests
    assert (seen.method, seen.path) == ("POST", "/v1/messages")
    assert seen.body == {"model": MODEL, "max_tokens": 64, "messages": HELLO, "system": "be brief"}
    assert "anthropic-version" in seen.headers
    # The key travels in a header, never in the body.
    assert KEY in (seen.headers.get("x-api-key", "") + seen.headers.get("authorization", ""))
    assert KEY not in json.dumps(seen.body)


@pytest.mark.parametrize(
    ("entry", "status", "kind", "error_class"),
    [
        ({"status": 529}, 529, "overloaded_error", anthropic.OverloadedError),
        ({"error_type": "rate_limit_error"}, 429, "rate_limit_error", anthropic.RateLimitError),
        ({"status": 401}, 401, "authentication_error", anthropic.AuthenticationError),
        (
            {"status": 404, "error_type": "not_found_error"},
            404,
            "not_found_error",
            anthropic.NotFoundError,
        ),
        ({"status": 500}, 500, "api_error", anthropic.InternalServerError),
    ],
)
def test_errors_have_the_api_shape(
    entry: dict[str, Any], status: int, kind: str, error_class: type[anthropic.APIStatusError]
) -> None:
    with ReplayServer([{**entry, "message": "scripted trouble"}]) as server:
        code, headers, body = post(
            server, "/v1/messages", {"model": MODEL, "max_tokens": 5, "messages": HELLO}
        )
    assert code == status
    assert body["type"] == "error"
    assert body["error"] == {"type": kind, "message": "scripted trouble"}
    assert body["request_id"] == headers["request-id"]
    with (
        ReplayServer([{**entry, "message": "scripted trouble"}]) as server,
        client_for(server) as client,
        pytest.raises(error_class) as caught,
    ):
        client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert caught.value.status_code == status
    assert caught.value.type == kind
    assert caught.value.api_message == "scripted trouble"
    assert caught.value.request_id is not None


def test_retry_after_reaches_the_sdk_which_retries() -> None:
    script = [
        {"status": 429, "headers": {"retry-after": "0.01"}},
        failure(529, "overloaded_error"),
        reply(text("finally")),
    ]
    with ReplayServer(script) as server, client_for(server, retries=2) as client:
        message = client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
        retry_counts = [r.headers["x-stainless-retry-count"] for r in server.requests]
    assert message.content[0].type == "text"
    assert retry_counts == ["0", "1", "2"]


def test_an_exhausted_script_answers_500_and_says_not_to_retry() -> None:
    with ReplayServer([]) as server, client_for(server, retries=2) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
        assert len(server.requests) == 1  # x-should-retry: false
    assert "ran out after 0 response(s)" in str(caught.value.api_message)


def test_unknown_routes_are_404_in_the_error_shape() -> None:
    with ReplayServer([reply(text("unused"))]) as server:
        code, _, body = post(server, "/v1/complete", {"prompt": "x"})
        with client_for(server) as client, pytest.raises(anthropic.NotFoundError):
            client.models.list()
        assert server.remaining == 1  # neither took a script entry
    assert code == 404
    assert body["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"max_tokens": 5, "messages": HELLO}, "model: Field required"),
        ({"model": MODEL, "messages": HELLO}, "max_tokens: Field required"),
        ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "at least one message"),
        ({"model": MODEL, "max_tokens": "5", "messages": HELLO}, "max_tokens"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "hi"}]},
            "first message must use the 'user' role",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": "go"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}
                        ],
                    },
                    {"role": "user", "content": [{"type": "text", "text": "no result"}]},
                ],
            },
            "toolu_1",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "system": [
                    {"type": "text", "text": str(n), "cache_control": {"type": "ephemeral"}}
                    for n in range(5)
                ],
                "messages": HELLO,
            },
            "A maximum of 4 blocks with cache_control",
        ),
    ],
)
def test_requests_are_checked_like_the_real_api(body: dict[str, Any], says: str) -> None:
    with ReplayServer([reply(text("unused"))]) as server:
        code, _, answer = post(server, "/v1/messages", body)
        assert server.remaining == 1  # a bad request takes no script entry
    assert code == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert says in answer["error"]["message"]


def test_a_body_that_is_not_json_is_400() -> None:
    with ReplayServer([]) as server:
        code, _, answer = post(server, "/v1/messages", None, raw=b"{not json")
    assert code == 400
    assert answer["error"]["message"] == "the request body is not valid JSON"


def test_a_required_key_is_checked_in_either_header() -> None:
    with ReplayServer([reply(text("ok"))], api_key=KEY) as server:
        with (
            client_for(server, key="sk-ant-wrong-key-000000") as client,
            pytest.raises(anthropic.AuthenticationError),
        ):
            client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
        with client_for(server) as client:
            message = client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    assert message.content[0].type == "text"


def test_load_script_reads_json_jsonl_and_transcripts(tmp_path: Path) -> None:
    entries = [reply(text("one")), failure(529)]
    as_list = tmp_path / "script.json"
    as_list.write_text(json.dumps(entries))
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"responses": entries}))
    lines = tmp_path / "script.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in entries) + "\n\n")
    transcript = tmp_path / "transcript.jsonl"
    recorded = {"id": "msg_1", "type": "message", "content": []}
    events = [
        {"event": "gate", "label": "before"},
        {"event": "claude_request", "request": {}},
        {"event": "claude_response", "response": recorded},
    ]
    transcript.write_text("\n".join(json.dumps(e) for e in events))
    assert load_script(as_list) == entries
    assert load_script(wrapped) == entries
    assert load_script(lines) == entries
    assert load_script(transcript) == [{"status": 200, "body": recorded}]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("bad.json", "{oops", "not JSON"),
        ("bad.jsonl", '{"a": 1}\nnope\n', "bad.jsonl:2"),
        ("scalar.json", "3", "expected a list of objects"),
    ],
)
def test_load_script_says_what_is_wrong(tmp_path: Path, name: str, content: str, says: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ScriptError, match=says):
        load_script(path)
    with pytest.raises(ScriptError, match="cannot read"):
        load_script(tmp_path / "missing.json")


def test_main_serves_a_script_until_interrupted(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([reply(text("from the command line"))]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.agent.replay", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base_url = first.split()[0].removeprefix("ANTHROPIC_BASE_URL=")
        with anthropic.Anthropic(api_key=KEY, base_url=base_url, max_retries=0) as client:
            message = client.messages.create(model=MODEL, max_tokens=5, messages=HELLO)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert "1 response(s) scripted" in first
    assert message.content[0].type == "text" and message.content[0].text == "from the command line"
    assert proc.returncode == 0
    assert "stopped after 1 response(s)" in err


def test_main_refuses_a_bad_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
