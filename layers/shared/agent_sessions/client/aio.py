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
        return await asyncio.to_thread(self.sync.text)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncChatTransport:
    """Same constructor as `ChatTransport`; every network method is a coroutine."""

    def __init__(self, task: str, **options: Any) -> None:
        self.sync = ChatTransport(task, **options)

    def get_session(self, chat_id: str) -> ChatSessionState | None:
        return self.sync.get_session(chat_id)

    def session_status(self, chat_id: str) -> str:
        return self.sync.session_status(chat_id)

    async def preload(self, chat_id: str) -> ChatSessionState:
        return await asyncio.to_thread(self.sync.preload, chat_id)

    async def send_message(
        self, chat_id: str, message: str | Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> AsyncChatStream:
        return AsyncChatStream(
            await asyncio.to_thread(self.sync.send_message, chat_id, message, metadata=metadata)
        )

    async def stop(self, chat_id: str) -> bool:
        return await asyncio.to_thread(self.sync.stop, chat_id)

    async def reconnect(self, chat_id: str) -> AsyncChatStream | None:
        stream = await asyncio.to_thread(self.sync.reconnect, chat_id)
        return AsyncChatStream(stream) if stream is not None else None


class AsyncAgentChat:
    def __init__(self, agent: str, **options: Any) -> None:
        self.sync = AgentChat(agent, **options)

    @property
    def session(self) -> ChatSessionState | None:
        return self.sync.session

    async def send_message(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> AsyncChatStream:
        return AsyncChatStream(await asyncio.to_thread(self.sync.send_message, text, metadata=metadata))

    async def text(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> str:
        return await asyncio.to_thread(self.sync.text, text, metadata=metadata)


__all__ = ["AgentSessions", "AsyncAgentChat", "AsyncChatStream", "AsyncChatTransport"]
