"""Amazon Bedrock ConverseStream adapter: neutral model messages in, model events out."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from agent_sessions.agent.messages import DENIED_TEXT, ModelMessage
from agent_sessions.agent.models.base import Finish, ModelEvent, ReasoningDelta, TextDelta, ToolCall
from agent_sessions.agent.models.tools import Tool


class BedrockModel:
    """A `Model` over Amazon Bedrock's ConverseStream API: `BedrockModel("anthropic.claude-...")`.

    `client`: a `bedrock-runtime` boto3 client (else one is created on first use, in `region` or the
    default region); `inference`: Converse `inferenceConfig` (`maxTokens`, `temperature`, ...).
    Errors are boto3's (`botocore.exceptions.ClientError`, e.g. `ThrottlingException`,
    `AccessDeniedException`). Needs the `server` extra (boto3)."""

    def __init__(
        self,
        model_id: str,
        *,
        client: Any = None,
        region: str | None = None,
        inference: dict[str, Any] | None = None,
    ) -> None:
        self.model_id = model_id
        self._client = client
        self._region = region
        self.inference = inference or {}

    @property
    def client(self) -> Any:
        """The `bedrock-runtime` client, created (and cached) on first use."""
        if self._client is None:
            import boto3

            self._client = boto3.client("bedrock-runtime", region_name=self._region)
        return self._client

    def request(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> dict[str, Any]:
        """The `converse_stream` keyword arguments for one step (messages, system, tools, inference)."""
        request: dict[str, Any] = {"modelId": self.model_id, "messages": to_bedrock_messages(messages)}
        system_texts = [system] if system else []
        system_texts += [
            c["text"] for m in messages if m["role"] == "system" for c in m["content"] if c.get("text")
        ]
        if system_texts:
            request["system"] = [{"text": t} for t in system_texts]
        if tools:
            request["toolConfig"] = {
                "tools": [
                    {
                        "toolSpec": {
                            "name": t.name,
                            "description": t.description,
                            "inputSchema": {"json": t.json_schema()},
                        }
                    }
                    for t in tools
                ]
            }
        if self.inference:
            request["inferenceConfig"] = self.inference
        return request

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        """One step over ConverseStream; see `Model.stream`. `Finish.usage` carries Bedrock's
        `inputTokens` / `outputTokens` / `totalTokens`."""
        response = self.client.converse_stream(**self.request(messages, tools=tools, system=system))
        tool_blocks: dict[int, dict[str, Any]] = {}
        usage: dict[str, int] = {}
        stop = "stop"
        for event in response["stream"]:
            if "contentBlockStart" in event:
                start = event["contentBlockStart"]
                if "toolUse" in start.get("start", {}):
                    use = start["start"]["toolUse"]
                    tool_blocks[start["contentBlockIndex"]] = {
                        "id": use["toolUseId"],
                        "name": use["name"],
                        "input": "",
                    }
            elif "contentBlockDelta" in event:
                block = event["contentBlockDelta"]
                delta = block["delta"]
                if "text" in delta:
                    yield TextDelta(delta["text"])
                elif "reasoningContent" in delta and delta["reasoningContent"].get("text"):
                    yield ReasoningDelta(delta["reasoningContent"]["text"])
                elif "toolUse" in delta:
                    tool_blocks[block["contentBlockIndex"]]["input"] += delta["toolUse"].get("input", "")
            elif "contentBlockStop" in event:
                use = tool_blocks.pop(event["contentBlockStop"]["contentBlockIndex"], None)
                if use is not None:
                    yield ToolCall(use["id"], use["name"], json.loads(use["input"] or "{}"))
            elif "messageStop" in event:
                stop = _STOP_REASONS.get(event["messageStop"].get("stopReason", ""), "other")
            elif "metadata" in event:
                usage = {k: int(v) for k, v in event["metadata"].get("usage", {}).items()}
        yield Finish(stop, usage)


_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool-calls",
    "max_tokens": "length",
    "content_filtered": "content-filter",
    "guardrail_intervened": "content-filter",
}


def to_bedrock_messages(messages: list[ModelMessage]) -> list[dict[str, Any]]:
    """Model messages as Converse `messages`: system messages left out (they go to `system`), tool
    calls as `toolUse`, tool results as `toolResult` in a user turn, same-role neighbours merged (as
    Converse requires alternating roles)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "system":
            continue
        content: list[dict[str, Any]] = []
        for part in message["content"]:
            if part["type"] == "text" and part.get("text"):
                content.append({"text": part["text"]})
            elif part["type"] == "tool-call":
                content.append(
                    {
                        "toolUse": {
                            "toolUseId": part["toolCallId"],
                            "name": part["toolName"],
                            "input": part.get("input") or {},
                        }
                    }
                )
            elif part["type"] == "tool-result":
                content.append({"toolResult": _tool_result(part)})
        role = "user" if message["role"] in ("user", "tool") else "assistant"
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(content)
        elif content:
            out.append({"role": role, "content": content})
    return out


def _tool_result(part: dict[str, Any]) -> dict[str, Any]:
    """A Converse `toolResult`: matched to its `toolUse` by id; an error or a denial has status error
    (Converse knows no other refusal), a denial says so in text so the model does not retry it."""
    output = part.get("output")
    status = part.get("status")
    if status is None:  # results built by hand before `status` existed
        status = "error" if isinstance(output, dict) and set(output) == {"error"} else "success"
    if status == "denied":
        reason = output.get("reason") if isinstance(output, dict) else None
        text = DENIED_TEXT + (f" Reason: {reason}" if reason else "")
        return {"toolUseId": part["toolCallId"], "content": [{"text": text}], "status": "error"}
    body = output if isinstance(output, dict) else {"result": output}
    return {
        "toolUseId": part["toolCallId"],
        "content": [{"json": body}],
        "status": "error" if status == "error" else "success",
    }
