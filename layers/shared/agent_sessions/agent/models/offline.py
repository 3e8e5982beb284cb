"""A deterministic, offline model: the local stack's and the tests' stand-in for a real one.

It streams a reply word by word (with an optional delay), and calls a tool when the last user
message names one (`weather` → `get_weather`), then answers from the tool's result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from agent_sessions.agent.messages import ModelMessage
from agent_sessions.agent.models.base import Finish, ModelEvent, TextDelta, ToolCall
from agent_sessions.agent.models.tools import Tool


def echo_reply(text: str) -> str:
    """`You said: <text>. This reply is …`; a message that already ends a sentence keeps its own mark."""
    said = text or "(nothing)"
    stop = "" if said.rstrip().endswith((".", "!", "?", "…")) else "."
    return f"You said: {said}{stop} This reply is streamed word by word by demo-chat."


class OfflineModel:
    """A deterministic `Model` that needs no credentials or network: the local stack's and the
    tests' model. It answers the last user message with `reply(text)` (default `echo_reply`), one
    word per `TextDelta`, sleeping `delay_seconds` between words; when that message names a tool
    (`weather` for `get_weather`) it calls it with `tool_inputs(tool, text)` (default: the tool's
    first string field set to the message's last capitalised word) and then answers from the tool's
    output. `calls` counts `stream` calls."""

    def __init__(
        self,
        reply: Callable[[str], str] = echo_reply,
        *,
        delay_seconds: float = 0.0,
        tool_inputs: Callable[[Tool, str], dict[str, Any]] | None = None,
    ) -> None:
        self.reply = reply
        self.delay = delay_seconds
        self.tool_inputs = tool_inputs or _default_tool_input
        self.calls = 0

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        """One model step over `messages` (model messages, oldest first): `TextDelta`s or one
        `ToolCall`, then a `Finish` (`stop` or `tool-calls`). `system` is ignored."""
        self.calls += 1
        last: ModelMessage = messages[-1] if messages else {"role": "user", "content": []}
        content: list[dict[str, Any]] = list(last.get("content") or [])
        if last["role"] == "tool":
            outputs = "; ".join(str(c.get("output")) for c in content)
            yield from self._words(f"The tool said: {outputs}")
            yield Finish("stop")
            return
        text = " ".join(str(c.get("text", "")) for c in content if c.get("type") == "text")
        for candidate in tools:
            keyword = candidate.name.removeprefix("get_")
            if re.search(rf"\b{re.escape(keyword)}\b", text, re.IGNORECASE):
                yield ToolCall(f"call_{self.calls}", candidate.name, self.tool_inputs(candidate, text))
                yield Finish("tool-calls")
                return
        yield from self._words(self.reply(text))
        yield Finish("stop")

    def _words(self, text: str) -> Iterator[ModelEvent]:
        for i, word in enumerate(text.split(" ")):
            if self.delay and i:
                time.sleep(self.delay)
            yield TextDelta(word if i == 0 else " " + word)


def _default_tool_input(tool: Tool, text: str) -> dict[str, Any]:
    """Fill the tool's first string field with the last capitalised word of the message."""
    fields = tool.input_model.model_fields
    names = [n for n, f in fields.items() if f.annotation is str]
    words = re.findall(r"\b[A-Z][a-zA-Z]+\b", text)
    return {names[0]: words[-1] if words else text} if names else {}
