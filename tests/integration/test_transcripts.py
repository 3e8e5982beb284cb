"""Transcripts (issue 11 item 5): the paged route over the saved history, its Python helpers, and
an agent keeping its history in the app's own `TranscriptStorage`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agent_sessions import auth, history_records
from agent_sessions.agent.history import ChatHistory
from agent_sessions.transcript import (
    TranscriptEntry,
    page,
    reduce_changes,
)
from tests.integration.conftest import Api
from tests.support import ENV, table_state


def message(i: int) -> dict[str, Any]:
    role = "user" if i % 2 == 0 else "assistant"
    return {"id": f"m{i}", "role": role, "parts": [{"type": "text", "text": f"message {i}"}]}


@pytest.fixture
def saved(created: dict[str, Any]) -> list[dict[str, Any]]:
    """Ten messages saved as three turns' saves would, the last after `.out` seq 41."""
    history = ChatHistory(created["id"])
    history.load()
    messages = [message(i) for i in range(10)]
    history.save(messages[:4], {}, cursor=1, out_cursor=12)
    history.save(messages[:8], {}, cursor=3, out_cursor=30)
    history.save(messages, {"k": 1}, cursor=5, out_cursor=41)
    return messages


def get(
    api: Api, query: dict[str, str] | None = None, key: str = "chat-1", token: str = ENV.secret_key
) -> Any:
    return api("GET", f"/api/v1/sessions/{key}/transcript", query=query, token=token)


def ids(body: dict[str, Any]) -> list[str]:
    return [m["id"] for m in body["messages"]]


def test_pages_walk_back_from_the_newest_message(api: Api, saved: list[dict[str, Any]]) -> None:
    first = get(api, {"limit": "4"})
    assert first.status == 200, first.body
    assert ids(first.body) == ["m6", "m7", "m8", "m9"], "newest last"
    assert first.body["nextCursor"] == "m6"
    assert first.body["cursors"] == {"lastOutEventId": "41", "lastInEventId": "5"}
    assert first.body["state"] is None
    second = get(api, {"limit": "4", "before": "m6"}).body
    assert ids(second) == ["m2", "m3", "m4", "m5"] and second["nextCursor"] == "m2"
    last = get(api, {"limit": "4", "before": "m2"}).body
    assert ids(last) == ["m0", "m1"] and "nextCursor" not in last, "omitted, never null"
    assert ids(get(api).body) == [f"m{i}" for i in range(10)], "no limit: the whole transcript"
    assert get(api, {"before": "gone"}).body["messages"] == [], "an unknown cursor reads nothing"


def test_either_id_form_names_the_chat(
    api: Api, created: dict[str, Any], saved: list[dict[str, Any]]
) -> None:
    assert ids(get(api, {"limit": "1"}, key=created["id"]).body) == ["m9"]


def test_a_new_chat_has_an_empty_transcript(api: Api, created: dict[str, Any]) -> None:
    response = get(api, {"limit": "50"})
    assert response.status == 200
    assert response.body == {"messages": [], "state": None, "cursors": {}}


def test_a_page_stays_under_the_response_cap(
    api: Api, saved: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = len(httpx.Response(200, json=message(9)).content)
    monkeypatch.setattr(history_records, "MAX_PAGE_BYTES", 3 * one)
    body = get(api).body
    assert ids(body) == ["m7", "m8", "m9"] and body["nextCursor"] == "m7"
    monkeypatch.setattr(history_records, "MAX_PAGE_BYTES", 1)
    assert ids(get(api).body) == ["m9"], "the newest message always comes back"


BAD_QUERIES = [
    {"limit": "0"},
    {"limit": "1001"},
    {"limit": "-1"},
    {"limit": "ten"},
    {"limit": "²"},
    {"before": ""},
]


def test_bad_paging_is_a_400_with_cors_and_changes_nothing(api: Api, saved: list[dict[str, Any]]) -> None:
    before = table_state()
    for query in BAD_QUERIES:
        response = get(api, query)
        assert response.status == 400, (query, response.body)
        assert response.body["code"] == "invalid_query" and response.body["error"]
        assert response.headers["access-control-allow-origin"] == "*"
    assert table_state() == before


def test_only_a_secret_key_reads_a_transcript(api: Api, saved: list[dict[str, Any]]) -> None:
    own = auth.session_token(ENV, "chat-1", 600)
    for token in (own, auth.mint_public_token(ENV, ["read:sessions:chat-1"], expiration="1h")):
        refused = get(api, {"limit": "1"}, token=token)
        assert refused.status == 403 and refused.body["code"] == "unauthorized"
    assert get(api, {"limit": "1"}, key="no-such-chat").status == 404
    assert get(api, {"limit": "1"}, token="tr_dev_wrong").status == 401


# ---------------------------------------------------------------- pure helpers


def test_reduce_replays_changes_idempotently() -> None:
    entries = [TranscriptEntry(f"m{i}", message(i)) for i in range(3)]
    changes: list[Any] = [
        {"op": "put", "message": {**message(1), "parts": []}, "final": True},
        {"op": "truncateAfter", "afterId": "m1"},
        {"op": "put", "message": message(7), "final": False},
        {"op": "remove", "id": "nope"},
        {"op": "state", "value": {"a": 1}},
    ]
    once = reduce_changes(entries, None, changes)
    assert [e.id for e in once[0]] == ["m0", "m1", "m7"] and once[0][2].final is False
    assert once[0][1].message["parts"] == [] and once[1] == {"a": 1}
    assert reduce_changes(once[0], once[1], changes) == once


def test_page_matches_the_reference_paging() -> None:
    msgs = [message(i) for i in range(5)]
    assert page(msgs, limit=2) == (msgs[3:], "m3")
    assert page(msgs, limit=5) == (msgs, None)
    assert page(msgs, before="m0") == ([], None)
    assert page(msgs, limit=2, before="m3") == (msgs[1:3], "m1")
