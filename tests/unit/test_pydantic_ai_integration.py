"""`agent_sessions.integrations.pydantic_ai` without a stack: history both ways, stop through the
turn's signal, and the package and its handlers never importing Pydantic AI on their own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.models.test import TestModel

from agent_sessions.agent.messages import MessageAccumulator
from agent_sessions.agent.types import AbortSignal, Turn
from agent_sessions.integrations.pydantic_ai import stream_agent, to_model_messages, to_ui_messages

ROOT = Path(__file__).resolve().parents[2]


def _turn(messages: list[dict[str, Any]], signal: AbortSignal | None = None) -> Turn:
    return Turn(
        chat_id="c1",
        run_id="r1",
        turn=0,
        trigger="submit-message",
        messages=messages,
        message=messages[-1],
        client_data=None,
        metadata={},
        signal=signal or AbortSignal(),
        continuation=False,
        previous_run_id=None,
        preloaded=False,
    )


def _collect(turn: Turn, agent: Agent[Any, Any]) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        return [dict(c) async for c in stream_agent(agent, turn)]

    return asyncio.run(run())


USER = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}


def test_test_model_tool_calls_and_text_fold_into_one_assistant_message() -> None:
    agent: Agent[None, str] = Agent(TestModel())

    @agent.tool_plain
    def lookup(q: str) -> str:
        return f"found {q}"

    chunks = _collect(_turn([USER]), agent)
    accumulator = MessageAccumulator("a1")
    for chunk in chunks:
        accumulator.add(chunk)  # type: ignore[arg-type]
    assert "start" not in [c["type"] for c in chunks], "the runtime writes start with its own message id"
    tool = next(p for p in accumulator.parts if p["type"] == "tool-lookup")
    assert tool["state"] == "output-available" and tool["output"] == "found a"
    assert any(p["type"] == "text" and p["text"] for p in accumulator.parts)
    assert accumulator.message["id"] == "a1"


def test_history_round_trips_between_ui_and_pydantic_ai_messages() -> None:
    model_messages: list[ModelMessage] = [
        ModelRequest(parts=[UserPromptPart(content="weather in Paris?")]),
        ModelResponse(
            parts=[ToolCallPart(tool_name="get_weather", args={"city": "Paris"}, tool_call_id="c1")]
        ),
        ModelRequest(
            parts=[ToolReturnPart(tool_name="get_weather", content={"sky": "sunny"}, tool_call_id="c1")]
        ),
        ModelResponse(parts=[TextPart(content="Sunny.")]),
    ]
    ui = to_ui_messages(model_messages)
    assert ui[0]["role"] == "user" and {m["role"] for m in ui[1:]} == {"assistant"}
    tool = next(p for m in ui[1:] for p in m["parts"] if p["type"] == "tool-get_weather")
    assert tool["state"] == "output-available" and tool["input"] == {"city": "Paris"}
    back = to_model_messages(ui)
    calls = [p for m in back for p in m.parts if isinstance(p, ToolCallPart)]
    returns = [p for m in back for p in m.parts if isinstance(p, ToolReturnPart)]
    texts = [
        p.content for m in back if isinstance(m, ModelResponse) for p in m.parts if isinstance(p, TextPart)
    ]
    assert [(c.tool_name, c.args_as_dict()) for c in calls] == [("get_weather", {"city": "Paris"})]
    assert [r.content for r in returns] == [{"sky": "sunny"}]
    assert texts == ["Sunny."]


def test_the_turn_signal_cancels_a_model_call_in_flight() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def stalls(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        yield "partial "
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        yield "never"

    signal = AbortSignal()
    threading.Thread(target=lambda: started.wait(5) and signal.abort("stop"), daemon=True).start()
    chunks = _collect(_turn([USER], signal), Agent(FunctionModel(stream_function=stalls)))
    assert cancelled.is_set()
    assert [c["delta"] for c in chunks if c["type"] == "text-delta"] == ["partial "]
    assert "abort" not in [c["type"] for c in chunks], "a stop ends like every stop: finish + turn-complete"


def test_neither_the_package_nor_the_handlers_import_pydantic_ai() -> None:
    code = (
        "import sys, importlib.util\n"
        "import agent_sessions, agent_sessions.agent, agent_sessions.worker, agent_sessions.lambda_entry\n"
        "for name in ['agent_worker', 'append', 'start_session', 'session_control', 'token_mint']:\n"
        "    spec = importlib.util.spec_from_file_location(name, f'functions/{name}/app.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic_ai'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("approved", [True, False])
def test_an_approval_tool_pauses_with_a_request_and_the_answer_in_the_history_resumes_it(
    approved: bool,
) -> None:
    """Pydantic AI's approval-required tools over the AI SDK 6 approval flow: the turn ends with a
    `tool-approval-request`; the client's answer, folded into the assistant message it resends, runs
    (or denies) the tool on the next turn."""
    sent: list[str] = []

    async def model(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
            yield "done."
        else:
            yield {
                0: DeltaToolCall(name="send_email", json_args='{"to": "ann@example.com"}', tool_call_id="t9")
            }

    agent: Agent[None, Any] = Agent(
        FunctionModel(stream_function=model), output_type=[str, DeferredToolRequests]
    )

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str) -> str:
        sent.append(to)
        return f"sent to {to}"

    first = _collect(_turn([USER]), agent)
    assert {"type": "tool-approval-request", "approvalId": "t9", "toolCallId": "t9"} in first
    accumulator = MessageAccumulator("a1")
    for chunk in first:
        accumulator.add(chunk)  # type: ignore[arg-type]
    part = next(p for p in accumulator.message["parts"] if p["type"] == "tool-send_email")
    assert part["state"] == "approval-requested" and sent == []
    part["state"] = "approval-responded"  # what the AI SDK client's addToolApprovalResponse does
    part["approval"] = {"id": "t9", "approved": approved}

    second = _collect(_turn([USER, accumulator.message]), agent)
    if approved:
        assert sent == ["ann@example.com"]
        assert {
            "type": "tool-output-available",
            "toolCallId": "t9",
            "output": "sent to ann@example.com",
        } in second
    else:
        assert sent == []
        assert any(c["type"] == "tool-output-denied" and c["toolCallId"] == "t9" for c in second)
