"""Size limits in UTF-8 bytes: the record limit on every write path, and no DynamoDB item over 400 KB.

The metered size of a record is `8 + UTF-8 bytes of {"data":…,"id":…}` written as `JSON.stringify`
writes it (wire-protocol 2.11). Each row of the table builds a record of exactly the limit out of
1-, 2-, 3- or 4-byte characters (padded with ASCII), and one of limit + 1 byte whose last character
is of that width: the first is stored whole, the second is a 413 (or PayloadTooLarge for the agent)
and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent_sessions import store, streams
from agent_sessions.errors import PayloadTooLarge
from agent_sessions.http.realtime_app import create_app
from tests.integration.conftest import Api
from tests.support import ENV, DynamoCalls, count_dynamodb_calls

DYNAMODB_ITEM_LIMIT = 400 * 1024
CHARS = {1: "a", 2: "é", 3: "中", 4: "😀"}
PART = "p"


def _attr_bytes(value: dict[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return len(str(raw))
    if kind == "L":
        return 3 + sum(1 + _attr_bytes(v) for v in raw)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _attr_bytes(v) for k, v in raw.items())
    return len(json.dumps(raw).encode())


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """DynamoDB's item size: UTF-8 bytes of every attribute name plus its value."""
    return sum(len(name.encode()) + _attr_bytes(value) for name, value in item.items())


def written_items(calls: DynamoCalls) -> Iterator[dict[str, Any]]:
    for name, params in calls.calls:
        if name == "PutItem":
            yield params["Item"]
        elif name == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    yield action["Put"]["Item"]


def assert_items_fit(calls: DynamoCalls) -> int:
    sizes = [item_bytes(item) for item in written_items(calls)]
    assert sizes, "nothing was written"
    assert max(sizes) <= DYNAMODB_ITEM_LIMIT, sorted(sizes)[-3:]
    return max(sizes)


def text_of(width: int, nbytes: int, *, over: bool = False) -> str:
    """`nbytes` of UTF-8 made of `width`-byte characters padded with ASCII; `over` adds one byte
    by turning `width - 1` padding bytes into one more wide character."""
    count = nbytes // width - 1
    pad = nbytes - count * width
    if over:
        return CHARS[width] * (count + 1) + "a" * (pad - width + 1)
    return CHARS[width] * count + "a" * pad


def metered(body: str) -> int:
    return 8 + len(body.encode())


LIMIT = 1024 * 1024


def in_body(width: int, *, over: bool = False) -> str:
    """A raw `.in` body whose record (with X-Part-Id "p") meters exactly the limit (or limit + 1)."""
    overhead = metered(streams.envelope("", PART))
    body = text_of(width, LIMIT - overhead, over=over)
    assert metered(streams.envelope(body, PART)) == LIMIT + (1 if over else 0)
    return body


@pytest.fixture
def function_url(aws: Any) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _append(api: Api, client: TestClient | None, token: str, io: str, body: str) -> tuple[int, Any]:
    path = f"/realtime/v1/sessions/chat-1/{io}/append"
    headers = {"x-part-id": PART}
    if client is None:
        response = api("POST", path, body=body, token=token, headers=headers)
        return response.status, response.body
    http = client.post(
        path,
        content=body.encode(),
        headers={**headers, "authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    return http.status_code, http.json()


def _records(api: Api, io: str) -> list[dict[str, Any]]:
    """Every record, following `nextAfterEventId` (a response holds about 1 MiB)."""
    records: list[dict[str, Any]] = []
    query: dict[str, str] | None = None
    while True:
        body = api(
            "GET", f"/realtime/v1/sessions/chat-1/{io}/records", token=ENV.secret_key, query=query
        ).body
        records += body["records"]
        if "nextAfterEventId" not in body:
            return records
        query = {"afterEventId": body["nextAfterEventId"]}


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("route", ["http-api", "function-url"])
def test_in_append_at_the_limit_is_stored_and_one_byte_over_is_413(
    api: Api, created: dict[str, Any], function_url: TestClient, route: str, width: int
) -> None:
    client = function_url if route == "function-url" else None
    token = created["publicAccessToken"]
    over = in_body(width, over=True)
    status, body = _append(api, client, token, "in", over)
    assert status == 413 and body["code"] == "payload_too_large", body
    assert _records(api, "in") == []

    exact = in_body(width)
    with count_dynamodb_calls() as calls:
        status, body = _append(api, client, token, "in", exact)
    assert (status, body) == (200, {"ok": True, "seq": 0})
    assert_items_fit(calls)
    [stored] = _records(api, "in")
    assert stored["data"] == exact and stored["id"] == PART


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_out_append_over_http_meters_utf8(api: Api, created: dict[str, Any], width: int) -> None:
    over = in_body(width, over=True)
    assert _append(api, None, ENV.secret_key, "out", over)[0] == 413
    exact = in_body(width)
    with count_dynamodb_calls() as calls:
        assert _append(api, None, ENV.secret_key, "out", exact)[0] == 200
    assert_items_fit(calls)
    assert _records(api, "out")[0]["data"] == exact


def _chunk(delta: str) -> dict[str, Any]:
    return {"type": "text-delta", "id": "t1", "delta": delta}


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_agent_out_record_at_the_limit_is_written_and_one_byte_over_is_refused(
    api: Api, created: dict[str, Any], width: int
) -> None:
    overhead = metered(streams.envelope(_chunk("")))
    writer = streams.OutWriter(created["id"], window_seconds=0)
    try:
        with pytest.raises(PayloadTooLarge):
            writer.write_chunk(_chunk(text_of(width, LIMIT - overhead, over=True)))
        exact = text_of(width, LIMIT - overhead)
        assert metered(streams.envelope(_chunk(exact))) == LIMIT
        with count_dynamodb_calls() as calls:
            writer.write_chunk(_chunk(exact))
            # a small record after it must not share its page
            writer.write_chunk(_chunk("after"))
            writer.flush()
    finally:
        writer.close()
    assert_items_fit(calls)
    out = _records(api, "out")
    assert [r["data"] for r in out] == [_chunk(exact), _chunk("after")]


@pytest.mark.parametrize(
    ("text", "label"),
    [("中" * (600 * 1024 // 3), "600 KB of CJK"), ("😀" * (400 * 1024 // 4), "400 KB of emoji")],
)
def test_the_reported_appends_are_accepted(api: Api, created: dict[str, Any], text: str, label: str) -> None:
    body = json.dumps({"kind": "message", "payload": {"text": text}}, ensure_ascii=False)
    response = api(
        "POST", "/realtime/v1/sessions/chat-1/in/append", body=body, token=created["publicAccessToken"]
    )
    assert response.status == 200, (label, response.body)
    assert json.loads(_records(api, "in")[0]["data"]) == {"kind": "message", "payload": {"text": text}}


def test_a_page_of_many_wide_records_is_split_by_bytes(api: Api, created: dict[str, Any]) -> None:
    """Coalesced small records of 4-byte characters: pages and their chunks stay under 400 KB."""
    deltas = ["😀" * 20_000 for _ in range(30)]  # 80 KB each, 2.4 MB in all
    writer = streams.OutWriter(created["id"], window_seconds=60)
    try:
        with count_dynamodb_calls() as calls:
            for delta in deltas:
                writer.write_chunk(_chunk(delta))
            writer.flush()
    finally:
        writer.close()
    assert_items_fit(calls)
    assert [r["data"]["delta"] for r in _records(api, "out")] == deltas


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_blobs_are_split_by_bytes(aws: Any, width: int) -> None:
    text = text_of(width, 1_500_000)
    with count_dynamodb_calls() as calls:
        store.put_blob("session_x", "snapshot", text)
    assert assert_items_fit(calls) > 300_000
    assert store.get_blob("session_x", "snapshot") == text
