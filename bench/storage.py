"""Bounded `.out` storage (retention.py) for `make bench`: what one session keeps after many turns,
never trimmed vs. the default retention vs. retention 0, and what the trims cost.

Turns are written as the agent writes them (a page of a 20-chunk reply, then a page ending with
its turn-complete), one a minute on an injected clock, and trimmed as the run trims after each
turn-complete. Counts and bytes are exact; `delete_units` is what DynamoDB bills for the deletes
(one write unit per started KB of each deleted item) and `storage_*_per_gb_month` prices what
stays at $0.25 per GB-month.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent_sessions import retention, store, streams
from agent_sessions.config import reset_settings
from tests.support import count_dynamodb_calls

RUN = "run_bench_storage"
MINUTE_MS = 60_000
T0_MS = 1_800_000_000_000
STORAGE_DOLLARS_PER_GB_MONTH = 0.25  # DynamoDB Standard table class, us-east-1


@contextmanager
def _retention(seconds: int | None) -> Iterator[None]:
    saved = os.environ.get("AGENT_SESSIONS_OUT_RETENTION_SECONDS")
    if seconds is not None:
        os.environ["AGENT_SESSIONS_OUT_RETENTION_SECONDS"] = str(seconds)
    reset_settings()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AGENT_SESSIONS_OUT_RETENTION_SECONDS", None)
        else:
            os.environ["AGENT_SESSIONS_OUT_RETENTION_SECONDS"] = saved
        reset_settings()


def _write_page(session_id: str, records: list[tuple[str, list[list[str]]]], ts: int) -> int:
    start, owner = store.read_head_and_owner(session_id, "out")
    page = [store.StoredRecord(start + i, ts, body, headers) for i, (body, headers) in enumerate(records)]
    if owner is None:
        store.append_page(session_id, "out", start, page, new_owner=RUN)
    else:
        store.append_page(session_id, "out", start, page, owner=owner)
    return start + len(records) - 1


def _turn(session_id: str, n: int, ts: int, chunks: int) -> int:
    reply = [(streams.envelope({"type": "start", "messageId": f"m{n}"}), [])]
    reply += [
        (streams.envelope({"type": "text-delta", "id": "t", "delta": f"word{i} "}), []) for i in range(chunks)
    ]
    _write_page(session_id, reply, ts)
    closing = [(streams.envelope({"type": "finish"}), []), ("", streams.control_headers("turn-complete"))]
    return _write_page(session_id, closing, ts + 500)


def _stored(session_id: str) -> dict[str, int]:
    items = list(store.StreamItem.query(store.log_pk(session_id, "out"), consistent_read=True))
    return {
        "items": len(items),
        "bytes": sum(len((item.records or "").encode()) + 64 for item in items),
        "records": sum(1 for _ in store.read_pages(session_id, "out", -1, limit=100_000)),
    }


def _units(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(max(1, math.ceil(size / 1024)) for key, size in before.items() if key not in after)


def _sizes(session_id: str) -> dict[int, int]:
    pk = store.log_pk(session_id, "out")
    return {
        int(i.seq): len((i.records or "").encode()) + 64
        for i in store.StreamItem.query(pk, consistent_read=True)
    }


def _one_session(label: str, retention_seconds: int | None, turns: int, chunks: int) -> dict[str, Any]:
    session_id = f"session_benchstorage_{label}"
    requests = delete_units = 0
    with _retention(retention_seconds):
        for n in range(turns):
            ts = T0_MS + n * MINUTE_MS
            tc = _turn(session_id, n, ts, chunks)
            if retention_seconds is None:
                continue
            before = _sizes(session_id)
            with count_dynamodb_calls() as calls:
                retention.trim_out(session_id, RUN, tc, now_ms=ts + 1000)
            requests += sum(calls.by_operation().values())
            delete_units += _units(before, _sizes(session_id))
    stored = _stored(session_id)
    gb = stored["bytes"] / 1024**3
    return {
        **stored,
        "trim_requests_per_turn": round(requests / turns, 2),
        "delete_units_per_turn": round(delete_units / turns, 2),
        "storage_dollars_per_month": round(gb * STORAGE_DOLLARS_PER_GB_MONTH, 8),
    }


def bounded_storage(turns: int = 200, chunks: int = 20) -> dict[str, Any]:
    """`.out` of one session after `turns` turns of `chunks` chunks, one turn a minute."""
    return {
        "turns": turns,
        "chunks_per_turn": chunks,
        "never_trimmed": _one_session("never", None, turns, chunks),
        "retention_3600s_default": _one_session("default", 3600, turns, chunks),
        "retention_0s_about_one_turn": _one_session("zero", 0, turns, chunks),
        "note": "items/bytes/records: what stays in .out; a cursor-less reader reads `records`. "
        "Trims use explicit deletes (billed per started KB of each deleted item); storage at "
        f"${STORAGE_DOLLARS_PER_GB_MONTH}/GB-month. With a retention, what stays no longer grows with turns.",
    }
