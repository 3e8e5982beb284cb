"""Bounded `.out` (retention.py): whole turns older than the retention go after a later turn-complete;
the newest complete turn, a turn in progress and anything younger than the retention stay; the trim
is fenced and idempotent; a reader behind the trim gets a `trim` command record and no gap.

Time is injected (`now_ms`, record timestamps), never waited for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from agent_sessions import retention, store, streams
from agent_sessions.config import reset_settings
from tests.faults import ERROR_FAULTS, Fault, FaultProxy, Rule

SID = "session_retention"
RUN = "run_owner"
MINUTE = 60_000
T0 = 1_800_000_000_000


@pytest.fixture
def retention_seconds(faulty_dynamodb: FaultProxy) -> Iterator[None]:
    """Retention of one hour (the default, set explicitly so a changed default does not move these)."""
    os.environ["AGENT_SESSIONS_OUT_RETENTION_SECONDS"] = "3600"
    reset_settings()
    yield
    os.environ.pop("AGENT_SESSIONS_OUT_RETENTION_SECONDS", None)
    reset_settings()


def _write(records: list[tuple[str, list[list[str]]]], ts: int, owner: str = RUN) -> int:
    """One page at time `ts` by the run owning `.out` (the first page makes it the owner)."""
    start, current = store.read_head_and_owner(SID, "out")
    page = [store.StoredRecord(start + i, ts, body, headers) for i, (body, headers) in enumerate(records)]
    if current is None:
        store.append_page(SID, "out", start, page, new_owner=owner)
    else:
        store.append_page(SID, "out", start, page, owner=current)
    return start + len(records) - 1


def _turn(n: int, ts: int) -> int:
    """A turn in two pages (its chunks, then its last chunk + turn-complete); returns the TC's seq."""
    _write(
        [(streams.envelope({"type": "start", "n": n}), []), (streams.envelope({"type": "text", "n": n}), [])],
        ts,
    )
    return _write(
        [(streams.envelope({"type": "finish", "n": n}), []), ("", streams.control_headers("turn-complete"))],
        ts + 1000,
    )


def _seqs() -> list[int]:
    return [r.seq for r in store.read_pages(SID, "out", -1, limit=1000)]


def _four_turns() -> list[int]:
    """Turns at T0, T0+20 min, T0+40 min, T0+60 min, 4 records each (seqs 0..15)."""
    return [_turn(n, T0 + n * 20 * MINUTE) for n in range(4)]


def test_whole_turns_older_than_the_retention_go_the_newest_turn_stays(retention_seconds: None) -> None:
    tcs = _four_turns()
    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 50 * MINUTE) == 0, "all within the hour"
    assert _seqs() == list(range(16))

    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE) == 4, (
        "turns 0 and 1 ended > 1 h ago"
    )
    assert _seqs() == list(range(8, 16))
    assert store.read_out_trim(SID) == 8

    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 500 * MINUTE) == 2
    assert _seqs() == list(range(12, 16)), "the newest complete turn always stays"


def test_retention_zero_keeps_about_one_turn(
    faulty_dynamodb: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_OUT_RETENTION_SECONDS", "0")
    reset_settings()
    try:
        tcs = _four_turns()
        assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 61 * MINUTE) == 6
        assert _seqs() == list(range(12, 16))
    finally:
        monkeypatch.delenv("AGENT_SESSIONS_OUT_RETENTION_SECONDS")
        reset_settings()


def test_a_turn_in_progress_is_never_trimmed(retention_seconds: None) -> None:
    """Records after the turn-complete that triggered the trim (a next turn already streaming,
    however old its clock says they are) are not touched."""
    tcs = _four_turns()
    _write([(streams.envelope({"type": "start", "n": 4}), [])], T0)  # an old clock, mid-turn
    retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 500 * MINUTE)
    assert _seqs() == list(range(12, 17))


def test_a_reader_behind_the_trim_gets_a_trim_command_then_every_retained_record(
    retention_seconds: None,
) -> None:
    tcs = _four_turns()
    retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE)
    for cursor in (-1, 0, 3, 6):
        got = streams.read_after(SID, "out", cursor)
        assert got[0].seq == 7 and got[0].body == "" and got[0].headers == [["", "trim"]], cursor
        assert streams.is_command(got[0])
        assert [r.seq for r in got[1:]] == list(range(8, 16)), "gap-free after the marker"
    assert [r.seq for r in streams.read_after(SID, "out", 7)] == list(range(8, 16)), "no marker at the edge"
    page = streams.records_page(SID, "out", 2)
    assert [r["seqNum"] for r in page.records] == list(range(8, 16)), "the records endpoint skips the command"
    frames = b"".join(streams_frames(SID, 2))
    batch = json.loads(frames.split(b"data: ", 1)[1].split(b"\n", 1)[0])
    assert batch["records"][0] == {
        "seq_num": 7,
        "timestamp": T0 + 40 * MINUTE,
        "body": "",
        "headers": [["", "trim"]],
    }


def streams_frames(session_id: str, cursor: int) -> list[bytes]:
    from agent_sessions.http.stream import follow

    return list(follow(session_id, "out", cursor, 0))


def test_a_superseded_run_trims_nothing(retention_seconds: None) -> None:
    tcs = _four_turns()
    _handover("run_next")
    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 500 * MINUTE) == 0
    assert _seqs() == list(range(17))
    assert store.read_out_trim(SID) == 0
    with pytest.raises(store.RunSuperseded):
        store.advance_out_trim(SID, RUN, 8)


def _handover(new_owner: str) -> None:
    """What `start_attempt` does for the next run: it becomes the `.out` owner."""
    start, owner = store.read_head_and_owner(SID, "out")
    assert owner is not None
    page = [store.StoredRecord(start, T0 + 61 * MINUTE, streams.envelope({"type": "start"}), [])]
    store.append_page(SID, "out", start, page, owner=owner, new_owner=new_owner)


def test_a_trim_is_idempotent_and_the_next_one_finishes_a_crashed_one(retention_seconds: None) -> None:
    tcs = _four_turns()
    assert store.advance_out_trim(SID, RUN, 8), "the head moved; the process died before deleting"
    assert [r.seq for r in streams.read_after(SID, "out", -1)] == list(range(16)), "left pages are still real"
    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE) == 4
    assert _seqs() == list(range(8, 16))
    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE) == 0
    assert store.advance_out_trim(SID, RUN, 4), "never moves back, and says it is done"
    assert store.read_out_trim(SID) == 8


@pytest.mark.parametrize("fault", ERROR_FAULTS)
@pytest.mark.parametrize("operation", ["UpdateItem", "BatchWriteItem"])
def test_a_trim_meeting_a_fault_leaves_no_gap_and_the_next_trim_completes(
    retention_seconds: None, faulty_dynamodb: FaultProxy, fault: Fault, operation: str
) -> None:
    tcs = _four_turns()
    faulty_dynamodb.add(Rule(fault, operation=operation, times=10))
    retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE)
    faulty_dynamodb.clear()
    got = streams.read_after(SID, "out", -1)
    retained = [r.seq for r in got if not streams.is_command(r)]
    assert retained == list(range(retained[0], 16)), "whatever is left is contiguous to the end"
    retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 81 * MINUTE)
    assert _seqs() == list(range(8, 16))
    assert store.read_out_trim(SID) == 8


def test_an_overflow_page_goes_with_its_chunks(retention_seconds: None) -> None:
    big = streams.envelope("x" * 500_000)
    _write([(big, []), ("", streams.control_headers("turn-complete"))], T0)
    tcs = [_turn(n, T0 + n * 20 * MINUTE) for n in (1, 2)]
    assert retention.trim_out(SID, RUN, tcs[-1], now_ms=T0 + 70 * MINUTE) == 1
    assert _seqs() == list(range(2, 10))
    leftovers = list(store.StreamItem.query(f"{SID}#out#big#1", consistent_read=True))
    assert leftovers == []
