"""Every read is bounded in bytes and in DynamoDB work, with a cursor to continue.

The records endpoint stops at `read_max_bytes` of serialized records (or `read_max_records`) and
says where to continue (`nextAfterEventId`); SSE batches are cut by bytes, a single record larger
than the budget in a frame of its own.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_sessions import streams
from agent_sessions.config import get_settings, reset_settings
from agent_sessions.http.stream import follow
from tests.integration.conftest import Api
from tests.support import ENV

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
