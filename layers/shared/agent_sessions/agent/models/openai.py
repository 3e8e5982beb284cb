"""OpenAI-compatible chat-completions streaming adapter over httpx (OpenAI, vLLM, Ollama, LiteLLM...)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from agent_sessions.agent.messages import DENIED_TEXT, ModelMessage
from agent_sessions.agent.models.base import Finish, ModelEvent, ReasoningDelta, TextDelta, ToolCall
from agent_sessions.agent.models.tools import Tool


class OpenAICompatibleModel:
    """A `Model` over an OpenAI-compatible streaming `POST {base_url}/chat/completions` (OpenAI, vLLM,
    Ollama, LiteLLM...): `OpenAICompatibleModel("gpt-4o-mini")`.

    `api_key` defaults to `$OPENAI_API_KEY` (none sent when empty); `timeout` is seconds per request;
    `extra` is merged into every request body (`temperature`, `max_tokens`, ...); `client` shares an
    `httpx.Client`. Raises `httpx.HTTPStatusError` for an error status, `httpx.TransportError` when
    unreachable, `json.JSONDecodeError` for a malformed stream."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 120.0,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self._client = client
        self.timeout = timeout
        self.extra = extra or {}

    @property
    def client(self) -> httpx.Client:
        """The `httpx.Client`, created (and cached) on first use."""
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def request(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> dict[str, Any]:
        """The chat-completions request body for one step (streaming, with usage)."""
        body: dict[str, Any] = {
            "model": self.model,
            "stream": True,
            "messages": to_openai_messages(messages, system),
            "stream_options": {"include_usage": True},
            **self.extra,
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.json_schema()},
                }
                for t in tools
            ]
        return body

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        """One step over a streamed chat completion; see `Model.stream`. `Finish.usage` carries the
        provider's `prompt_tokens` / `completion_tokens` / `total_tokens`, and `cached_tokens` when
        reported."""
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        calls: dict[int, dict[str, str]] = {}
        finish, usage = "stop", {}
        with self.client.stream(
            "POST",
            f"{self.base_url}/chat/completions",
            json=self.request(messages, tools=tools, system=system),
            headers=headers,
        ) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage = {k: int(v) for k, v in chunk["usage"].items() if isinstance(v, int)}
                    cached = (chunk["usage"].get("prompt_tokens_details") or {}).get("cached_tokens")
                    if isinstance(cached, int):
                        usage["cached_tokens"] = cached
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("reasoning_content"):
                        yield ReasoningDelta(delta["reasoning_content"])
                    if delta.get("content"):
                        yield TextDelta(delta["content"])
                    for call in delta.get("tool_calls") or []:
                        slot = calls.setdefault(call.get("index", 0), {"id": "", "name": "", "arguments": ""})
                        fn = call.get("function") or {}
                        slot["id"] = call.get("id") or slot["id"]
                        slot["name"] += fn.get("name") or ""
                        slot["arguments"] += fn.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finish = _FINISH.get(choice["finish_reason"], "other")
        for _, call in sorted(calls.items()):
            yield ToolCall(call["id"], call["name"], json.loads(call["arguments"] or "{}"))
        yield Finish(finish, usage)


_FINISH = {"stop": "stop", "tool_calls": "tool-calls", "length": "length", "content_filter": "content-filter"}


def to_openai_messages(messages: list[ModelMessage], system: str | None) -> list[dict[str, Any]]:
    """Model messages as chat-completions `messages`: `system` first, text joined per message, tool
    calls as `tool_calls` (arguments JSON-encoded), each tool result as a `tool` message."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        texts = "".join(p.get("text", "") for p in message["content"] if p["type"] == "text")
        if message["role"] in ("system", "user"):
            out.append({"role": message["role"], "content": texts})
        elif message["role"] == "assistant":
            calls = [
                {
                    "id": p["toolCallId"],
                    "type": "function",
                    "function": {"name": p["toolName"], "arguments": json.dumps(p.get("input") or {})},
                }
                for p in message["content"]
                if p["type"] == "tool-call"
            ]
            out.append(
                {"role": "assistant", "content": texts or None, **({"tool_calls": calls} if calls else {})}
            )
        elif message["role"] == "tool":
            out += [
                {"role": "tool", "tool_call_id": p["toolCallId"], "content": _tool_content(p)}
                for p in message["content"]
            ]
    return out


def _tool_content(part: dict[str, Any]) -> str:
    """A `tool` message's content, matched by `tool_call_id`: the output as JSON, or for a denied
    call a plain sentence (chat completions has no refusal status) so the model does not retry it."""
    output = part.get("output")
    if part.get("status") == "denied":
        reason = output.get("reason") if isinstance(output, dict) else None
        return DENIED_TEXT + (f" Reason: {reason}" if reason else "")
    return json.dumps(output)
