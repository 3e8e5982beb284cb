"""AI SDK UI messages: fold a chunk stream into the assistant message, and turn UI messages into
the neutral model messages the model adapters speak."""

from __future__ import annotations

import copy
from typing import Any, Literal, cast

from agent_sessions.ui_messages import (
    TOOL_CHUNK_TYPES,
    ReasoningUIPart,
    StepStartUIPart,
    TextUIPart,
    ToolApproval,
    ToolChunk,
    UIMessageChunk,
    is_data_chunk,
    is_tool_part_type,
)

UIMessage = dict[str, Any]
"""A UI message as it arrives (`.in`) or is stored (history): JSON checked by `invalid_message_reason`
and read defensively. `ui_messages.UIMessage` and its parts are the typed shape it follows."""
Chunk = UIMessageChunk
ModelMessage = dict[str, Any]


class MessageAccumulator:
    """The assistant `UIMessage` a chunk stream describes (the AI SDK's readUIMessageStream, in small).

    `continues` is an assistant message this stream carries on (a turn resumed after a client tool's
    answer or an approval): its parts are kept and the stream's parts are appended to them, as the
    AI SDK client does when the last message it holds is an assistant message.
    """

    def __init__(self, message_id: str, *, continues: UIMessage | None = None) -> None:
        self.continuing = continues is not None
        parts = copy.deepcopy(list(continues.get("parts") or [])) if continues is not None else []
        self.message: UIMessage = {"id": message_id, "role": "assistant", "parts": parts}
        if continues is not None:
            self.message = {**copy.deepcopy(continues), "id": continues["id"], "parts": parts}
        self._open: dict[tuple[str, str], TextUIPart | ReasoningUIPart] = {}
        self._tools: dict[str, dict[str, Any]] = {
            str(p["toolCallId"]): p for p in parts if isinstance(p, dict) and "toolCallId" in p
        }

    @property
    def parts(self) -> list[dict[str, Any]]:
        return list(self.message["parts"])

    def add(self, chunk: Chunk) -> None:
        if is_data_chunk(chunk):
            if not chunk.get("transient"):
                self.message["parts"].append({k: v for k, v in chunk.items() if k != "transient"})
            return
        if chunk["type"] == "start":
            if chunk.get("messageId"):
                self.message["id"] = chunk["messageId"]
        elif chunk["type"] == "start-step":
            step: StepStartUIPart = {"type": "step-start"}
            self.message["parts"].append(step)
        elif chunk["type"] == "text-start":
            self._part("text", chunk["id"])
        elif chunk["type"] == "reasoning-start":
            self._part("reasoning", chunk["id"])
        elif chunk["type"] == "text-delta":
            self._part("text", chunk["id"])["text"] += chunk["delta"]
        elif chunk["type"] == "reasoning-delta":
            self._part("reasoning", chunk["id"])["text"] += chunk["delta"]
        elif chunk["type"] == "text-end":
            self._part("text", chunk["id"])["state"] = "done"
        elif chunk["type"] == "reasoning-end":
            self._part("reasoning", chunk["id"])["state"] = "done"
        elif chunk["type"] in TOOL_CHUNK_TYPES:
            self._tool(cast(ToolChunk, chunk))

    def _part(self, kind: Literal["text", "reasoning"], chunk_id: str) -> TextUIPart | ReasoningUIPart:
        key = (kind, chunk_id)
        if key not in self._open:
            part: TextUIPart | ReasoningUIPart = (
                {"type": "text", "text": "", "state": "streaming"}
                if kind == "text"
                else {"type": "reasoning", "text": "", "state": "streaming"}
            )
            self._open[key] = part
            self.message["parts"].append(part)
        return self._open[key]

    def _tool(self, chunk: ToolChunk) -> None:
        call_id = chunk["toolCallId"]
        part = self._tools.get(call_id)
        if part is None:
            name = str(chunk.get("toolName") or "unknown")
            part = {"type": f"tool-{name}", "toolCallId": call_id, "state": "input-streaming", "input": None}
            if chunk.get("dynamic"):
                part.update(type="dynamic-tool", toolName=name)
            self._tools[call_id] = part
            self.message["parts"].append(part)
        if chunk["type"] == "tool-input-available":
            part.update(state="input-available", input=chunk["input"])
        elif chunk["type"] == "tool-input-error":
            part.update(state="output-error", input=chunk["input"], errorText=chunk["errorText"])
        elif chunk["type"] == "tool-approval-request":
            requested: ToolApproval = {"id": chunk["approvalId"]}
            part.update(state="approval-requested", approval=requested)
        elif chunk["type"] == "tool-output-available":
            part.update(state="output-available", output=chunk["output"])
        elif chunk["type"] == "tool-output-error":
            part.update(state="output-error", errorText=chunk["errorText"])
        elif chunk["type"] == "tool-output-denied":
            part["state"] = "output-denied"
            part["approval"] = {**(part.get("approval") or {}), "approved": False}

    def close_open_parts(self) -> None:
        """A stopped turn keeps its partial answer with every part marked done."""
        for part in self._open.values():
            part["state"] = "done"


ROLES = frozenset({"system", "user", "assistant"})


def invalid_message_reason(message: object) -> str | None:
    """Why `message` cannot join a chat's history as an AI SDK UI message, or None when it can.

    Checks only what the runtime and the model adapters rely on: an object with a non-empty string
    `id`, a `role` of system/user/assistant, `parts` a list of objects each with a non-empty string
    `type`, string `text` on text and reasoning parts, a string `toolCallId` on tool parts. Anything
    else a client sends (states, metadata, provider fields) passes untouched.
    """
    if not isinstance(message, dict):
        return "a message must be an object"
    if not isinstance(message.get("id"), str) or not message["id"]:
        return "id must be a non-empty string"
    if message.get("role") not in ROLES:
        return "role must be system, user or assistant"
    parts = message.get("parts")
    if not isinstance(parts, list):
        return "parts must be a list"
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str) or not part["type"]:
            return f"parts[{i}] must be an object with a string type"
        kind = part["type"]
        if kind in ("text", "reasoning") and not isinstance(part.get("text"), str):
            return f"parts[{i}].text must be a string"
        if (kind.startswith("tool-") or kind == "dynamic-tool") and not isinstance(
            part.get("toolCallId"), str
        ):
            return f"parts[{i}].toolCallId must be a string"
    return None


def text_of(message: UIMessage | None) -> str:
    if not message:
        return ""
    return "".join(str(p.get("text", "")) for p in message.get("parts", []) if p.get("type") == "text")


RESOLVED_TOOL_STATES = frozenset({"output-available", "output-error", "output-denied"})
DENIED_TEXT = "The user denied this tool call; it did not run."


def tool_name(part: dict[str, Any]) -> str:
    """`tool-<name>` → name; a `dynamic-tool` part names itself in `toolName`."""
    kind = str(part.get("type", ""))
    return str(part.get("toolName") or "") if kind == "dynamic-tool" else kind[5:]


def tool_result(part: dict[str, Any]) -> dict[str, Any]:
    """The neutral `tool-result` for a resolved tool part: `status` success / error / denied."""
    state = part.get("state")
    result: dict[str, Any] = {
        "type": "tool-result",
        "toolCallId": part["toolCallId"],
        "toolName": tool_name(part),
    }
    if state == "output-available":
        return {**result, "status": "success", "output": part.get("output")}
    if state == "output-error":
        return {**result, "status": "error", "output": {"error": part.get("errorText")}}
    reason = (part.get("approval") or {}).get("reason")
    return {
        **result,
        "status": "denied",
        "output": {"denied": True, **({"reason": reason} if reason else {})},
    }


def to_model_messages(messages: list[UIMessage]) -> list[ModelMessage]:
    """Neutral model messages: user/assistant text, assistant tool calls, tool results.

    An assistant message is cut into its steps (at `step-start` parts): each step becomes an
    assistant message (text and tool calls) followed by a `tool` message with the step's results,
    so a message continued after a pause reads back in the order the model produced it. Tool calls
    still waiting (a client tool not answered, an approval not given) are left out, as the AI SDK's
    `ignoreIncompleteToolCalls`: providers refuse a call without its result. A denied call is a
    result with `status: "denied"`.
    """
    out: list[ModelMessage] = []
    for message in messages:
        role = message.get("role")
        parts = [p for p in message.get("parts") or [] if isinstance(p, dict)]
        if role in ("user", "system"):
            text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
            out.append({"role": role, "content": [{"type": "text", "text": text}]})
            continue
        if role != "assistant":
            continue
        for step in _steps(parts):
            content: list[dict[str, Any]] = []
            results: list[dict[str, Any]] = []
            for part in step:
                kind = str(part.get("type", ""))
                if kind == "text" and part.get("text"):
                    content.append({"type": "text", "text": part["text"]})
                elif is_tool_part_type(kind) and part.get("state") in RESOLVED_TOOL_STATES:
                    content.append(
                        {
                            "type": "tool-call",
                            "toolCallId": part["toolCallId"],
                            "toolName": tool_name(part),
                            "input": part.get("input"),
                        }
                    )
                    results.append(tool_result(part))
            if content:
                out.append({"role": "assistant", "content": content})
            if results:
                out.append({"role": "tool", "content": results})
    return out


def _steps(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    steps: list[list[dict[str, Any]]] = [[]]
    for part in parts:
        if part.get("type") == "step-start":
            if steps[-1]:
                steps.append([])
            continue
        steps[-1].append(part)
    return steps
