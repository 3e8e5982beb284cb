"""Bedrock (botocore Stubber, real event-stream frames) and OpenAI-compatible (real HTTP server) adapters."""

from __future__ import annotations

import binascii
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from botocore.stub import Stubber
from pydantic import BaseModel

from agent_sessions.agent.messages import DENIED_TEXT, to_model_messages
from agent_sessions.agent.models import Finish, ReasoningDelta, TextDelta, ToolCall, stream_text, tool
from agent_sessions.agent.models.bedrock import BedrockModel, to_bedrock_messages
from agent_sessions.agent.models.openai import OpenAICompatibleModel, to_openai_messages
from agent_sessions.agent.models.tools import client_tool


class CityInput(BaseModel):
    city: str


@tool("Weather for a city")
def get_weather(args: CityInput) -> dict[str, str]:
    return {"forecast": f"rain in {args.city}"}


USER = [{"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]}]

# ------------------------------------------------------------------ Bedrock


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("!B", len(n)) + n + struct.pack("!BH", 7, len(v)) + v


def _frame(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message, exactly as Bedrock sends it on the wire."""
    headers = _header(":event-type", event_type) + _header(":content-type", "application/json")
    headers += _header(":message-type", "event")
    body = json.dumps(payload).encode()
    prelude = struct.pack("!II", 16 + len(headers) + len(body), len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), 7):  # arbitrary cuts: the decoder must reassemble frames
            yield self.data[i : i + 7]

    def close(self) -> None:
        pass


class _StubbedStream(dict):  # type: ignore[type-arg]
    """Passes the Stubber's response validation as an empty structure, then iterates the real stream."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__()
        self._stream = stream
        self.armed = False

    def __iter__(self) -> Iterator[Any]:
        return iter(self._stream) if self.armed else iter(())


def _bedrock_stream(client: Any, events: list[tuple[str, dict[str, Any]]]) -> _StubbedStream:
    shape = client.meta.service_model.operation_model("ConverseStream").output_shape.members["stream"]
    raw = b"".join(_frame(kind, payload) for kind, payload in events)
    return _StubbedStream(EventStream(_Raw(raw), shape, EventStreamJSONParser(), "ConverseStream"))


@pytest.fixture
def bedrock() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_bedrock_text_reasoning_and_tool_use(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    model = BedrockModel("anthropic.claude-test", client=client)
    stream = _bedrock_stream(
        client,
        [
            ("messageStart", {"role": "assistant"}),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Need weather."}}},
            ),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Let me check."}}),
            ("contentBlockStop", {"contentBlockIndex": 1}),
            (
                "contentBlockStart",
                {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu1", "name": "get_weather"}}},
            ),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"ci'}}}),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": 'ty": "Oslo"}'}}}),
            ("contentBlockStop", {"contentBlockIndex": 2}),
            ("messageStop", {"stopReason": "tool_use"}),
            (
                "metadata",
                {
                    "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
                    "metrics": {"latencyMs": 1},
                },
            ),
        ],
    )
    expected = model.request(USER, tools=[get_weather], system="Be brief.")
    stubber.add_response("converse_stream", {"stream": stream}, expected)
    stream.armed = True
    events = list(model.stream(USER, tools=[get_weather], system="Be brief."))
    assert events == [
        ReasoningDelta("Need weather."),
        TextDelta("Let me check."),
        ToolCall("tu1", "get_weather", {"city": "Oslo"}),
        Finish("tool-calls", {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}),
    ]
    assert expected["system"] == [{"text": "Be brief."}]
    assert expected["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["city"]


def test_bedrock_tool_loop_sends_tool_results_back(bedrock: tuple[Any, Stubber]) -> None:
    client, stubber = bedrock
    model = BedrockModel("m", client=client)
    first = _bedrock_stream(
        client,
        [
            (
                "contentBlockStart",
                {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tu1", "name": "get_weather"}}},
            ),
            (
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city":"Oslo"}'}}},
            ),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("messageStop", {"stopReason": "tool_use"}),
        ],
    )
    second = _bedrock_stream(
        client,
        [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "It rains in Oslo."}}),
            ("messageStop", {"stopReason": "end_turn"}),
        ],
    )
    follow_up = [
        {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tu1", "name": "get_weather", "input": {"city": "Oslo"}}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tu1",
                        "content": [{"json": {"forecast": "rain in Oslo"}}],
                        "status": "success",
                    }
                }
            ],
        },
    ]
    tools_config = model.request(USER, tools=[get_weather])["toolConfig"]
    stubber.add_response("converse_stream", {"stream": first}, model.request(USER, tools=[get_weather]))
    stubber.add_response(
        "converse_stream",
        {"stream": second},
        {"modelId": "m", "messages": follow_up, "toolConfig": tools_config},
    )
    first.armed = second.armed = True
    chunks = list(stream_text(model, USER, tools=[get_weather]))
    assert next(c for c in chunks if c["type"] == "tool-output-available")["output"] == {
        "forecast": "rain in Oslo"
    }
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "It rains in Oslo."


# ------------------------------------------------------------------ OpenAI-compatible


class _Completions(BaseHTTPRequestHandler):
    scripts: list[list[dict[str, Any]]] = []
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append(
            {"path": self.path, "auth": self.headers.get("authorization"), "body": body}
        )
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for chunk in type(self).scripts.pop(0):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def completions() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Completions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Completions.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def test_openai_compatible_streams_text_and_tool_calls(completions: str) -> None:
    _Completions.scripts = [
        [
            _delta(role="assistant", content=""),
            _delta(
                tool_calls=[
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            ),
            _delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
            _delta(tool_calls=[{"index": 0, "function": {"arguments": '"Oslo"}'}}]),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        ],
        [
            _delta(content="Rain "),
            _delta(content="today."),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}},
        ],
    ]
    model = OpenAICompatibleModel("gpt-test", base_url=completions, api_key="sk-test")
    chunks = list(stream_text(model, USER, tools=[get_weather], system="Be brief."))
    assert "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == "Rain today."
    call = next(c for c in chunks if c["type"] == "tool-input-available")
    assert call["toolCallId"] == "call_1" and call["input"] == {"city": "Oslo"}
    first, second = _Completions.requests
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["stream"] is True and first["body"]["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }
    assert first["body"]["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert second["body"]["messages"][-2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert second["body"]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"forecast": "rain in Oslo"}',
    }


# ------------------------------------------------------------------ paused calls and approvals (issue 11)


class EmailInput(BaseModel):
    to: str


sent: list[str] = []


@tool("Send an email", needs_approval=True)
def send_email(args: EmailInput) -> dict[str, str]:
    sent.append(args.to)
    return {"status": "sent"}


ask_user = client_tool("ask_user", "Ask the person", CityInput)


def _paused(*tool_parts: dict[str, Any]) -> list[dict[str, Any]]:
    """UI history: a user message, then the assistant message paused on `tool_parts`, answered."""
    return [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Weather in Oslo?"}]},
        {
            "id": "m1",
            "role": "assistant",
            "parts": [{"type": "step-start"}, {"type": "text", "text": "One moment."}, *tool_parts],
        },
    ]


ANSWERED = {
    "type": "tool-ask_user",
    "toolCallId": "tu_ask",
    "state": "output-available",
    "input": {"city": "?"},
    "output": {"city": "Oslo"},
}


def _email(approved: bool, reason: str | None = None) -> dict[str, Any]:
    approval: dict[str, Any] = {"id": "ap1", "approved": approved, **({"reason": reason} if reason else {})}
    return {
        "type": "tool-send_email",
        "toolCallId": "tu_mail",
        "state": "approval-responded",
        "input": {"to": "bob@example.com"},
        "approval": approval,
    }


def test_bedrock_gets_the_client_answer_and_the_denial_as_tool_results_matched_by_id(
    bedrock: tuple[Any, Stubber],
) -> None:
    client, stubber = bedrock
    model = BedrockModel("m", client=client)
    reply = _bedrock_stream(
        client,
        [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Not sent."}}),
            ("messageStop", {"stopReason": "end_turn"}),
        ],
    )
    expected = [
        {"role": "user", "content": [{"text": "Weather in Oslo?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "One moment."},
                {"toolUse": {"toolUseId": "tu_ask", "name": "ask_user", "input": {"city": "?"}}},
                {
                    "toolUse": {
                        "toolUseId": "tu_mail",
                        "name": "send_email",
                        "input": {"to": "bob@example.com"},
                    }
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tu_ask",
                        "content": [{"json": {"city": "Oslo"}}],
                        "status": "success",
                    }
                },
                {
                    "toolResult": {
                        "toolUseId": "tu_mail",
                        "content": [{"text": DENIED_TEXT + " Reason: not now"}],
                        "status": "error",
                    }
                },
            ],
        },
    ]
    tools = [ask_user, send_email]
    tools_config = model.request(USER, tools=tools)["toolConfig"]
    stubber.add_response(
        "converse_stream",
        {"stream": reply},
        {"modelId": "m", "messages": expected, "toolConfig": tools_config},
    )
    reply.armed = True
    sent.clear()
    chunks = list(stream_text(model, _paused(ANSWERED, _email(False, "not now")), tools=tools))
    assert [c for c in chunks if c["type"] == "tool-output-denied"] == [
        {"type": "tool-output-denied", "toolCallId": "tu_mail"}
    ]
    assert sent == [], "a denied call never runs"
    stubber.assert_no_pending_responses()


def test_openai_compatible_runs_the_approved_call_once_and_sends_every_result_by_id(completions: str) -> None:
    _Completions.scripts = [
        [_delta(content="Sent."), {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}],
    ]
    model = OpenAICompatibleModel("gpt-test", base_url=completions, api_key="sk-test")
    sent.clear()
    chunks = list(stream_text(model, _paused(ANSWERED, _email(True)), tools=[ask_user, send_email]))
    assert sent == ["bob@example.com"]
    assert chunks[0] == {
        "type": "tool-output-available",
        "toolCallId": "tu_mail",
        "output": {"status": "sent"},
    }
    messages = _Completions.requests[0]["body"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["tu_ask", "tu_mail"]
    assert messages[2] == {"role": "tool", "tool_call_id": "tu_ask", "content": '{"city": "Oslo"}'}
    assert messages[3] == {"role": "tool", "tool_call_id": "tu_mail", "content": '{"status": "sent"}'}


def test_openai_compatible_is_told_of_a_denial_in_the_tool_message() -> None:
    history = to_model_messages(_paused({**_email(False), "state": "output-denied"}))
    assert to_openai_messages(history, None)[-1] == {
        "role": "tool",
        "tool_call_id": "tu_mail",
        "content": DENIED_TEXT,
    }


def test_pending_calls_are_left_out_for_both_providers() -> None:
    pending = {"type": "tool-ask_user", "toolCallId": "tu_ask", "state": "input-available", "input": {}}
    asked = {**_email(True), "state": "approval-requested", "approval": {"id": "ap1"}}
    history = to_model_messages([*_paused(pending, asked), {"id": "u2", "role": "user", "parts": []}])
    assert to_bedrock_messages(history)[1] == {"role": "assistant", "content": [{"text": "One moment."}]}
    assert "tool_calls" not in to_openai_messages(history, None)[1]
