"""The Python client SDK against the local stack over real HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import jwt
import pytest

from agent_sessions.agent import Turn, chat
from agent_sessions.client import (
    AgentChat,
    AgentSessions,
    AsyncChatTransport,
    ChatSessionState,
    ChatTransport,
    NotFoundError,
    SessionClosedError,
)
from agent_sessions.local.stack import LocalStack


@chat.agent(id="t-echo-meta")
def _echo_metadata(turn: Turn) -> str:
    return json.dumps(turn.metadata, sort_keys=True)


class Recorder:
    """httpx event hooks: every request the client makes, with its headers."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def paths(self, suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(suffix)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(stack: LocalStack, recorder: Recorder) -> Any:
    http = httpx.Client(timeout=60, event_hooks={"request": [recorder]})
    with AgentSessions(secret_key=stack.secret_key, base_url=stack.base_url, http=http) as c:
        yield c


def transport_for(
    client: AgentSessions, task: str = "demo-chat", **options: Any
) -> tuple[ChatTransport, dict[str, int]]:
    calls = {"start": 0, "token": 0}
    start = client.sessions.create_start_session_action(task)

    def start_session(params: dict[str, Any]) -> Any:
        calls["start"] += 1
        return start(params)

    def access_token(chat_id: str) -> str:
        calls["token"] += 1
        return client.auth.create_public_token(
            scopes={"read": {"sessions": chat_id}, "write": {"sessions": chat_id}}
        )

    return ChatTransport(
        task,
        base_url=client.base_url,
        start_session=start_session,
        access_token=access_token,
        http=client.http,
        **options,
    ), calls


def reply(text: str) -> str:
    return f"You said: {text}. This reply is streamed word by word by demo-chat."


def test_public_tokens_are_self_signed_with_claims_fetched_once(
    client: AgentSessions, recorder: Recorder
) -> None:
    first = client.auth.create_public_token(scopes={"read": {"sessions": "x"}}, expiration_time="2h")
    client.auth.create_public_token(scopes=["write:sessions:y"])
    assert len(recorder.paths("/api/v1/auth/jwt/claims")) == 1
    assert jwt.get_unverified_header(first) == {"alg": "HS256"}
    claims = jwt.decode(first, client.secret_key, algorithms=["HS256"], audience="https://api.trigger.dev")
    assert (
        claims["scopes"] == ["read:sessions:x"]
        and claims["pub"] is True
        and claims["exp"] - claims["iat"] == 7200
    )


def test_session_helpers_round_trip(client: AgentSessions) -> None:
    created = client.sessions.start(
        task_identifier="demo-chat",
        external_id="py-helpers",
        trigger_config={"basePayload": {"chatId": "py-helpers"}},
        tags=["a"],
    )
    assert created.is_cached is False and created.run_id.startswith("run_")
    assert client.sessions.retrieve("py-helpers").id == client.sessions.retrieve(created.id).id
    updated = client.sessions.update("py-helpers", tags=["b"], metadata={"k": 1})
    assert updated.tags == ["b"] and updated.metadata == {"k": 1}
    page = client.sessions.list(limit=100, tags=["b"])
    assert [s.external_id for s in page.data] == ["py-helpers"]
    assert [r.reason for r in client.sessions.runs("py-helpers")] == ["initial"]
    closed = client.sessions.close("py-helpers", reason="done")
    assert closed.is_closed and closed.closed_reason == "done"
    with pytest.raises(NotFoundError):
        client.sessions.retrieve("py-missing")


def test_start_session_action_keeps_config_server_side_and_trusted_fields_win(client: AgentSessions) -> None:
    start = client.sessions.create_start_session_action(
        "demo-chat",
        trigger_config={"maxAttempts": 2},
        trusted_client_data=lambda chat_id, claimed: {"user": "real"},
    )
    result = start(
        {"chat_id": "py-action", "task_id": "demo-chat", "client_data": {"user": "forged", "plan": "x"}}
    )
    assert result.session_id.startswith("session_") and result.run_id.startswith("run_")
    config = client.sessions.retrieve("py-action").trigger_config or {}
    assert config["maxAttempts"] == 2 and config["tags"] == ["chat:py-action"]
    assert config["basePayload"]["metadata"] == {"user": "real", "plan": "x"}
    assert config["basePayload"]["trigger"] == "preload" and config["basePayload"]["chatId"] == "py-action"


def test_transport_streams_a_turn_and_swaps_its_token(client: AgentSessions) -> None:
    changes: list[ChatSessionState | None] = []
    transport, calls = transport_for(client, on_session_change=lambda _c, s: changes.append(s))
    stream = transport.send_message("py-t1", "hello")
    types = [c["type"] for c in stream]
    assert stream.completed and types[0] == "start" and types[-1] == "finish"
    assert "".join(c["delta"] for c in stream.chunks if c["type"] == "text-delta") == reply("hello")
    state = transport.get_session("py-t1")
    assert state is not None and not state.is_streaming and state.last_event_id is not None
    assert state.public_access_token != changes[0].public_access_token, "turn-complete's token adopted"  # type: ignore[union-attr]
    assert transport.send_message("py-t1", "again").text() == reply("again")
    assert calls == {"start": 1, "token": 0}


def test_lazy_start_is_deduplicated_under_concurrency(client: AgentSessions) -> None:
    transport, calls = transport_for(client)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(transport.preload("py-race").public_access_token))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls["start"] == 1 and len(set(results)) == 1


def test_client_data_is_merged_into_each_turns_metadata(client: AgentSessions) -> None:
    transport, _ = transport_for(client, task="t-echo-meta", client_data={"user": "u1", "plan": "free"})
    text = transport.send_message("py-meta", "hi", metadata={"plan": "pro"}).text()
    assert json.loads(text) == {"plan": "pro", "user": "u1"}


def test_stop_ends_the_turn_and_the_next_turn_is_clean(client: AgentSessions) -> None:
    transport, _ = transport_for(client)
    stream = transport.send_message("py-stop", "a message long enough to be stopped midway through")
    deltas = 0
    for chunk in stream:
        if chunk["type"] == "text-delta":
            deltas += 1
            if deltas == 2:
                assert transport.stop("py-stop")
    assert stream.completed and deltas < len(
        reply("a message long enough to be stopped midway through").split()
    )
    assert transport.send_message("py-stop", "next").text() == reply("next")


def test_a_reply_left_unread_never_shows_in_the_next_one(client: AgentSessions) -> None:
    """A stream closed mid-turn (the CLI's Ctrl-C) left its turn unread; the next send replayed the
    rest of it as the start of its own reply."""
    transport, _ = transport_for(client)
    stream = transport.send_message("py-unread", "a reply that is stopped and then left unread")
    iterator = iter(stream)
    next(iterator)
    assert transport.stop("py-unread")
    stream.close()
    assert transport.send_message("py-unread", "next").text() == reply("next")


def test_reconnect_resumes_a_turn_from_persisted_state(client: AgentSessions) -> None:
    saved: dict[str, ChatSessionState] = {}
    first, _ = transport_for(client, on_session_change=lambda c, s: saved.__setitem__(c, s))
    stream = first.send_message("py-resume", "resume this reply later")
    iterator = iter(stream)
    for _ in range(4):
        next(iterator)
    stream.close()
    persisted = json.loads(saved["py-resume"].model_dump_json())
    assert persisted["is_streaming"] is True
    second, calls = transport_for(client, sessions={"py-resume": persisted})
    resumed = second.reconnect("py-resume")
    assert resumed is not None and resumed.text() == reply("resume this reply later")
    assert second.reconnect("py-resume") is None, "nothing left to resume"
    assert calls == {"start": 0, "token": 0}


def test_401_refreshes_once_and_retries_with_the_same_part_id(
    client: AgentSessions, recorder: Recorder
) -> None:
    transport, calls = transport_for(client)
    transport.preload("py-401")
    state = transport.get_session("py-401")
    transport.set_session("py-401", state.model_copy(update={"public_access_token": "not.a.token"}))  # type: ignore[union-attr]
    assert transport.send_message("py-401", "after refresh").text() == reply("after refresh")
    appends = recorder.paths("/py-401/in/append")
    assert calls["token"] == 1 and len(appends) == 2
    assert appends[0].headers["x-part-id"] == appends[1].headers["x-part-id"]


def test_404_recreates_the_session_through_start_session(client: AgentSessions) -> None:
    token = client.auth.create_public_token(
        scopes={"read": {"sessions": "py-404"}, "write": {"sessions": "py-404"}}
    )
    transport, calls = transport_for(client, sessions={"py-404": {"public_access_token": token}})
    assert transport.send_message("py-404", "recreated").text() == reply("recreated")
    assert calls["start"] == 1


def test_closed_sessions_are_terminal(client: AgentSessions) -> None:
    transport, _ = transport_for(client)
    transport.send_message("py-closed", "hi").text()
    client.sessions.close("py-closed", reason="bye")
    with pytest.raises(SessionClosedError) as info:
        transport.send_message("py-closed", "again")
    assert info.value.closed_reason == "bye" and transport.session_status("py-closed") == "closed"


def test_agent_chat_with_the_secret_key(client: AgentSessions) -> None:
    completed: list[str] = []
    agent = AgentChat(
        "demo-chat",
        id="py-agentchat",
        client=client,
        on_turn_complete=lambda chat_id, state: completed.append(chat_id),
    )
    assert agent.text("one") == reply("one")
    assert agent.send_message("two").text() == reply("two")
    assert completed == ["py-agentchat", "py-agentchat"]
    assert agent.session is not None and agent.session.public_access_token == client.secret_key
    resumed = AgentChat("demo-chat", id="py-agentchat", client=client, session=agent.session)
    assert resumed.text("three") == reply("three")
    assert [r.reason for r in client.sessions.runs("py-agentchat")] == ["initial"]


def test_async_transport(client: AgentSessions) -> None:
    async def talk() -> str:
        transport = AsyncChatTransport(
            "demo-chat",
            base_url=client.base_url,
            start_session=client.sessions.create_start_session_action("demo-chat"),
            access_token=lambda cid: client.auth.create_public_token(scopes={"write": {"sessions": cid}}),
        )
        stream = await transport.send_message("py-async", "async hello")
        parts = [c["delta"] async for c in stream if c["type"] == "text-delta"]
        return "".join(parts)

    assert asyncio.run(talk()) == reply("async hello")


def test_the_client_imports_neither_boto3_nor_pynamodb() -> None:
    code = (
        "import sys, agent_sessions.client, agent_sessions.client.cli; "
        "print([m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'pynamodb')])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_read_token_watches_what_another_transport_sends(client: AgentSessions) -> None:
    from agent_sessions.client import RecordStream

    sender, _ = transport_for(client)
    sender.preload("py-watch")
    read_only = client.auth.create_public_token(scopes={"read": {"sessions": "py-watch"}})
    seen: list[Any] = []

    def watch() -> None:
        records = RecordStream(
            client.http,
            f"{client.base_url}/realtime/v1/sessions/py-watch/out",
            lambda: read_only,
            timeout_seconds=10,
        )
        for record in records:
            seen.append(record)
            if record.control == "turn-complete":
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.3)
    sender.send_message("py-watch", "watched").text()
    watcher.join(20)
    assert "".join(r.chunk["delta"] for r in seen if r.chunk and r.chunk["type"] == "text-delta") == reply(
        "watched"
    )
