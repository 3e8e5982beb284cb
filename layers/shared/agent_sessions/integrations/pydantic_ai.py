"""Pydantic AI agents as `chat.agent` turns, through Pydantic AI's own AI SDK adapter.

    from pydantic_ai import Agent
    from agent_sessions.agent import Turn, chat
    from agent_sessions.integrations.pydantic_ai import stream_agent

    assistant = Agent("bedrock:anthropic.claude-3-5-haiku-20241022-v1:0", instructions="Be brief.")

    @chat.agent(id="assistant")
    def run(turn: Turn):
        return stream_agent(assistant, turn)

`stream_agent` hands the turn's history (AI SDK UI messages, the ones `chat.history` keeps) to
`pydantic_ai.ui.vercel_ai.VercelAIAdapter`, runs the agent and yields the adapter's UI-message chunks
(text, reasoning, tool input/output, tool approval requests) for the runtime to write to `.out` and
fold into the saved assistant message. Pydantic AI's own bookkeeping chunks are left out: `start`
(the runtime writes it with the assistant message id it saves), `done` (an SSE terminator, not a
chunk) and `abort` (a stopped turn ends with `finish` and `turn-complete`, like every other stop).

Deferred tools on the human-in-the-loop flow: an approval-required tool ends the turn with
`tool-approval-request`, a `CallDeferred` tool with its `tool-input-available` alone (a client-side
tool). The client's answer continues the same assistant message (the runtime's continuation), so it
is in `turn.messages` on the next turn: the adapter reads approvals into `deferred_tool_results` and a
tool output into the history. The agent needs `output_type=[..., DeferredToolRequests]`.

Stop: the turn's `signal` fires a `pydantic_ai.CancellationToken`, so a model call or a tool in
flight is cancelled at once, not at the next chunk; the partial answer is kept.

History both ways: `to_model_messages` / `to_ui_messages` convert with the same adapter (for
`hydrate_messages`, or to seed a chat with a Pydantic AI conversation).

Needs `pydantic-ai-slim` (the `pydantic-ai` extra: `pip install 'agent-sessions[server,pydantic-ai]'`
plus the model provider's extra, e.g. `pydantic-ai-slim[bedrock]`).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any, Final, Literal, cast

from pydantic_ai import CancellationToken
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.messages import ModelMessage
from pydantic_ai.ui.vercel_ai import VercelAIAdapter
from pydantic_ai.ui.vercel_ai.request_types import SubmitMessage
from pydantic_ai.ui.vercel_ai.request_types import UIMessage as PydanticUIMessage
from pydantic_ai.ui.vercel_ai.response_types import BaseChunk

from agent_sessions.agent.messages import Chunk, UIMessage
from agent_sessions.agent.types import AbortSignal, Turn

__all__ = ["stream_agent", "to_model_messages", "to_ui_messages"]

SDK_VERSION: Final[Literal[6]] = 6
"""The AI SDK major our clients speak (`ai@6` beside `@trigger.dev/sdk` 4.8.3): it enables the
adapter's `tool-approval-request` chunks and reads approval answers from the messages."""

_DROPPED = frozenset({"start", "done", "abort"})
_STOP_POLL_SECONDS = 0.05


async def stream_agent(
    agent: AbstractAgent[Any, Any],
    turn: Turn,
    *,
    deps: Any = None,
    message_history: Sequence[ModelMessage] | None = None,
    **run_options: Any,
) -> AsyncIterator[Chunk]:
    """Run `agent` on this turn and yield AI SDK UI-message chunks (dicts, `type` first-class).

    The conversation is `turn.messages` (the chat's UI messages, this turn's message last) converted
    with `VercelAIAdapter.load_messages`; approvals answered in those messages become the run's
    `deferred_tool_results`. `message_history` (Pydantic AI messages) is prepended, for server-only
    context such as a pinned preamble. `deps` and `run_options` go to the adapter's `run_stream`
    (`model`, `instructions`, `model_settings`, `usage_limits`, `toolsets`, ...), as for
    `Agent.run_stream_events`.

    A model or tool error does not raise: the adapter yields an `error` chunk and the turn ends.
    Stopping the turn (`turn.signal`) cancels the run; nothing more is yielded.
    """
    adapter: VercelAIAdapter[Any, Any] = VercelAIAdapter(
        agent=agent,
        run_input=SubmitMessage(id=turn.chat_id, messages=_validated(turn.messages)),
        sdk_version=SDK_VERSION,
    )
    token = CancellationToken()
    finished = threading.Event()
    watcher = threading.Thread(
        target=_cancel_on_stop, args=(turn.signal, token, finished), name="pydantic-ai-stop", daemon=True
    )
    watcher.start()
    stream = cast(
        AsyncGenerator[BaseChunk, None],
        adapter.run_stream(
            deps=deps, message_history=message_history, cancellation_token=token, **run_options
        ),
    )
    try:
        async with aclosing(stream):
            async for chunk in stream:
                if turn.signal.aborted:
                    return
                data = chunk.model_dump(mode="json", by_alias=True, exclude_none=True)
                if data["type"] not in _DROPPED:
                    yield cast(Chunk, data)
    finally:
        finished.set()


def to_model_messages(messages: Sequence[UIMessage]) -> list[ModelMessage]:
    """AI SDK UI messages (`chat.history.all()`, `turn.messages`) as Pydantic AI `ModelMessage`s."""
    return VercelAIAdapter.load_messages(_validated(messages))


def to_ui_messages(messages: Sequence[ModelMessage]) -> list[UIMessage]:
    """Pydantic AI `ModelMessage`s (e.g. `result.all_messages()`) as AI SDK UI messages (JSON dicts)."""
    return [
        m.model_dump(mode="json", by_alias=True, exclude_none=True)
        for m in VercelAIAdapter.dump_messages(messages)
    ]


def _validated(messages: Sequence[UIMessage]) -> list[PydanticUIMessage]:
    return [PydanticUIMessage.model_validate(m) for m in messages]


def _cancel_on_stop(signal: AbortSignal, token: CancellationToken, finished: threading.Event) -> None:
    """Fire the run's token when the turn is stopped; exits with the run (the token is thread-safe)."""
    while not finished.is_set():
        if signal.wait(_STOP_POLL_SECONDS):
            token.cancel()
            return
