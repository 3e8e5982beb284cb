"""Every read is bounded in bytes and in DynamoDB work, with a cursor to continue.

The records endpoint stops at `read_max_bytes` of serialized records (or `read_max_records`) and
says where to continue (`nextAfterEventId`); SSE batches are cut by bytes, a single record larger
than the budget in a frame of its own.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

import pytest

from agent_sessions import sessions, store, streams, worker
from agent_sessions.config import get_settings, reset_settings
from agent_sessions.http.stream import follow
from tests.integration.conftest import Api
from tests.support import ENV, count_dynamodb_calls

MiB = 1024 * 1024
LAMBDA_RESPONSE_LIMIT = 6 * 1000 * 1000


def _records_url(io: str, after: str | None) -> str:
    path = f"/realtime/v1/sessions/chat-1/{io}/records"
    return path if after is None else f"{path}?afterEventId={after}"


def _drain(api: Api, token: str, io: str = "out") -> tuple[list[dict[str, Any]], list[int]]:
    """Follow `nextAfterEventId` to the end; returns every record and each response's body size."""
    records: list[dict[str, Any]] = []
    sizes: list[int] = []
    after: str | None = None
    for _ in range(1000):
        path = _records_url(io, after)
        query = {"afterEventId": after} if after is not None else None
        response = api("GET", path.split("?")[0], token=token, query=query)
        assert response.status == 200, response.body
        sizes.append(len(json.dumps(response.body, ensure_ascii=False).encode()))
        records += response.body["records"]
        after = response.body.get("nextAfterEventId")
        if after is None:
            return records, sizes
    raise AssertionError("the cursor never ended")


def _fill(session_id: str, count: int, size: int, char: str = "x", control_every: int = 0) -> list[str]:
    """`count` `.out` records of about `size` UTF-8 bytes each, written a few per page."""
    texts = [f"{i:04d}" + char * ((size - 4) // len(char.encode())) for i in range(count)]
    bodies: list[tuple[str, list[list[str]]]] = []
    for i, text in enumerate(texts):
        bodies.append((streams.envelope({"type": "text-delta", "id": "t", "delta": text}), []))
        if control_every and i % control_every == 0:
            bodies.append(("", [["", "trim"]]))  # a command record: skipped by readers
    for start in range(0, len(bodies), 3):
        streams.append_records(session_id, "out", bodies[start : start + 3])
    return texts


def test_records_endpoint_pages_80_records_of_100_kb_by_bytes(api: Api, created: dict[str, Any]) -> None:
    """Was one 8 MB response (over Lambda's 6 MB limit) that any read PAT could repeat."""
    texts = _fill(created["id"], 80, 100_000)
    records, sizes = _drain(api, created["publicAccessToken"])
    assert [r["data"]["delta"] for r in records] == texts
    assert [r["seqNum"] for r in records] == list(range(80))
    budget = get_settings().read_max_bytes
    assert len(sizes) >= 8 and max(sizes) <= budget + 1024, sizes


def test_a_record_larger_than_the_budget_comes_alone_and_command_records_do_not_stall_the_cursor(
    api: Api, created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_READ_MAX_BYTES", "50000")
    monkeypatch.setenv("AGENT_SESSIONS_READ_MAX_RECORDS", "4")
    reset_settings()
    texts = _fill(created["id"], 9, 120_000, char="😀", control_every=2)
    records, sizes = _drain(api, ENV.secret_key)
    assert [r["data"]["delta"] for r in records] == texts
    assert len(sizes) >= 9 and max(sizes) < 130_000, sizes


def test_every_response_fits_lambda_after_the_runtime_escapes_it(api: Api, created: dict[str, Any]) -> None:
    """Lambda's runtime serializes the response with \\u escapes: 4-byte characters triple."""
    _fill(created["id"], 12, 1000 * 1000 - 200, char="😀")
    after: str | None = None
    while True:
        query = {"afterEventId": after} if after is not None else None
        response = api("GET", _records_url("out", None), token=ENV.secret_key, query=query)
        envelope = {"statusCode": 200, "body": json.dumps(response.body, ensure_ascii=False)}
        assert len(json.dumps(envelope)) < LAMBDA_RESPONSE_LIMIT
        after = response.body.get("nextAfterEventId")
        if after is None:
            break


def _frames(session_id: str, cursor: int = -1) -> list[bytes]:
    return [f for f in follow(session_id, "out", cursor, 0) if f.startswith(b"id:")]


def _frame_records(frame: bytes) -> list[dict[str, Any]]:
    data = next(line for line in frame.decode().split("\n") if line.startswith("data: "))
    return list(json.loads(data[6:])["records"])


def test_sse_batches_are_cut_by_bytes_and_a_big_record_travels_alone(created: dict[str, Any]) -> None:
    """40 near-limit records were one 65 MiB frame (234 MiB peak in a 512 MB function)."""
    budget = get_settings().read_max_bytes
    small = _fill(created["id"], 30, 20_000)
    big = _fill(created["id"], 6, 1000 * 1000 - 200, char="😀")
    frames = _frames(created["id"])
    seen = [r for f in frames for r in _frame_records(f)]
    assert [r["seq_num"] for r in seen] == list(range(36))
    assert [json.loads(r["body"])["data"]["delta"] for r in seen] == small + big
    for frame in frames:
        assert len(frame) <= budget + 1024 or len(_frame_records(frame)) == 1, len(frame)
    assert max(len(f) for f in frames) < 2 * MiB


def test_sse_resumes_mid_log_without_repeats(created: dict[str, Any]) -> None:
    _fill(created["id"], 20, 200_000)
    seqs = [r["seq_num"] for f in _frames(created["id"], 6) for r in _frame_records(f)]
    assert seqs == list(range(7, 20))


# ---------------------------------------------------------------- GET /api/v1/sessions


def _sessions(count: int, **fields: Any) -> list[str]:
    """`count` session items written straight to the table, oldest first (creating through the
    API would launch a run for each)."""
    ids = []
    base = store.now()
    for i in range(count):
        sid = f"session_bulk{i:04d}"
        at = base + timedelta(milliseconds=i)
        item = store.SessionModel(
            store.session_pk(ENV.id, sid),
            kind="session",
            session_id=sid,
            env_id=ENV.id,
            type=fields.get("type", "chat.agent") if i % 40 else fields.get("rare_type", "chat.agent"),
            task_identifier="demo-chat",
            tags=[],
            created_at=at,
            updated_at=at,
            list_env=ENV.id,
            list_key=f"{at.isoformat()}#{sid}",
        )
        assert store.insert_session(item, None)
        ids.append(sid)
    return ids


def _list_all(api: Api, query: dict[str, str]) -> tuple[list[str], list[int]]:
    """Follow `pagination.next`; returns the ids and the sessions read by each request."""
    ids: list[str] = []
    examined: list[int] = []
    after: str | None = None
    for _ in range(100):
        with count_dynamodb_calls() as calls:
            page = api(
                "GET",
                "/api/v1/sessions",
                query={**query, **({"page[after]": after} if after else {})},
                token=ENV.secret_key,
            )
        assert page.status == 200, page.body
        examined.append(sum(int(p["Limit"]) for name, p in calls.calls if name == "Query"))
        ids += [s["id"] for s in page.body["data"]]
        after = page.body["pagination"].get("next")
        if after is None:
            return ids, examined
    raise AssertionError("the cursor never ended")


def test_a_filter_matching_nothing_reads_a_bounded_number_of_sessions_per_request(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walked every session of the environment in one request (20 queries)."""
    monkeypatch.setenv("AGENT_SESSIONS_LIST_MAX_EXAMINED", "50")
    reset_settings()
    _sessions(130)
    ids, examined = _list_all(api, {"filter[type]": "nothing-matches", "page[size]": "10"})
    assert ids == []
    assert max(examined) <= 50 and len(examined) == 3, examined


def test_a_sparse_filter_pages_through_every_match_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_LIST_MAX_EXAMINED", "30")
    reset_settings()
    all_ids = _sessions(130, rare_type="rare")
    expected = [sid for i, sid in enumerate(all_ids) if i % 40 == 0][::-1]
    ids, examined = _list_all(api, {"filter[type]": "rare", "page[size]": "2"})
    assert ids == expected
    assert max(examined) <= 30, examined


# ---------------------------------------------------------------- the worker's `.in` reads


def test_the_worker_reads_a_backlog_of_input_a_bounded_slice_at_a_time(
    api: Api, created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 near-limit inputs were one 200 MiB read in a worker."""
    monkeypatch.setenv("AGENT_SESSIONS_READ_MAX_BYTES", "50000")
    reset_settings()
    token = created["publicAccessToken"]
    texts = [f"{i}:" + "x" * 20_000 for i in range(8)]
    for text in texts:
        assert api("POST", "/realtime/v1/sessions/chat-1/in/append", body=text, token=token).status == 200
    session = sessions.resolve(ENV.id, "chat-1")
    run = store.get_run(created["runId"])
    assert run is not None
    ctx = worker.RunContext(session, run, ENV, _Clock(), cast(Any, None))
    slices = []
    while polled := ctx.poll_input():
        slices.append([r.chunk for r in polled])
    assert [chunk for piece in slices for chunk in piece] == texts
    assert max(len(piece) for piece in slices) <= 3, [len(p) for p in slices]


class _Clock:
    def get_remaining_time_in_millis(self) -> int:
        return 15 * 60_000


def test_a_sparse_filter_walks_back_with_page_before_under_the_same_bound(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_LIST_MAX_EXAMINED", "30")
    reset_settings()
    all_ids = _sessions(130, rare_type="rare")
    before = sessions._cursor_of(sessions.resolve(ENV.id, all_ids[0]))  # from the oldest, toward newer
    seen: list[str] = []
    for _ in range(100):
        query = {"filter[type]": "rare", "page[size]": "1", "page[before]": before}
        with count_dynamodb_calls() as calls:
            back = api("GET", "/api/v1/sessions", query=query, token=ENV.secret_key)
        assert back.status == 200, back.body
        assert sum(int(p["Limit"]) for name, p in calls.calls if name == "Query") <= 30
        seen += [s["id"] for s in back.body["data"]]
        if "previous" not in back.body["pagination"]:
            break
        before = back.body["pagination"]["previous"]
    assert seen == [sid for i, sid in enumerate(all_ids) if i % 40 == 0 and i > 0]
