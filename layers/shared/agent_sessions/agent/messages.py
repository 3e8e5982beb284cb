"""AI SDK UI messages: fold a chunk stream into the assistant message, and turn UI messages into
the neutral model messages the model adapters speak."""

from __future__ import annotations

from typing import Any

UIMessage = dict[str, Any]
Chunk = dict[str, Any]
ModelMessage = dict[str, Any]


class MessageAccumulator:
    """The assistant `UIMessage` a chunk stream describes (the AI SDK's readUIMessageStream, in small)."""

    def __init__(self, message_id: str) -> None:
        self.message: UIMessage = {"id": message_id, "role": "assistant", "parts": []}
        self._open: dict[tuple[str, str], dict[str, Any]] = {}
        self._tools: dict[str, dict[str, Any]] = {}

    @property
    def parts(self) -> list[dict[str, Any]]:
        return list(self.message["parts"])

    def add(self, chunk: Chunk) -> None:
        kind = str(chunk.get("type", ""))
        if kind == "start" and chunk.get("messageId"):
            self.message["id"] = chunk["messageId"]
        elif kind == "start-step":
            self.message["parts"].append({"type": "step-start"})
        elif kind in ("text-start", "reasoning-start"):
            part = {"type": kind.split("-")[0], "text": "", "state": "streaming"}
            self._open[(part["type"], str(chunk.get("id")))] = part
            self.message["parts"].append(part)
        elif kind in ("text-delta", "reasoning-delta"):
            self._part(kind.split("-")[0], chunk)["text"] += str(chunk.get("delta", ""))
        elif kind in ("text-end", "reasoning-end"):
            self._part(kind.split("-")[0], chunk)["state"] = "done"
        elif kind.startswith("tool-"):
            self._tool(kind, chunk)
        elif kind.startswith("data-") and not chunk.get("transient"):
            self.message["parts"].append({k: v for k, v in chunk.items() if k != "transient"})

    def _part(self, kind: str, chunk: Chunk) -> dict[str, Any]:
        key = (kind, str(chunk.get("id")))
        if key not in self._open:
            part = {"type": kind, "text": "", "state": "streaming"}
            self._open[key] = part
            self.message["parts"].append(part)
        return self._open[key]

    def _tool(self, kind: str, chunk: Chunk) -> None:
        call_id = str(chunk.get("toolCallId"))
        part = self._tools.get(call_id)
        if part is None:
            part = {
                "type": f"tool-{chunk.get('toolName', 'unknown')}",
                "toolCallId": call_id,
                "state": "input-streaming",
                "input": None,
            }
            self._tools[call_id] = part
            self.message["parts"].append(part)
        if kind == "tool-input-available":
            part.update(state="input-available", input=chunk.get("input"))
        elif kind == "tool-output-available":
            part.update(state="output-available", output=chunk.get("output"))
        elif kind == "tool-output-error":
            part.update(state="output-error", errorText=chunk.get("errorText"))

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


def to_model_messages(messages: list[UIMessage]) -> list[ModelMessage]:
    """Neutral model messages: user/assistant text, assistant tool calls, tool results."""
    out: list[ModelMessage] = []
    for message in messages:
        role = message.get("role")
        parts = message.get("parts") or []
        if role in ("user", "system"):
            text = "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")
            out.append({"role": role, "content": [{"type": "text", "text": text}]})
            continue
        if role != "assistant":
            continue
        content: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for part in parts:
            kind = str(part.get("type", ""))
            if kind == "text" and part.get("text"):
                content.append({"type": "text", "text": part["text"]})
            elif kind.startswith("tool-") and part.get("state") in ("output-available", "output-error"):
                name = kind[5:]
                content.append(
                    {
                        "type": "tool-call",
                        "toolCallId": part["toolCallId"],
                        "toolName": name,
                        "input": part.get("input"),
                    }
                )
                output = (
                    part.get("output")
                    if part["state"] == "output-available"
                    else {"error": part.get("errorText")}
                )
                results.append(
                    {
                        "type": "tool-result",
                        "toolCallId": part["toolCallId"],
                        "toolName": name,
                        "output": output,
                    }
                )
        if content:
            out.append({"role": "assistant", "content": content})
        if results:
            out.append({"role": "tool", "content": results})
    return out
