"""`.in`/`.out` append: seq, X-Part-Id dedupe, caps, closed sessions, continuation, request counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sessions import store
from tests.integration.conftest import Api
from tests.support import ENV, count_dynamodb_calls

MESSAGE = {"kind": "message", "payload": {"chatId": "chat-1", "trigger": "submit-message"}}
IN = "/realtime/v1/sessions/chat-1/in/append"


def records(api: Api, io: str = "in") -> list[dict[str, Any]]:
    return list(
        api("GET", f"/realtime/v1/sessions/chat-1/{io}/records", token=ENV.secret_key).body["records"]
    )


def test_append_assigns_dense_seqs_and_stores_the_raw_body(api: Api, created: dict[str, Any]) -> None:
    pat = created["publicAccessToken"]
    seqs = [api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": f"p{i}"}).body for i in range(3)]
    assert seqs == [{"ok": True, "seq": 0}, {"ok": True, "seq": 1}, {"ok": True, "seq": 2}]
    stored = records(api)
    assert [r["seqNum"] for r in stored] == [0, 1, 2]
    assert stored[0]["id"] == "p0" and json.loads(stored[0]["data"]) == MESSAGE


def test_duplicate_part_id_stores_one_record_and_returns_the_same_seq(
    api: Api, created: dict[str, Any]
) -> None:
    pat = created["publicAccessToken"]
    first = api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "same"})
    api("POST", IN, body={"kind": "stop"}, token=pat, headers={"x-part-id": "other"})
    again = api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "same"})
    assert first.body == again.body == {"ok": True, "seq": 0}
    assert [r["id"] for r in records(api)] == ["same", "other"]


def test_without_part_id_every_append_is_new(api: Api, created: dict[str, Any]) -> None:
    pat = created["publicAccessToken"]
    api("POST", IN, body=MESSAGE, token=pat)
    api("POST", IN, body=MESSAGE, token=pat)
    ids = [r["id"] for r in records(api)]
    assert len(ids) == 2 and len(set(ids)) == 2 and all(len(i) == 7 for i in ids)


def test_oversize_body_is_413_with_cors_and_changes_nothing(api: Api, created: dict[str, Any]) -> None:
    big = "x" * (1024 * 1024 + 1)
    response = api("POST", IN, body=big, token=created["publicAccessToken"])
    assert response.status == 413 and response.headers["access-control-allow-origin"] == "*"
    quoted = json.dumps({"t": '"' * (600 * 1024)})  # fits the HTTP cap, not the metered record size
    assert api("POST", IN, body=quoted, token=created["publicAccessToken"]).status == 413
    assert records(api) == []


def test_records_bigger_than_an_item_are_stored_whole(api: Api, created: dict[str, Any]) -> None:
    body = json.dumps({"kind": "message", "payload": {"text": "y" * (900 * 1024)}})
    assert api("POST", IN, body=body, token=created["publicAccessToken"]).body["seq"] == 0
    assert api("POST", IN, body=MESSAGE, token=created["publicAccessToken"]).body["seq"] == 1
    stored = records(api)
    assert stored[0]["data"] == body and [r["seqNum"] for r in stored] == [0, 1]


def test_out_append_requires_a_secret_key(api: Api, created: dict[str, Any]) -> None:
    denied = api(
        "POST", "/realtime/v1/sessions/chat-1/out/append", body="{}", token=created["publicAccessToken"]
    )
    assert denied.status == 403
    chunk = json.dumps({"type": "text-delta", "id": "t", "delta": "hi"})
    ok = api(
        "POST",
        "/realtime/v1/sessions/chat-1/out/append",
        body=chunk,
        token=ENV.secret_key,
        headers={"x-part-id": "o1"},
    )
    assert ok.body == {"ok": True, "seq": 0}
    dup = api(
        "POST",
        "/realtime/v1/sessions/chat-1/out/append",
        body=chunk,
        token=ENV.secret_key,
        headers={"x-part-id": "o1"},
    )
    assert dup.body == {"ok": True, "seq": 0}
    assert records(api, "out") == [
        {"data": {"type": "text-delta", "id": "t", "delta": "hi"}, "id": "o1", "seqNum": 0}
    ]


def test_an_out_record_nested_deeper_than_the_decoder_recurses_is_read_back_as_text(
    api: Api, created: dict[str, Any]
) -> None:
    """Before: `json.loads` of the stored data raised RecursionError, and every read of the
    session's `.out` records answered 500 from then on."""
    deep = "[" * 100_000 + "]" * 100_000
    ok = api("POST", "/realtime/v1/sessions/chat-1/out/append", body=deep, token=ENV.secret_key)
    assert ok.status == 200
    read = api("GET", "/realtime/v1/sessions/chat-1/out/records", token=ENV.secret_key)
    assert read.status == 200 and read.body["records"][0]["data"] == deep


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_an_out_record_with_a_non_json_number_is_read_back_as_text(
    api: Api, created: dict[str, Any], constant: str
) -> None:
    """Before: the records response echoed `NaN` unquoted, which no JSON parser (the browser's
    included) reads, so every read of the session's `.out` records failed client-side."""
    body = '{"type":"data-x","data":' + constant + "}"
    ok = api("POST", "/realtime/v1/sessions/chat-1/out/append", body=body, token=ENV.secret_key)
    assert ok.status == 200
    read = api("GET", "/realtime/v1/sessions/chat-1/out/records", token=ENV.secret_key)
    assert read.status == 200 and read.body["records"][0]["data"] == body


def test_append_to_a_dead_run_starts_exactly_one_continuation(
    api: Api, created: dict[str, Any], aws: Any
) -> None:
    store.complete_run(created["runId"])
    pat = created["publicAccessToken"]
    api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "a"})
    api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "b"})
    session = api("GET", "/api/v1/sessions/chat-1", token=ENV.secret_key).body
    assert session["currentRunId"] != created["runId"]
    runs = api("GET", "/api/v1/sessions/chat-1/runs", token=ENV.secret_key).body["data"]
    assert [r["reason"] for r in runs] == ["initial", "continuation"]
    run = store.get_run(session["currentRunId"])
    assert run is not None and run.payload["continuation"] is True
    assert run.payload["previousRunId"] == created["runId"]
    assert len(aws.client.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]) == 2


def test_live_run_append_costs_at_most_three_dynamodb_requests(api: Api, created: dict[str, Any]) -> None:
    pat = created["publicAccessToken"]
    api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "warm"})
    with count_dynamodb_calls() as calls:
        response = api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "measured"})
    assert response.body["seq"] == 1
    assert calls.total <= 3, calls.by_operation()


@pytest.mark.parametrize("operation", ["GetItem", "Query"])
def test_decisions_read_strongly_consistent(api: Api, created: dict[str, Any], operation: str) -> None:
    pat = created["publicAccessToken"]
    store.complete_run(created["runId"])
    with count_dynamodb_calls() as calls:
        api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "x"})
        api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": "x"})
        records(api)
    reads = [params for name, params in calls.calls if name == operation and "IndexName" not in params]
    assert reads, f"no {operation} happened"
    assert all(params.get("ConsistentRead") is True for params in reads)
    # A GSI cannot be read strongly consistent: the one index read here is the live-run cap's
    # count (documented as approximate), never a decision about the logs.
    index_reads = [params for name, params in calls.calls if name == operation and "IndexName" in params]
    assert all(p["IndexName"] == "live_by_env" and p["Select"] == "COUNT" for p in index_reads)
