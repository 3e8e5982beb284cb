"""The scope grammar: parsing is unambiguous and matching is the same for every route."""

from __future__ import annotations

import pytest

from agent_sessions import scopes
from agent_sessions.ids import external_id_problem
from agent_sessions.scopes import Channel, Need, Scope

IDS = frozenset({"chat-1", "session_abc"})


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("admin", Scope("admin")),
        ("*:all", Scope("*")),
        ("read:all", Scope("read")),
        ("read:sessions", Scope("read", "sessions")),
        ("read:sessions:chat-1", Scope("read", "sessions", "chat-1")),
        ("read:sessions:chat-1:out", Scope("read", "sessions", "chat-1", Channel.OUT)),
        ("write:sessions:chat-1:in", Scope("write", "sessions", "chat-1", Channel.IN)),
        ("write:sessions:a:b:c", Scope("write", "sessions", "a:b:c")),
        ("read:runs:run_1:out", Scope("read", "runs", "run_1:out")),
        ("trigger:tasks:demo", Scope("trigger", "tasks", "demo")),
        ("read:sessions:a,b", Scope("read", "sessions", "a,b")),
        ("read:sessions:*", Scope("read", "sessions", "*")),
        ("read:sessions:chat-1:", Scope("read", "sessions", "chat-1:")),
    ],
)
def test_parse(text: str, parsed: Scope) -> None:
    assert scopes.parse(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "read",
        "write",
        ":sessions:x",
        "read::x",
        "read:sessions:",
        "read:sessions::out",
        "read:sessions::in",
        "read:sessions:x:channels:screen",
        "read:sessions:x:channels:screen:out",
        "*:sessions:x",
        "*:all:x",
        "read:all:x",
    ],
)
def test_what_grants_nothing_parses_to_nothing(text: str) -> None:
    assert scopes.parse(text) is None


@pytest.mark.parametrize(
    ("scope", "need", "allowed"),
    [
        ("admin", Need("write", "sessions", IDS), True),
        ("*:all", Need("read", "sessions", None), True),
        ("read:all", Need("read", "sessions", IDS), True),
        ("read:all", Need("write", "sessions", IDS), False),
        ("read:sessions", Need("read", "sessions", IDS, Channel.OUT), True),
        ("read:sessions", Need("read", "sessions", None), True),
        ("read:sessions:chat-1", Need("read", "sessions", None), False),
        ("read:sessions:chat-1", Need("read", "sessions", IDS), True),
        ("read:sessions:session_abc", Need("read", "sessions", IDS, Channel.OUT), True),
        ("read:sessions:chat-2", Need("read", "sessions", IDS), False),
        ("read:sessions:chat-1", Need("write", "sessions", IDS), False),
        ("read:sessions:chat-1:out", Need("read", "sessions", IDS, Channel.OUT), True),
        ("read:sessions:chat-1:out", Need("read", "sessions", IDS), False),
        ("read:sessions:chat-1:out", Need("read", "sessions", IDS, Channel.IN), False),
        ("write:sessions:chat-1:in", Need("write", "sessions", IDS, Channel.IN), True),
        ("write:sessions:chat-1:in", Need("write", "sessions", IDS), False),
        ("write:sessions:chat-1:out", Need("write", "sessions", IDS, Channel.IN), False),
        ("read:sessions:chat", Need("read", "sessions", IDS), False),
        ("read:sessions:chat-1,chat-2", Need("read", "sessions", IDS), False),
        ("read:sessions:*", Need("read", "sessions", IDS), False),
        ("READ:sessions:chat-1", Need("read", "sessions", IDS), False),
        ("trigger:tasks:chat-1", Need("write", "sessions", IDS), False),
        ("read:runs:chat-1", Need("read", "sessions", IDS), False),
        ("admin:sessions:chat-1", Need("write", "sessions", IDS), True),
        ("admin:sessions:chat-1", Need("write", "sessions", None), False),
        ("write:tasks:demo", Need("write", "tasks", frozenset({"demo"})), True),
        ("write:tasks:demo", Need("write", "sessions", None), False),
    ],
)
def test_grants(scope: str, need: Need, allowed: bool) -> None:
    assert scopes.allows(scopes.parse_all([scope]), need) is allowed


def test_the_victim_chat_out_token_would_have_been_ambiguous() -> None:
    """`victim-chat:out` as a chat id is exactly what the grammar reserves, so it cannot be created."""
    assert external_id_problem("victim-chat:out") is not None
    assert external_id_problem("victim-chat:in") is not None
    assert external_id_problem("a:channels:b") is not None
    for fine in ("victim-chat", "a:b:c", "chat:outbox", "in", "out", "ch:inx", "team:42"):
        assert external_id_problem(fine) is None, fine


def test_dot_segments_cannot_be_chat_ids() -> None:
    """`..` was accepted at create, then no route reached it: the SDK's encodeURIComponent keeps dots
    and fetch (like httpx and browsers) drops `.`/`..` path segments, so `/sessions/../in/append`
    became another route."""
    assert external_id_problem("..") is not None
    assert external_id_problem(".") is not None
    for fine in ("...", ".a", "a.", "a..b"):
        assert external_id_problem(fine) is None, fine
