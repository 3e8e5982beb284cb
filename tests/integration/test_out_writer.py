"""The coalescing `.out` writer: few writes, no delay after quiet, order kept."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from agent_sessions import streams
from agent_sessions.config import reset_settings
from tests.support import count_dynamodb_calls


def test_thousand_chunks_at_100_per_second_cost_at_most_100_writes(created: dict[str, Any]) -> None:
    writer = streams.OutWriter(created["id"])
    with count_dynamodb_calls() as calls:
        start = time.monotonic()
        for i in range(1000):
            writer.write_chunk({"type": "text-delta", "id": "t", "delta": str(i)})
            time.sleep(max(0.0, start + (i + 1) / 100 - time.monotonic()))
        writer.close()
    writes = calls.by_operation()["TransactWriteItems"]
    assert writes <= 100, calls.by_operation()
    assert writer.writes == writes
    bodies = streams.read_after(created["id"], "out", -1, limit=2000)
    assert [r.seq for r in bodies] == list(range(1000))
    assert [json.loads(r.body)["data"]["delta"] for r in bodies] == [str(i) for i in range(1000)]


def _committed_within(session_id: str, seconds: float) -> bool:
    """Whether `.out` holds a record within `seconds` (polled every 10 ms)."""
    deadline = time.monotonic() + seconds
    while not streams.read_after(session_id, "out", -1) and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(streams.read_after(session_id, "out", -1))


def test_first_record_after_a_quiet_spell_is_written_at_once(created: dict[str, Any]) -> None:
    writer = streams.OutWriter(created["id"], window_seconds=5.0)
    try:
        writer.write_chunk({"type": "start"})
        assert _committed_within(created["id"], 2.0), "first record waited for the window"
    finally:
        writer.close()


def test_second_page_of_a_burst_does_not_wait_out_the_window(created: dict[str, Any]) -> None:
    """A reply's `start` went at once, but its first text-delta waited the whole window after it:
    the window now starts at out_coalesce_first_seconds and only grows as the burst goes on."""
    writer = streams.OutWriter(created["id"], window_seconds=60.0)
    try:
        writer.write_chunk({"type": "start"})
        assert writer.flush(timeout=5) == 0
        writer.write_chunk({"type": "text-delta", "id": "t", "delta": "Hi"})
        deadline = time.monotonic() + 5.0
        while len(streams.read_after(created["id"], "out", -1)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(streams.read_after(created["id"], "out", -1)) == 2, "second page waited the window"
    finally:
        writer.close()


def test_a_turns_first_words_are_not_held_behind_a_page_of_openers(
    created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traced on a wake: the first page left with `start` alone (written at once, as the first
    record after a quiet spell), and the first text-delta, enqueued a few ms later, waited out the
    window behind it. A stamped turn's first content chunk now skips the window."""
    monkeypatch.setenv("AGENT_SESSIONS_OUT_COALESCE_FIRST_SECONDS", "60")
    reset_settings()
    writer = streams.OutWriter(created["id"], window_seconds=60.0)
    try:
        writer.stamp_turn(0)
        writer.write_chunk({"type": "start"})
        assert writer.flush(timeout=5) == 0
        writer.write_chunk({"type": "text-start", "id": "t"})
        writer.write_chunk({"type": "text-delta", "id": "t", "delta": "Hi"})
        deadline = time.monotonic() + 5.0
        while len(streams.read_after(created["id"], "out", -1)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(streams.read_after(created["id"], "out", -1)) == 3, "the first words waited the window"
        writer.write_chunk({"type": "text-delta", "id": "t", "delta": " there"})
        time.sleep(0.2)
        assert len(streams.read_after(created["id"], "out", -1)) == 3, "later words coalesce as before"
    finally:
        writer.close()
    reset_settings()


def test_a_turns_openers_wait_briefly_for_its_first_words_and_share_their_page(
    created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Traced: `start` went out alone (the first record after a quiet spell is written at once), so
    the first words needed a second transaction on the way to the reader. A stamped turn's openers
    now wait up to `out_coalesce_first_seconds` for its first content chunk."""
    monkeypatch.setenv("AGENT_SESSIONS_OUT_COALESCE_FIRST_SECONDS", "60")
    reset_settings()
    writer = streams.OutWriter(created["id"], window_seconds=60.0)
    try:
        writer.stamp_turn(0)
        for kind in ("start", "start-step", "text-start"):
            writer.write_chunk({"type": kind, "id": "t"})
        time.sleep(0.2)  # the model's first token takes a while (before: the openers left alone)
        writer.write_chunk({"type": "text-delta", "id": "t", "delta": "Hi"})
        deadline = time.monotonic() + 5.0
        while len(streams.read_after(created["id"], "out", -1)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(streams.read_after(created["id"], "out", -1)) == 4, "the first words waited the window"
        assert writer.writes == 1, "openers and first words in one page"
    finally:
        writer.close()
    reset_settings()


def test_a_slow_first_word_does_not_hold_the_turns_start_back(created: dict[str, Any]) -> None:
    writer = streams.OutWriter(created["id"], window_seconds=60.0)
    try:
        writer.stamp_turn(0)
        writer.write_chunk({"type": "start"})
        assert _committed_within(created["id"], 5.0), "start waited for words that never came"
    finally:
        writer.close()


def test_flush_commits_everything_enqueued(created: dict[str, Any]) -> None:
    writer = streams.OutWriter(created["id"], window_seconds=10.0)
    for i in range(5):
        writer.write_chunk({"i": i})
    assert writer.flush(timeout=5) == 4
    writer.close()
    assert len(streams.read_after(created["id"], "out", -1)) == 5


def test_flush_during_an_inflight_write_does_not_wait_for_the_window(
    created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush that lands while the first write is in flight used to be forgotten when that write
    finished, so the rest waited out the whole coalescing window."""
    entered, release = threading.Event(), threading.Event()
    real_append = streams.store.append_page

    def slow_first_append(*args: Any, **kwargs: Any) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)
        real_append(*args, **kwargs)

    monkeypatch.setattr(streams.store, "append_page", slow_first_append)
    writer = streams.OutWriter(created["id"], window_seconds=60.0)
    try:
        writer.write_chunk({"i": 0})  # written at once: blocks in flight
        assert entered.wait(5)
        writer.write_chunk({"i": 1})  # waits for the window
        flushed: list[int] = []
        flusher = threading.Thread(target=lambda: flushed.append(writer.flush(timeout=10)))
        flusher.start()
        while not writer._flushing:  # the flush has registered itself
            time.sleep(0.001)
        release.set()
        flusher.join(15)
        assert flushed == [1]
    finally:
        release.set()
        writer.close()


def test_oversized_chunk_is_refused_before_it_is_queued(created: dict[str, Any]) -> None:
    writer = streams.OutWriter(created["id"])
    try:
        try:
            writer.write_chunk({"blob": "x" * (1024 * 1024)})
        except streams.PayloadTooLarge:
            pass
        else:
            raise AssertionError("expected PayloadTooLarge")
        writer.write_chunk({"blob": "y" * (800 * 1024)})
    finally:
        writer.close()
    stored = streams.read_after(created["id"], "out", -1)
    assert len(stored) == 1 and len(stored[0].body) > 800 * 1024


def test_finding_the_last_turn_complete_reads_small_pages(created: dict[str, Any]) -> None:
    sid = created["id"]
    streams.append_records(
        sid, "out", [("", streams.control_headers("turn-complete", session_in_event_id="0"))]
    )
    streams.append_records(sid, "out", [(streams.envelope({"n": i}), []) for i in range(3)])
    with count_dynamodb_calls() as calls:
        found = streams.last_turn_complete(sid)
    assert found is not None and found.seq == 0
    queries = [params for name, params in calls.calls if name == "Query"]
    assert queries and all(params["Limit"] <= 25 for params in queries), queries


def test_waiting_out_a_long_window_does_not_restart_the_burst(created: dict[str, Any]) -> None:
    """With a window as long as the quiet spell (0.5 s), the writer's own wait for the window
    looked like a quiet spell: every page after a full window restarted the burst at 25 ms, so a
    long reply paid for short windows over and over. A burst restarts only when the producer
    enqueued nothing for that long after the last write."""
    writer = streams.OutWriter(created["id"], window_seconds=1.0)
    try:
        with writer._cond:
            writer._burst, writer._last_write = 8, 100.0
            writer._buffer_since = 100.02  # enqueued right after the write, then waited a full window
            assert writer._window() == 1.0 and writer._burst == 8
            writer._buffer_since = 100.0 + streams._BURST_QUIET_SECONDS  # a new reply
            assert writer._window() == 0.0 and writer._burst == 0
    finally:
        writer.close()
