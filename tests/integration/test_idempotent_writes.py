"""Every retried log write lands once, even when DynamoDB committed it and the reply was lost.

Each test puts one fault on the first transaction that writes the log under test, through the
fault proxy (tests/faults.py). `after_write_reply_lost` is the case that matters: botocore resends a
transaction that already committed, the resend is cancelled by the writer's own page, and the writer
must recognise that page as its own instead of writing it again at the next seq. The `-exhausted`
cases keep failing until botocore gives up, so the application's own retry is exercised too.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest

from agent_sessions import launchers, store, streams
from tests.faults import Fault, FaultProxy, Rule, puts_to
from tests.integration.conftest import Api, create_body
from tests.support import ENV

ATTEMPTS = 4  # PynamoDB's botocore config: 1 + 3 retries

REPLY_LOST_THEN_CONFLICT = "reply_lost_then_conflict"
"""The write lands, its reply is lost, and botocore's resend is cancelled by a TransactionConflict."""

FAULTS = [
    pytest.param(Fault.AFTER_WRITE_REPLY_LOST, 1, id="after_write_reply_lost"),
    pytest.param(Fault.AFTER_WRITE_REPLY_LOST, ATTEMPTS, id="after_write_reply_lost-exhausted"),
    pytest.param(Fault.BEFORE_WRITE, 1, id="before_write"),
    pytest.param(Fault.BEFORE_WRITE, ATTEMPTS, id="before_write-exhausted"),
    pytest.param(Fault.THROTTLE, ATTEMPTS, id="throttle-exhausted"),
    pytest.param(Fault.THROUGHPUT, 1, id="throughput"),
    pytest.param(Fault.CONFLICT, 1, id="conflict"),
    pytest.param(Fault.CONFLICT, 3, id="conflict-repeated"),
    pytest.param(REPLY_LOST_THEN_CONFLICT, 1, id="after_write_reply_lost-then-conflict"),
]


@pytest.fixture
def api(faulty_dynamodb: FaultProxy) -> Api:
    return Api()


@pytest.fixture
def session(api: Api) -> dict[str, Any]:
    chat = f"chat-{uuid.uuid4().hex[:8]}"  # the tables are shared by this module's tests
    response = api("POST", "/api/v1/sessions", body=create_body(chat), token=ENV.secret_key)
    assert response.status == 201, response.body
    return dict(response.body)


def fail_first_write(proxy: FaultProxy, log: str, fault: Fault | str, times: int) -> Rule:
    if fault == REPLY_LOST_THEN_CONFLICT:
        first = Rule(Fault.AFTER_WRITE_REPLY_LOST, operation="TransactWriteItems", where=puts_to(log))
        # Rules are consulted in order: the second sees only requests the first did not take.
        proxy.add(first, Rule(Fault.CONFLICT, operation="TransactWriteItems", where=puts_to(log)))
        return first
    rule = Rule(Fault(fault), operation="TransactWriteItems", where=puts_to(log), times=times)
    proxy.add(rule)
    return rule


def stored(proxy: FaultProxy, session_id: str, io: str) -> list[store.StoredRecord]:
    with proxy.paused():
        return list(store.read_pages(session_id, io, -1, limit=1000))


def assert_written_once(records: list[store.StoredRecord], count: int) -> None:
    assert [r.seq for r in records] == list(range(count)), [r.seq for r in records]
    ids = [json.loads(r.body)["id"] for r in records if r.body]
    assert len(ids) == len(set(ids)), ids


@pytest.mark.parametrize(("fault", "times"), FAULTS)
def test_out_page_is_written_once(
    faulty_dynamodb: FaultProxy, session: dict[str, Any], fault: Fault | str, times: int
) -> None:
    sid = session["id"]
    rule = fail_first_write(faulty_dynamodb, f"{sid}#out", fault, times)
    writer = streams.OutWriter(sid, window_seconds=10.0)
    for chunk in ({"type": "start"}, {"type": "start-step"}, {"type": "text-start", "id": "t"}):
        writer.write_chunk(chunk)
    writer.write_chunk({"type": "text-delta", "id": "t", "delta": "hi"})
    writer.write_control("turn-complete", session_in_event_id="0")
    assert writer.flush(timeout=30) == 4
    writer.close()
    assert rule.fired == times
    records = stored(faulty_dynamodb, sid, "out")
    assert_written_once(records, 5)
    assert [json.loads(r.body)["data"]["type"] for r in records if r.body] == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
    ]
    assert streams.control_kind(records[-1]) == "turn-complete"
    with faulty_dynamodb.paused():
        assert store.read_head(sid, "out") == 5


@pytest.mark.parametrize("part_id", [None, "part-1"])
@pytest.mark.parametrize(("fault", "times"), FAULTS)
def test_in_append_is_written_once_and_answers_its_seq(
    faulty_dynamodb: FaultProxy,
    api: Api,
    session: dict[str, Any],
    fault: Fault | str,
    times: int,
    part_id: str | None,
) -> None:
    sid, pat, chat = session["id"], session["publicAccessToken"], session["externalId"]
    rule = fail_first_write(faulty_dynamodb, f"{sid}#in", fault, times)
    headers = {"x-part-id": part_id} if part_id else {}
    body = {"kind": "message", "payload": {"chatId": chat, "trigger": "submit-message"}}
    first = api("POST", f"/realtime/v1/sessions/{chat}/in/append", body=body, token=pat, headers=headers)
    assert rule.fired == times
    assert (first.status, first.body) == (200, {"ok": True, "seq": 0})
    second = api("POST", f"/realtime/v1/sessions/{chat}/in/append", body={"kind": "stop"}, token=pat)
    assert (second.status, second.body) == (200, {"ok": True, "seq": 1})
    records = stored(faulty_dynamodb, sid, "in")
    assert_written_once(records, 2)
    if part_id:
        assert json.loads(records[0].body)["id"] == part_id


@pytest.mark.parametrize(("fault", "times"), FAULTS)
def test_out_http_append_is_written_once(
    faulty_dynamodb: FaultProxy, api: Api, session: dict[str, Any], fault: Fault | str, times: int
) -> None:
    sid = session["id"]
    rule = fail_first_write(faulty_dynamodb, f"{sid}#out", fault, times)
    chunk = {"type": "text-delta", "id": "t", "delta": "x"}
    response = api(
        "POST",
        f"/realtime/v1/sessions/{session['externalId']}/out/append",
        body=chunk,
        token=ENV.secret_key,
        headers={"x-part-id": "o1"},
    )
    assert rule.fired == times
    assert (response.status, response.body) == (200, {"ok": True, "seq": 0})
    assert_written_once(stored(faulty_dynamodb, sid, "out"), 1)


@pytest.mark.parametrize("log", ["in", "out"])
@pytest.mark.parametrize(("fault", "times"), FAULTS)
def test_close_writes_its_wake_up_and_closed_records_once(
    faulty_dynamodb: FaultProxy, api: Api, session: dict[str, Any], fault: Fault | str, times: int, log: str
) -> None:
    sid = session["id"]
    rule = fail_first_write(faulty_dynamodb, f"{sid}#{log}", fault, times)
    response = api(
        "POST",
        f"/api/v1/sessions/{session['externalId']}/close",
        body={"reason": "done"},
        token=ENV.secret_key,
    )
    assert rule.fired == times
    assert response.status == 200 and response.body["closedReason"] == "done", response.body
    wake = stored(faulty_dynamodb, sid, "in")
    assert_written_once(wake, 1)
    assert json.loads(json.loads(wake[0].body)["data"])["payload"]["trigger"] == "close"
    closed = stored(faulty_dynamodb, sid, "out")
    assert [streams.control_kind(r) for r in closed] == ["session-closed"]


def test_flush_during_a_slow_commit_does_not_wait_out_the_window(
    faulty_dynamodb: FaultProxy, session: dict[str, Any]
) -> None:
    """flush() means now: a commit finishing after the flush began must not restart the window."""
    sid = session["id"]
    committing = threading.Event()
    writes_out = puts_to(f"{sid}#out")

    def first_out_write(body: dict[str, Any]) -> bool:
        if writes_out(body):
            committing.set()
            return True
        return False

    faulty_dynamodb.add(Rule(Fault.DELAY, operation="TransactWriteItems", where=first_out_write, delay=0.5))
    writer = streams.OutWriter(sid, window_seconds=60.0)
    writer.write_chunk({"type": "start"})  # written at once, and slowly
    assert committing.wait(5)
    writer.write_chunk({"type": "start-step"})
    assert writer.flush(timeout=10) == 1  # before the fix: TimeoutError, the window restarted
    writer.close()


# ---------------------------------------------------------------- create (issue 8, item 5)


def create(api: Api, chat: str) -> Any:
    return api("POST", "/api/v1/sessions", body=create_body(chat), token=ENV.secret_key)


@pytest.mark.parametrize("times", [1, 3])
def test_a_create_that_loses_a_transaction_conflict_retries_and_creates(
    faulty_dynamodb: FaultProxy, api: Api, times: int
) -> None:
    """Only ConditionalCheckFailed means "exists"; a conflict used to answer 404 (nothing was there)."""
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    rule = Rule(Fault.CONFLICT, operation="TransactWriteItems", where=puts_to(f"#{chat}"), times=times)
    faulty_dynamodb.add(rule)
    response = create(api, chat)
    assert rule.fired == times
    assert response.status == 201 and response.body["isCached"] is False, response.body
    assert launchers.get_launcher().started == [response.body["runId"]]  # type: ignore[attr-defined]


def test_a_create_whose_reply_was_lost_is_new_and_made_once(faulty_dynamodb: FaultProxy, api: Api) -> None:
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    faulty_dynamodb.add(
        Rule(Fault.AFTER_WRITE_REPLY_LOST, operation="TransactWriteItems", where=puts_to(f"#{chat}"))
    )
    response = create(api, chat)
    assert response.status == 201 and response.body["isCached"] is False, response.body
    assert create(api, chat).body["isCached"] is True
    with faulty_dynamodb.paused():
        assert [r.reason for r in store.list_session_runs(response.body["id"])] == ["initial"]


def test_a_create_that_conflicts_with_an_existing_session_is_cached(
    faulty_dynamodb: FaultProxy, api: Api
) -> None:
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    first = create(api, chat)
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="TransactWriteItems", where=puts_to(f"#{chat}")))
    again = create(api, chat)
    assert again.status == 200 and again.body["isCached"] is True and again.body["id"] == first.body["id"]


def test_a_create_conflicting_past_its_budget_is_a_retryable_503_and_creates_nothing(
    faulty_dynamodb: FaultProxy, api: Api
) -> None:
    chat = f"chat-{uuid.uuid4().hex[:8]}"
    faulty_dynamodb.add(
        Rule(Fault.CONFLICT, operation="TransactWriteItems", where=puts_to(f"#{chat}"), times=100)
    )
    response = create(api, chat)
    assert response.status == 503 and response.body["code"] == "contention", response.body
    with faulty_dynamodb.paused():
        assert store.get_session_item(store.session_pk(ENV.id, chat)) is None
