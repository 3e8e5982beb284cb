"""`AgentChat`: talk to an agent from a backend with the secret key (no browser tokens involved)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from agent_sessions.client.client import AgentSessions
from agent_sessions.client.transport import ChatStream, ChatTransport, OnTriggered
from agent_sessions.client.types import ChatSessionState, StartSessionResult


class AgentChat:
    """One conversation with an agent from server-side code, with the secret key (the TS SDK's
    `AgentChat` from `@trigger.dev/sdk/chat`).

    `agent` is the task id; `id` the chat id (a UUID when omitted); `client` an `AgentSessions`
    (default: `AgentSessions()`, which finds URL and key through `agent_sessions.client.discovery`
    and raises `AgentSessionsError` without a key). `client_data` becomes the session's
    `basePayload.metadata` and is merged into every message; `session` resumes a persisted
    `ChatSessionState`; `trigger_config` is passed to `sessions.start` (its `basePayload` is set here);
    `on_turn_complete(chat_id, state)` runs after each turn; `stream_timeout_seconds` is the
    long-poll window per SSE connection.
    """

    def __init__(
        self,
        agent: str,
        *,
        id: str | None = None,
        client: AgentSessions | None = None,
        client_data: Mapping[str, Any] | None = None,
        session: ChatSessionState | Mapping[str, Any] | None = None,
        trigger_config: Mapping[str, Any] | None = None,
        on_turn_complete: Callable[[str, ChatSessionState], None] | None = None,
        on_triggered: OnTriggered | None = None,
        stream_timeout_seconds: int = 120,
    ) -> None:
        """`on_triggered(TriggeredEvent(chat_id, run_id, reason))` (the TS `onTriggered`) is called when
        this chat starts its session (`initial`) and when a turn arrives from a run it has not seen
        yet: a continuation, an upgrade, or the current run after restoring `session=`.
        """
        self.agent = agent
        self.id = id or str(uuid.uuid4())
        self.client = client or AgentSessions()
        self._trigger_config = dict(trigger_config or {})
        self._transport = ChatTransport(
            agent,
            access_token=lambda _chat_id: self.client.secret_key,
            start_session=self._start,
            client_data=client_data,
            sessions={self.id: session} if session is not None else None,
            on_turn_complete=on_turn_complete,
            stream_timeout_seconds=stream_timeout_seconds,
            adopt_turn_tokens=False,
            base_url=self.client.base_url,
            http=self.client.http,
            on_triggered=on_triggered,
        )

    def _start(self, params: dict[str, Any]) -> StartSessionResult:
        payload = {"messages": [], "trigger": "preload", "chatId": self.id}
        if params.get("client_data"):
            payload["metadata"] = params["client_data"]
        created = self.client.sessions.start(
            task_identifier=self.agent,
            external_id=self.id,
            trigger_config={**self._trigger_config, "basePayload": payload},
        )
        return StartSessionResult(
            session_id=created.id, run_id=created.run_id, public_access_token=self.client.secret_key
        )

    @property
    def session(self) -> ChatSessionState | None:
        """The chat's persistable state, None before it started (TS `chat.session`): persist it
        (e.g. `.model_dump()`) and pass it back as `session=` to resume."""
        return self._transport.get_session(self.id)

    def preload(self) -> ChatSessionState:
        """Start the session and its first run now (TS `preload`); raises what `sessions.start` raises."""
        return self._transport.preload(self.id)

    def send_message(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> ChatStream:
        """Send a user message and return the stream of the reply (TS `sendMessage`); raises as
        `ChatTransport.send_message`."""
        return self._transport.send_message(self.id, text, metadata=metadata)

    def text(self, text: str, *, metadata: Mapping[str, Any] | None = None) -> str:
        """Send a user message and return the whole reply's text (TS
        `(await chat.sendMessage(text)).text()`); raises as `ChatTransport.send_message`, and
        `StreamEnded` when the reply never completes."""
        return self.send_message(text, metadata=metadata).text()

    def stop(self) -> bool:
        """Stop the current reply (TS `stop`); False before the chat started."""
        return self._transport.stop(self.id)

    def close(self, reason: str | None = None) -> None:
        """Close the session for good (TS `close`); later sends raise `SessionClosedError`.
        `reason` (at most 256 characters) reaches readers. Raises `NotFoundError` before it started."""
        self.client.sessions.close(self.id, reason=reason)
