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

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCalls, FunctionModel

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
