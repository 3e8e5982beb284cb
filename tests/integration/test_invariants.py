"""design.md §3, each invariant proven deterministically against moto (threads only as an extra)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from agent_sessions import runs, sessions, store, streams
from agent_sessions.errors import SessionClosed
from tests.integration.conftest import Api
from tests.support import ENV, OTHER_ENV

IN = "/realtime/v1/sessions/chat-1/in/append"


def session(key: str = "chat-1") -> store.SessionModel:
    return sessions.resolve(ENV.id, key)


# -- 1. ordered, gap-free logs -------------------------------------------------------------


def test_in_append_with_a_stale_head_writes_nothing(created: dict[str, Any]) -> None:
    stale = session()
    sessions.append(stale, "in", "first", None)
    record = store.StoredRecord(0, 0, streams.envelope("late"), [])
    with pytest.raises(store.TransactionCancelled):
        store.append_in_record(stale.pk, stale.session_id or "", "in", 0, record, "p-late", 3600)
    assert [r.seq for r in streams.read_after(stale.session_id or "", "in", -1)] == [0]
    assert store.get_part_seq(stale.session_id or "", "in", "p-late") is None, (
        "marker rolled back with the page"
    )


def test_in_append_from_a_stale_snapshot_retries_at_the_next_seq(created: dict[str, Any]) -> None:
    stale = session()
    sessions.append(session(), "in", "a", None)
    result = sessions.append(stale, "in", "b", None)
    assert result.seq == 1
    assert [r.seq for r in streams.read_after(stale.session_id or "", "in", -1)] == [0, 1]


def test_out_page_with_a_stale_head_writes_nothing(created: dict[str, Any]) -> None:
    sid = created["id"]
    streams.append_records(sid, "out", [("a", [])])
    with pytest.raises(store.TransactionCancelled):
        store.append_page(sid, "out", 0, [store.StoredRecord(0, 0, "b", [])])
    assert [r.body for r in streams.read_after(sid, "out", -1)] == ["a"]


def test_two_out_writers_interleave_without_gap_or_duplicate(created: dict[str, Any]) -> None:
    sid = created["id"]
    old, new = streams.OutWriter(sid, window_seconds=0), streams.OutWriter(sid, window_seconds=0)
    try:
        for i in range(5):
            old.write_chunk({"w": "old", "i": i})
            old.flush()
            new.write_chunk({"w": "new", "i": i})
            new.flush()
    finally:
        old.close()
        new.close()
    seqs = [r.seq for r in streams.read_after(sid, "out", -1)]
    assert seqs == list(range(10))


def test_reader_stops_at_a_gap_instead_of_skipping(created: dict[str, Any]) -> None:
    sid = created["id"]
    streams.append_records(sid, "out", [("a", []), ("b", [])])
    store.StreamItem(store.log_pk(sid, "out"), 5, first_seq=5, records='[[5,0,"orphan",[]]]', chunks=1).save()
    assert [r.seq for r in streams.read_after(sid, "out", -1)] == [0, 1]
    assert streams.read_after(sid, "out", 1) == []


def test_reader_resumes_mid_page(created: dict[str, Any]) -> None:
    sid = created["id"]
    streams.append_records(sid, "out", [(str(i), []) for i in range(6)])
    assert [r.body for r in streams.read_after(sid, "out", 2)] == ["3", "4", "5"]


def test_seq_never_resets_across_runs(api: Api, created: dict[str, Any]) -> None:
    pat = created["publicAccessToken"]
    api("POST", IN, body="a", token=pat)
    store.complete_run(created["runId"])
    assert api("POST", IN, body="b", token=pat).body["seq"] == 1
    assert session().current_run_id != created["runId"]


# -- 2. one live run per session -------------------------------------------------------------


def test_stale_cas_is_refused(created: dict[str, Any]) -> None:
    s = session()
    with pytest.raises(store.ConditionFailed):
        store.swap_current_run(s.pk, s.current_run_id, int(s.current_run_version) - 1, "run_x")
    with pytest.raises(store.ConditionFailed):
        store.swap_current_run(s.pk, "run_other", int(s.current_run_version), "run_x")
    assert session().current_run_id == created["runId"]


def test_cas_on_a_missing_session_does_not_upsert(aws: Any) -> None:
    with pytest.raises(store.ConditionFailed):
        store.swap_current_run(store.session_pk(ENV.id, "ghost"), None, 0, "run_x")
    assert store.get_session_item(store.session_pk(ENV.id, "ghost")) is None


def test_loser_of_the_claim_cancels_its_run_and_adopts_the_winner(created: dict[str, Any], aws: Any) -> None:
    store.complete_run(created["runId"])
    stale = session()
    winner = runs.ensure_live_run(session(), "continuation")
    loser = runs.ensure_live_run(stale, "continuation")
    assert winner.triggered and not loser.triggered
    assert loser.run_id == winner.run_id == session().current_run_id
    statuses = {r.run_id: r.status for r in store.RunModel.scan() if r.run_id and r.sk == "run"}
    assert sorted(statuses.values()).count(runs.CANCELED) == 1, "the loser's run was cancelled"
    executions = aws.client.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert len(executions) == 2, "initial + one continuation; the loser never launched"
    assert [r["reason"] for r in runs.session_runs(session())] == ["initial", "continuation"]


def test_concurrent_appends_to_a_dead_session_start_one_continuation(
    created: dict[str, Any], aws: Any
) -> None:
    store.complete_run(created["runId"])
    snapshots = [session() for _ in range(4)]
    for i, snap in enumerate(snapshots):
        sessions.append(snap, "in", f"m{i}", f"p{i}")
    assert len([r for r in runs.session_runs(session()) if r["reason"] == "continuation"]) == 1


def test_concurrent_appends_race_threads(created: dict[str, Any], aws: Any) -> None:
    """Extra only (the test above is the proof): real interleavings on in-process moto, which the
    `aws` fixture serializes, so the claim's compare-and-swap holds as on DynamoDB."""
    store.complete_run(created["runId"])
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            sessions.append(session(), "in", f"m{i}", f"p{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    current = session().current_run_id
    run = store.get_run(current or "")
    assert run is not None and run.status not in runs.FINAL_STATUSES
    assert sorted(r.seq for r in streams.read_after(created["id"], "in", -1)) == list(range(6))
    assert len([r for r in runs.session_runs(session()) if r["reason"] == "continuation"]) == 1


def test_end_and_continue_with_a_stale_snapshot_does_not_swap(created: dict[str, Any]) -> None:
    stale = session()
    first, swapped = runs.end_and_continue(session(), created["runId"], "upgrade")
    assert swapped
    second, swapped_again = runs.end_and_continue(stale, created["runId"], "upgrade")
    assert (second, swapped_again) == (first, False)
    assert session().current_run_id == first


# -- 3. idempotent writes --------------------------------------------------------------------


def test_create_twice_from_the_same_snapshot_makes_one_session(api: Api) -> None:
    from tests.integration.conftest import create_body

    bodies = [
        api("POST", "/api/v1/sessions", body=create_body("same"), token=ENV.secret_key) for _ in range(3)
    ]
    assert [b.status for b in bodies] == [201, 200, 200]
    assert len({b.body["id"] for b in bodies}) == 1
    assert len([s for s in store.SessionModel.scan() if s.kind == "session"]) == 1


def test_part_id_retry_after_other_appends_returns_the_original_seq(created: dict[str, Any]) -> None:
    first = sessions.append(session(), "in", "x", "retry-me")
    sessions.append(session(), "in", "y", None)
    again = sessions.append(session(), "in", "x", "retry-me")
    assert again.seq == first.seq and again.duplicate
    assert len(streams.read_after(created["id"], "in", -1)) == 2


# -- 5. nothing lost on bad input ------------------------------------------------------------


def _state() -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for model in store.MODELS:
        rows += sorted(tuple(str(v) for v in item.serialize().values()) for item in model.scan())
    return rows


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/v1/sessions", "{not json", 400),
        ("POST", "/api/v1/sessions", "", 400),
        ("POST", "/api/v1/sessions", {"type": "chat.agent"}, 400),
        (
            "POST",
            "/api/v1/sessions",
            {
                "type": "x",
                "taskIdentifier": "t",
                "externalId": "session_bad",
                "triggerConfig": {"basePayload": {}},
            },
            400,
        ),
        (
            "POST",
            "/api/v1/sessions",
            {"type": "x", "taskIdentifier": "t", "triggerConfig": {"basePayload": {}, "maxAttempts": 11}},
            400,
        ),
        (
            "POST",
            "/api/v1/sessions",
            {"type": "x", "taskIdentifier": "t", "tags": ["a"] * 11, "triggerConfig": {"basePayload": {}}},
            400,
        ),
        ("POST", "/api/v1/sessions", "x" * 40_000, 413),
        ("PATCH", "/api/v1/sessions/chat-1", {"externalId": "changed"}, 422),
        ("PATCH", "/api/v1/sessions/chat-1", {"unknown": 1}, 400),
        ("POST", "/api/v1/sessions/chat-1/close", {"reason": "r" * 300}, 400),
        ("POST", "/api/v1/sessions/chat-1/end-and-continue", {"reason": "upgrade"}, 400),
        ("POST", "/realtime/v1/sessions/chat-1/in/append", "x" * (1024 * 1024 + 10), 413),
        ("POST", "/realtime/v1/sessions/chat-1/sideways/append", "x", 404),
        ("GET", "/realtime/v1/sessions/chat-1/in/records?afterEventId=abc", None, 400),
        ("GET", "/api/v1/sessions?page[size]=0", None, 400),
        ("GET", "/api/v1/sessions?page[after]=%%%", None, 400),
        ("POST", "/api/v1/auth/public-tokens", {"scopes": []}, 400),
        ("POST", "/api/v1/auth/public-tokens", {"scopes": ["a"], "expirationTime": "whenever"}, 400),
    ],
)
def test_bad_input_is_a_4xx_with_error_and_code_and_changes_nothing(
    api: Api, created: dict[str, Any], method: str, path: str, body: Any, status: int
) -> None:
    before = _state()
    path, _, qs = path.partition("?")
    query = dict(p.split("=", 1) for p in qs.split("&")) if qs else None
    response = api(method, path, body=body, query=query, token=ENV.secret_key)
    assert response.status == status, response.body
    assert isinstance(response.body["error"], str) and response.body["error"]
    assert isinstance(response.body["code"], str) and response.body["code"]
    assert _state() == before


def test_closed_session_refuses_appends_atomically(created: dict[str, Any]) -> None:
    stale = session()
    sessions.close(session(), sessions.CloseSessionBody(reason="bye"))
    with pytest.raises(SessionClosed) as info:
        sessions.append(stale, "in", "late", None)
    assert info.value.extra["closedReason"] == "bye"
    bodies = [r.body for r in streams.read_after(created["id"], "in", -1)]
    assert len(bodies) == 1 and "close" in bodies[0], "only the close wake-up landed"


def test_expired_session_is_closed_for_appends_and_create(api: Api) -> None:
    from tests.integration.conftest import create_body

    past = "2020-01-01T00:00:00Z"
    assert (
        api("POST", "/api/v1/sessions", body=create_body("old", expiresAt=past), token=ENV.secret_key).status
        == 201
    )
    append = api("POST", "/realtime/v1/sessions/old/in/append", body="x", token=ENV.secret_key)
    assert append.status == 409 and append.body["closedReason"] == "expired"
    again = api("POST", "/api/v1/sessions", body=create_body("old"), token=ENV.secret_key)
    assert again.status == 409 and again.headers["x-should-retry"] == "false"


# -- 6. least privilege ---------------------------------------------------------------------


def test_other_environments_sessions_are_invisible(api: Api, created: dict[str, Any]) -> None:
    assert api("GET", "/api/v1/sessions/chat-1", token=OTHER_ENV.secret_key).status == 404
    assert api("GET", f"/api/v1/sessions/{created['id']}", token=OTHER_ENV.secret_key).status == 404
    assert api("POST", IN, body="x", token=OTHER_ENV.secret_key).status == 404
