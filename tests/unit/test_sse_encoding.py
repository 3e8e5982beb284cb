"""SSE framing and header parsing of the reader."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agent_sessions.errors import BadRequest
from agent_sessions.http import stream
from agent_sessions.store import StoredRecord
from agent_sessions.streams import PollBackoff, control_headers, control_kind, header


@pytest.mark.parametrize(
    ("value", "cursor"),
    [
        ("12", 12),
        ("12-3", 12),
        ("0", 0),
        (None, -1),
        ("0,13,0x", 0),
        ("abc", -1),
        ("", -1),
        ("²", -1),
        # The batch id this server sends (`first,end` with `end` exclusive, as S2's triple):
        # resuming with it must continue after the batch, not inside it (issue 9, item 13).
        ("19,23", 22),
        ("0,13,0", 12),
        ("5,6", 5),
        ("5,5", 5),
        (str(2**53 - 1), 2**53 - 1),
    ],
)
def test_last_event_id(value: str | None, cursor: int) -> None:
    assert stream.parse_last_event_id(value) == cursor


@pytest.mark.parametrize("value", ["9" * 5000, str(2**53), "1,99999999999999999999"])
def test_last_event_id_beyond_any_seq_is_400(value: str) -> None:
    with pytest.raises(BadRequest):
        stream.parse_last_event_id(value)


@pytest.mark.parametrize(("value", "seconds"), [(None, 60), ("1", 1), ("120", 120), ("600", 600)])
def test_timeout_seconds(value: str | None, seconds: int) -> None:
    assert stream.parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["0", "-1", "601", "abc", "1.5", "9" * 5000, "²"])
def test_bad_timeout_seconds(value: str) -> None:
    with pytest.raises(BadRequest):
        stream.parse_timeout(value)


def test_batch_frame_is_v2() -> None:
    records = [
        StoredRecord(3, 1000, '{"data":{"type":"start"},"id":"a"}', []),
        StoredRecord(4, 1001, "", control_headers("turn-complete", session_in_event_id="2")),
    ]
    frame = stream.encode_batch(records).decode()
    lines = frame.split("\n")
    assert lines[1] == "event: batch" and frame.endswith("\n\n")
    data = json.loads(lines[2].removeprefix("data: "))
    assert [r["seq_num"] for r in data["records"]] == [3, 4]
    assert data["records"][1] == {
        "seq_num": 4,
        "timestamp": 1001,
        "body": "",
        "headers": [["trigger-control", "turn-complete"], ["session-in-event-id", "2"]],
    }


def test_control_helpers() -> None:
    record = StoredRecord(
        0, 0, "", control_headers("turn-complete", public_access_token="t", session_closed=None)
    )
    assert control_kind(record) == "turn-complete"
    assert header(record, "public-access-token") == "t"
    assert header(record, "session-closed") is None


def test_poll_backoff_is_fast_while_flowing_and_backs_off_idle() -> None:
    backoff = PollBackoff(0.05, 1.0)
    delays = [backoff.idle() for _ in range(7)]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.got_records()
    assert backoff.idle() == 0.05


def test_poll_backoff_stays_at_the_minimum_while_hot() -> None:
    """A reader just after a send (an agent just after its turn) polls tightly, not 0.05 → 1 s."""
    backoff = PollBackoff(0.05, 1.0, hot_seconds=3600)
    assert [backoff.idle() for _ in range(7)] == [0.05] * 7


def test_event_source_resuming_from_batch_ids_gets_no_record_twice() -> None:
    """A browser `EventSource` resends the last `id:` it saw; resuming there must skip nothing and
    repeat nothing (issue 9, item 13: 71 of 1,000 records came twice over 200 cuts)."""
    import random

    rng = random.Random(13)
    records = [StoredRecord(seq, seq, f'{{"data":{seq},"id":"r{seq}"}}', []) for seq in range(1000)]
    duplicated = skipped = 0
    for _ in range(200):
        delivered: list[int] = []
        last_id: str | None = None
        cursor = -1
        cut = rng.randrange(1, 1000)
        resumed = False
        while cursor < 999:
            size = rng.randint(1, 40)
            batch = records[cursor + 1 : cursor + 1 + size]
            frame = stream.encode_batch(batch).decode()
            if not resumed and len(delivered) + len(batch) > cut:
                # The connection drops before this frame; EventSource reconnects with its last id.
                cursor = stream.parse_last_event_id(last_id)
                resumed = True
                continue
            last_id = frame.split("\n")[0].removeprefix("id: ")
            delivered += [
                json.loads(r["body"])["data"] for r in json.loads(frame.split("\n")[2][6:])["records"]
            ]
            cursor = batch[-1].seq
        duplicated += len(delivered) - len(set(delivered))
        skipped += 1000 - len(set(delivered))
    assert (duplicated, skipped) == (0, 0)


def test_open_sse_readers_do_not_hold_the_shared_thread_pool() -> None:
    """50 readers blocked between polls (inside their frame generator) used to hold Starlette's
    shared 40-thread pool, so every other request on the server waited for a reader's ping."""
    import threading

    import anyio
    import anyio.to_thread

    from agent_sessions.http.stream import _off_the_shared_pool

    release = threading.Event()
    started = threading.Semaphore(0)

    def blocked_reader() -> Iterator[bytes]:
        started.release()
        release.wait(30)
        yield b"data: [DONE]\n\n"

    async def drain() -> None:
        async for _ in _off_the_shared_pool(blocked_reader()):
            pass

    async def main() -> None:
        async with anyio.create_task_group() as readers:
            for _ in range(50):
                readers.start_soon(drain)
            with anyio.fail_after(10):  # deadlock detection, not a speed bound
                for _ in range(50):
                    await anyio.to_thread.run_sync(started.acquire)
                assert await anyio.to_thread.run_sync(lambda: 42) == 42
            release.set()

    try:
        anyio.run(main)
    finally:
        release.set()
