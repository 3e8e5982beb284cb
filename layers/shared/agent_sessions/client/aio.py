"""Async twins. The protocol work is the sync implementation's; these run it on worker threads so
an asyncio application never blocks its loop (`async for chunk in stream`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent_sessions.client.agent_chat import AgentChat
from agent_sessions.client.client import AgentSessions
from agent_sessions.client.transport import ChatStream, ChatTransport
from agent_sessions.client.types import ChatSessionState

_END = object()


class AsyncChatStream:
    """`ChatStream` for asyncio: `async for chunk in stream`, `await stream.text()`, `async with`.
    Each read runs on a worker thread; it raises what `ChatStream` raises. `sync` is the wrapped stream."""

    def __init__(self, stream: ChatStream) -> None:
        self.sync = stream

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        iterator = iter(self.sync)
        while True:
            chunk = await asyncio.to_thread(next, iterator, _END)
            if chunk is _END:
                return
            yield chunk

    async def text(self) -> str:
        """Read the turn to its end and return the reply's text (see `ChatStream.text`)."""
        return await asyncio.to_thread(self.sync.text)

    async def aclose(self) -> None:
        """Drop the connection (see `ChatStream.close`)."""
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncChatTransport:
    """`ChatTransport` for asyncio: same constructor and semantics, every network method a coroutine
    run on a worker thread (the loop never blocks). Callbacks run on those threads. `sync` is the
    wrapped transport."""

    def __init__(self, task: str, **options: Any) -> None:
        self.sync = ChatTransport(task, **options)

    def get_session(self, chat_id: str) -> ChatSessionState | None:
        """See `ChatTransport.get_session` (TS `getSession`)."""
        return self.sync.get_session(chat_id)

    def session_status(self, chat_id: str) -> str:
        """See `ChatTransport.session_status` (TS `sessionStatus`)."""
        return self.sync.session_status(chat_id)

    async def preload(self, chat_id: str) -> ChatSessionState:
        """See `ChatTransport.preload` (TS `preload`)."""
        return await asyncio.to_thread(self.sync.preload, chat_id)

    async def send_message(
        self, chat_id: str, message: str | Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> AsyncChatStream:
        """See `ChatTransport.send_message` (TS `sendMessages`); raises as it does."""
        return AsyncChatStream(
            await asyncio.to_thread(self.sync.send_message, chat_id, message, metadata=metadata)
        )

    async def stop(self, chat_id: str) -> bool:
        """See `ChatTransport.stop` (TS `stopGeneration`)."""
        return await asyncio.to_thread(self.sync.stop, chat_id)

    async def reconnect(self, chat_id: str) -> AsyncChatStream | None:
        """See `ChatTransport.reconnect` (TS `reconnectToStream`)."""
        stream = await asyncio.to_thread(self.sync.reconnect, chat_id)
        return AsyncChatStream(stream) if stream is not None else None


class AsyncAgentChat:
    """`AgentChat` for asyncio: same constructor, coroutines for the network calls. `sync` is the
    wrapped chat (its `preload`, `stop` and `close` are there)."""

    def __init__(self, agent: str, **options: Any) -> None:
        self.sync = AgentChat(agent, **options)

    @property
    def session(self) -> ChatSessionState | None:
        """See `AgentChat.session`."""
        return self.sync.session

    async def send_message(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> AsyncChatStream:
        """See `AgentChat.send_message` (TS `sendMessage`); raises as it does."""
        return AsyncChatStream(await asyncio.to_thread(self.sync.send_message, text, metadata=metadata))

    async def text(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> str:
        """See `AgentChat.text`; raises as it does."""
        return await asyncio.to_thread(self.sync.text, text, metadata=metadata)


__all__ = ["AgentSessions", "AsyncAgentChat", "AsyncChatStream", "AsyncChatTransport"]
