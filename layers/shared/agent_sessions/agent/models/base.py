"""The model event protocol and the multi-step tool loop that turns it into UI-message chunks."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_sessions.agent.messages import Chunk, ModelMessage, UIMessage, to_model_messages
from agent_sessions.agent.models.tools import Tool, ToolError
from agent_sessions.ids import new_record_id


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Any


@dataclass(frozen=True)
class Finish:
    reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)


ModelEvent = TextDelta | ReasoningDelta | ToolCall | Finish


class Model(Protocol):
    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]: ...


class _Aborted(Protocol):
    @property
    def aborted(self) -> bool: ...


def stream_text(
    model: Model,
    messages: list[UIMessage] | list[ModelMessage],
    *,
    tools: Sequence[Tool] = (),
    system: str | None = None,
    max_steps: int = 5,
    signal: _Aborted | None = None,
    pending: Callable[[], list[UIMessage]] | None = None,
) -> Iterator[Chunk]:
    """Stream one assistant response: steps of text/reasoning/tool calls, tools executed between steps.

    `pending` is polled between steps; messages it returns are injected (steering) and announced
    with a transient `data-pending-message-injected` chunk.
    """
    history = _as_model_messages(messages)
    by_name = {t.name: t for t in tools}
    for step in itertools.count():
        yield {"type": "start-step"}
        calls = yield from _one_step(model, history, tools, system, signal)
        yield {"type": "finish-step"}
        if not calls or step + 1 >= max_steps or (signal is not None and signal.aborted):
            break
        results = []
        for call in calls:
            output, chunk = _run_tool(by_name.get(call.name), call)
            yield chunk
            results.append(
                {"type": "tool-result", "toolCallId": call.id, "toolName": call.name, "output": output}
            )
        history.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool-call", "toolCallId": c.id, "toolName": c.name, "input": c.input}
                    for c in calls
                ],
            }
        )
        history.append({"role": "tool", "content": results})
        for message in pending() if pending else []:
            history.extend(to_model_messages([message]))
            yield {
                "type": "data-pending-message-injected",
                "data": {"messageId": message.get("id")},
                "transient": True,
            }


def _as_model_messages(messages: list[Any]) -> list[ModelMessage]:
    if messages and isinstance(messages[0], dict) and "parts" in messages[0]:
        return to_model_messages(messages)
    return list(messages)


def _one_step(
    model: Model,
    history: list[ModelMessage],
    tools: Sequence[Tool],
    system: str | None,
    signal: _Aborted | None,
) -> Generator[Chunk, None, list[ToolCall]]:
    text_id: str | None = None
    reasoning_id: str | None = None
    calls: list[ToolCall] = []
    for event in model.stream(history, tools=tools, system=system):
        if signal is not None and signal.aborted:
            break
        if isinstance(event, TextDelta):
            if text_id is None:
                text_id = new_record_id()
                yield {"type": "text-start", "id": text_id}
            yield {"type": "text-delta", "id": text_id, "delta": event.text}
        elif isinstance(event, ReasoningDelta):
            if reasoning_id is None:
                reasoning_id = new_record_id()
                yield {"type": "reasoning-start", "id": reasoning_id}
            yield {"type": "reasoning-delta", "id": reasoning_id, "delta": event.text}
        elif isinstance(event, ToolCall):
            calls.append(event)
            yield {"type": "tool-input-start", "toolCallId": event.id, "toolName": event.name}
            yield {
                "type": "tool-input-available",
                "toolCallId": event.id,
                "toolName": event.name,
                "input": event.input,
            }
    if reasoning_id is not None:
        yield {"type": "reasoning-end", "id": reasoning_id}
    if text_id is not None:
        yield {"type": "text-end", "id": text_id}
    return calls


def _run_tool(tool: Tool | None, call: ToolCall) -> tuple[Any, Chunk]:
    if tool is None:
        error = f"unknown tool {call.name}"
        return {"error": error}, {"type": "tool-output-error", "toolCallId": call.id, "errorText": error}
    try:
        output = tool.execute(call.input)
    except ToolError as exc:
        return {"error": str(exc)}, {
            "type": "tool-output-error",
            "toolCallId": call.id,
            "errorText": str(exc),
        }
    except Exception as exc:  # a tool's own failure is reported to the model, not raised
        error = f"{type(exc).__name__}: {exc}"
        return {"error": error}, {"type": "tool-output-error", "toolCallId": call.id, "errorText": error}
    return output, {"type": "tool-output-available", "toolCallId": call.id, "output": output}
