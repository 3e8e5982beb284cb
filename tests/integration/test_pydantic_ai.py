"""A Pydantic AI agent as a `chat.agent` on the local stack, offline (`FunctionModel`): reasoning, a
tool call and streamed text reach `.out` and the saved history; the next turn's model sees the whole
conversation; a stop cancels the model call in flight and the run answers the next message."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, CallDeferred, DeferredToolRequests
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from agent_sessions.agent import Turn, chat
from agent_sessions.agent.history import ChatHistory
from agent_sessions.integrations.pydantic_ai import stream_agent
from agent_sessions.local.stack import LocalStack
from examples import pydantic_ai_agent
from tests.integration.localstack import Chat, text_of, wait_for
from tests.support import read_sse

seen: list[list[ModelMessage]] = []


async def _recording_model(
    messages: list[ModelMessage], info: AgentInfo
) -> AsyncIterator[str | DeltaToolCalls]:
    seen.append(list(messages))
    async for delta in pydantic_ai_agent.offline_model(messages, info):
        yield delta  # type: ignore[misc]


recording = Agent(FunctionModel(stream_function=_recording_model), tools=[pydantic_ai_agent.get_weather])


@chat.agent(id="t-pydantic-ai")
def _recorded(turn: Turn) -> AsyncIterator[Any]:
    return stream_agent(recording, turn)


cancelled = threading.Event()
never = asyncio.Event  # a model that streams one word, then waits for a release that never comes


async def _stalling_model(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    yield "partial "
    try:
        await never().wait()
    except asyncio.CancelledError:
        cancelled.set()
        raise
    yield "never sent"


stalling = Agent(FunctionModel(stream_function=_stalling_model))


@chat.agent(id="t-pydantic-ai-stall")
def _stalled(turn: Turn) -> AsyncIterator[Any]:
    if "again" in str(turn.message):
        return stream_agent(recording, turn)
    return stream_agent(stalling, turn)


def _types(records: list[Any]) -> list[str]:
    return [r.chunk["type"] for r in records if r.chunk]


def test_a_pydantic_ai_agent_streams_reasoning_a_tool_call_and_text_and_keeps_the_history(
    stack: LocalStack,
) -> None:
    talk = Chat(stack, "pai-1", task="t-pydantic-ai")
    first = talk.turn("What is the weather in Paris?")
    types = _types(first.records)
    assert types[0] == "start" and types[-1] == "finish" and types.count("start") == 1
    assert {"reasoning-delta", "tool-input-available", "tool-output-available", "text-delta"} <= set(types)
    assert not {"done", "abort"} & set(types)
    output = next(r.chunk for r in first.records if r.chunk and r.chunk["type"] == "tool-output-available")
    assert output["output"] == {"city": "Paris", "forecast": "sunny, 21°C"}
    assert text_of(first.records).strip() == "In Paris it is sunny, 21°C."

    second = talk.turn("And in Oslo?", after=first)
    assert text_of(second.records).strip() == "In Oslo it is snow, -3°C."
    # The second run saw the first turn as Pydantic AI messages: prompt, tool call, tool return, answer.
    history = seen[-2]  # the second turn's first model call (the last one also holds the Oslo call)
    calls = [
        p for m in history if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, ToolCallPart)
    ]
    texts = [
        p.content for m in history if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, TextPart)
    ]
    assert [c.args_as_dict() for c in calls] == [{"city": "Paris"}]
    assert texts == ["In Paris it is sunny, 21°C. "]
    assert isinstance(history[0], ModelRequest)

    wait_for(lambda: len(ChatHistory(talk.created["id"]).load()[0]) == 4)
    saved, _ = ChatHistory(talk.created["id"]).load()
    assistant = saved[1]
    assert assistant["role"] == "assistant"
    assert [p["type"] for p in assistant["parts"] if p["type"] != "step-start"] == [
        "reasoning",
        "tool-get_weather",
        "text",
    ]
    assert assistant["parts"][2]["state"] == "output-available"


def test_stop_cancels_the_model_call_in_flight_and_the_run_answers_the_next_message(
    stack: LocalStack,
) -> None:
    talk = Chat(stack, "pai-stop", task="t-pydantic-ai-stall")
    seq = talk.send("tell me something long")
    read_sse(stack.base_url, talk.chat_id, talk.token, until_control=None, max_records=3)
    stop_seq = talk.stop()
    stopped = read_sse(stack.base_url, talk.chat_id, talk.token, min_in_seq=seq)
    assert int(stopped.records[-1].header("session-in-event-id") or -1) >= stop_seq
    assert text_of(stopped.records) == "partial "
    assert _types(stopped.records)[-1] == "finish"
    assert cancelled.wait(5), "the model call was cancelled, not left running"
    after = talk.turn("again: weather in Lima?", after=stopped)
    assert text_of(after.records).strip() == "In Lima it is cloudy, 18°C."
    assert [r["reason"] for r in talk.runs()] == ["initial"], "the same run answered after the stop"


# ------------------------------------------------------------ deferred tools on the human-in-the-loop flow

emails: list[str] = []


def _deferred_model(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
    async def stream() -> AsyncIterator[str | DeltaToolCalls]:
        last = messages[-1]
        answered = [p for p in last.parts if isinstance(p, ToolReturnPart | RetryPromptPart)]
        if answered:
            yield f"Done: {answered[-1].content}"
        elif "email" in str(last.parts):
            yield {0: DeltaToolCall(name="send_email", json_args='{"to": "ann@example.com"}')}
        else:
            yield {0: DeltaToolCall(name="ask_user", json_args='{"question": "Which city?"}')}

    return stream()


deferring: Agent[None, Any] = Agent(
    FunctionModel(stream_function=_deferred_model), output_type=[str, DeferredToolRequests]
)


@deferring.tool_plain(requires_approval=True)
def send_email(to: str) -> str:
    emails.append(to)
    return f"sent to {to}"


@deferring.tool_plain
def ask_user(question: str) -> str:
    raise CallDeferred  # answered by the client (addToolOutput)


@chat.agent(id="t-pydantic-ai-deferred", idle_timeout_in_seconds=0.2)
def _deferred(turn: Turn) -> AsyncIterator[Any]:
    return stream_agent(deferring, turn)


def _chunk(read: Any, kind: str) -> dict[str, Any]:
    (found,) = [r.chunk for r in read.records if r.chunk and r.chunk.get("type") == kind]
    return dict(found)


def _answer(talk: Chat, after: Any, message_id: str, part: dict[str, Any]) -> Any:
    """What the AI SDK client appends after addToolApprovalResponse / addToolOutput: the slim message."""
    slim = {"id": message_id, "role": "assistant", "parts": [part]}
    seq = talk.append(
        {"kind": "message", "payload": {"chatId": talk.chat_id, "trigger": "submit-message", "message": slim}}
    )
    return read_sse(
        talk.stack.base_url, talk.chat_id, talk.token, last_event_id=after.records[-1].seq, min_in_seq=seq
    )


@pytest.mark.parametrize("approved", [True, False])
def test_an_approval_required_tool_waits_for_the_client_and_runs_once_if_approved(
    stack: LocalStack, approved: bool
) -> None:
    emails.clear()
    talk = Chat(stack, f"pai-approve-{approved}", task="t-pydantic-ai-deferred")
    asked = talk.turn("email ann please")
    message_id = _chunk(asked, "start")["messageId"]
    call = _chunk(asked, "tool-input-available")
    request = _chunk(asked, "tool-approval-request")
    assert request["toolCallId"] == call["toolCallId"] and emails == []

    part = {
        "type": "tool-send_email",
        "toolCallId": call["toolCallId"],
        "state": "approval-responded",
        "input": call["input"],
        "approval": {"id": request["approvalId"], "approved": approved},
    }
    answered = _answer(talk, asked, message_id, part)
    assert _chunk(answered, "start")["messageId"] == message_id, "the answer continues the same message"
    if approved:
        assert emails == ["ann@example.com"]
        assert _chunk(answered, "tool-output-available")["output"] == "sent to ann@example.com"
        assert text_of(answered.records) == "Done: sent to ann@example.com"
        again = _answer(talk, answered, message_id, part)  # the client resends the same approval
        assert not [r for r in again.records if r.chunk and r.chunk["type"] == "tool-output-available"], [
            r.chunk for r in again.records
        ]
        assert emails == ["ann@example.com"], "an approved tool runs once"
    else:
        assert emails == []
        assert _chunk(answered, "tool-output-denied")["toolCallId"] == call["toolCallId"]
    wait_for(lambda: len(ChatHistory(talk.created["id"]).load()[0]) == 2)
    saved, _ = ChatHistory(talk.created["id"]).load()
    assert [m["role"] for m in saved] == ["user", "assistant"] and saved[1]["id"] == message_id


def test_a_deferred_tool_is_a_client_side_tool_whose_output_continues_the_message(stack: LocalStack) -> None:
    talk = Chat(stack, "pai-client-tool", task="t-pydantic-ai-deferred")
    asked = talk.turn("plan a trip")
    message_id = _chunk(asked, "start")["messageId"]
    call = _chunk(asked, "tool-input-available")
    assert call["toolName"] == "ask_user" and call["input"] == {"question": "Which city?"}
    assert not [r for r in asked.records if r.chunk and r.chunk["type"].startswith("tool-output")]

    part = {
        "type": "tool-ask_user",
        "toolCallId": call["toolCallId"],
        "state": "output-available",
        "input": call["input"],
        "output": "Rome",
    }
    answered = _answer(talk, asked, message_id, part)
    assert _chunk(answered, "start")["messageId"] == message_id
    assert text_of(answered.records) == "Done: Rome"
