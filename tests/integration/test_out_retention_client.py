"""Bounded `.out` with the Python client: a `ChatTransport` reloaded with a cursor the trim removed
resumes at the kept turn (the `trim` command record is skipped, its seq still moves the cursor).

The stack keeps about one turn here (retention 0, set for this test only); the real 4.8.3 client
does the same in tests/e2e/test_retention.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent_sessions import store
from agent_sessions.client import AgentSessions, ChatSessionState, ChatTransport
from agent_sessions.config import reset_settings
from agent_sessions.local.stack import LocalStack


@pytest.fixture
def keep_one_turn(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENT_SESSIONS_OUT_RETENTION_SECONDS", "0")
    reset_settings()
    yield
    monkeypatch.delenv("AGENT_SESSIONS_OUT_RETENTION_SECONDS")
    reset_settings()


def _transport(client: AgentSessions, **options: Any) -> ChatTransport:
    start = client.sessions.create_start_session_action("demo-chat")
    return ChatTransport(
        "demo-chat",
        base_url=client.base_url,
        start_session=start,
        access_token=lambda chat_id: client.auth.create_public_token(
            scopes={"read": {"sessions": chat_id}, "write": {"sessions": chat_id}}
        ),
        http=client.http,
        **options,
    )


def _reply(text: str) -> str:
    return f"You said: {text}. This reply is streamed word by word by demo-chat."


def test_a_transport_with_a_trimmed_cursor_resumes_at_the_kept_turn(
    stack: LocalStack, keep_one_turn: None
) -> None:
    chat_id = "py-trimmed"
    saved: dict[str, ChatSessionState] = {}
    with AgentSessions(
        secret_key=stack.secret_key, base_url=stack.base_url, http=httpx.Client(timeout=60)
    ) as client:
        first = _transport(client, on_session_change=lambda c, s: saved.__setitem__(c, s))
        assert first.send_message(chat_id, "one").text() == _reply("one")
        stale = json.loads(saved[chat_id].model_dump_json())
        for text in ("two", "three"):
            assert first.send_message(chat_id, text).text() == _reply(text)
        session_id = client.sessions.retrieve(chat_id).id
        deadline = time.monotonic() + 20
        while store.read_out_trim(session_id) <= int(stale["last_event_id"]) + 1:
            assert time.monotonic() < deadline, "turn two was never trimmed"
            time.sleep(0.05)

        second = _transport(
            client, sessions={chat_id: {**stale, "is_streaming": True, "active_input_seq": None}}
        )
        resumed = second.reconnect(chat_id)
        assert resumed is not None
        assert resumed.text() == _reply("three"), "the kept turn whole, nothing of the trimmed one"
        assert second.get_session(chat_id).last_event_id == first.get_session(chat_id).last_event_id  # type: ignore[union-attr]
