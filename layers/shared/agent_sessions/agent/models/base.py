"""The model event protocol and the multi-step tool loop that turns it into UI-message chunks."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from agent_sessions.agent import budget
from agent_sessions.agent.messages import Chunk, ModelMessage, UIMessage, to_model_messages, tool_name
from agent_sessions.agent.models.tools import Tool, ToolError
from agent_sessions.ids import new_record_id


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text (streamed as a `text-delta` chunk)."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (streamed as a `reasoning-delta` chunk)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The model calls tool `name` with `input` (decoded JSON); `id` matches its result later."""

    id: str
    name: str
    input: Any


@dataclass(frozen=True)
class Finish:
    """The step's end: `reason` as the AI SDK names it (`stop`, `tool-calls`, `length`,
    `content-filter`, `other`) and the provider's token `usage`, under its own key names."""

    reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)


ModelEvent = TextDelta | ReasoningDelta | ToolCall | Finish


class Model(Protocol):
    """What `Turn.stream_text` drives (the role of an AI SDK `LanguageModel`): one object with `stream`.
    Implemented by `OfflineModel`, `BedrockModel` and `OpenAICompatibleModel`."""

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        """One model step over `messages` (provider-neutral model messages, oldest first; `system` is
        the system prompt): yields `TextDelta` / `ReasoningDelta`s, then the step's `ToolCall`s, then
        one `Finish`. Provider errors propagate (the turn ends with an `error` chunk)."""
        ...


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
    inject: Callable[[], list[UIMessage]] | None = None,
) -> Iterator[Chunk]:
    """Stream one assistant response: steps of text/reasoning/tool calls, tools executed between steps.

    A call to a client tool, or to a tool that needs approval, pauses the loop: the step's other
    calls run, the paused ones stay pending (`tool-input-available` / `tool-approval-request`) and
    no further step starts, so the turn ends waiting for the person. When `messages` (UI messages)
    end with an assistant message, this stream continues it (the AI SDK client does the same):
    first its approval answers are settled — an approved call runs now and streams its output, a
    denied one streams `tool-output-denied` and never runs — then the model carries on from there,
    seeing client tools' outputs as tool results.

    `pending` is polled between steps; messages it returns are injected (steering) and announced
    with a transient `data-pending-message-injected` chunk. `inject` is polled there too; its
    messages (`chat.inject`) join the model's context silently.
    """
    by_name = {t.name: t for t in tools}
    if messages and isinstance(messages[0], dict) and "parts" in messages[0]:
        ui_messages = cast(list[UIMessage], messages)
        if ui_messages[-1].get("role") == "assistant":
            settled = yield from _settle_approvals(ui_messages[-1], by_name)
            ui_messages = [*ui_messages[:-1], settled]
        history = to_model_messages(ui_messages)
    else:
        history = list(messages)
    for step in itertools.count():
        yield {"type": "start-step"}
        calls = yield from _one_step(model, history, tools, system, signal)
        yield {"type": "finish-step"}
        if not calls or step + 1 >= max_steps or (signal is not None and signal.aborted):
            break
        results = []
        paused = False
        for call in calls:
            called = by_name.get(call.name)
            if called is not None and called.is_client:
                paused = True  # its tool-input-available is out; the client answers it
                continue
            if called is not None and called.requires_approval(call.input):
                yield {
                    "type": "tool-approval-request",
                    "approvalId": f"approval_{new_record_id()}",
                    "toolCallId": call.id,
                }
                paused = True
                continue
            output, chunk = _run_tool(called, call)
            yield chunk
            results.append(
                {"type": "tool-result", "toolCallId": call.id, "toolName": call.name, "output": output}
            )
        if paused:
            break
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
        for message in inject() if inject else []:
            history.extend(to_model_messages([message]))


def _settle_approvals(message: UIMessage, by_name: dict[str, Tool]) -> Generator[Chunk, None, UIMessage]:
    """Run the approved calls of `message` and deny the denied ones; returns the message as settled.

    Only parts in `approval-responded` are touched, and each moves to a final state here, so a
    resent approval (merged into a part already final) finds nothing to run: an approved call runs
    once. `message` itself is not changed.
    """
    parts = [dict(p) if isinstance(p, dict) else p for p in message.get("parts") or []]
    for part in parts:
        if not isinstance(part, dict) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        approval = approval if isinstance(approval, dict) else {}
        call = ToolCall(str(part["toolCallId"]), tool_name(part), part.get("input"))
        if approval.get("approved") is not True:
            yield {"type": "tool-output-denied", "toolCallId": call.id}
            part["state"] = "output-denied"
            continue
        called = by_name.get(call.name)
        if called is not None and called.is_client:
            continue  # approving a client tool does not answer it
        output, chunk = _run_tool(called, call)
        yield chunk
        if chunk["type"] == "tool-output-available":
            part.update(state="output-available", output=output)
        else:
            part.update(state="output-error", errorText=str(output.get("error")))
    return {**message, "parts": parts}


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
    budget.before_model_call()
    for event in model.stream(history, tools=tools, system=system):
        if isinstance(event, Finish):
            budget.record_usage(event.usage)
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
