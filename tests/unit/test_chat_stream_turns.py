"""`ChatStream` shows only its own turn, even when an earlier turn was left unread.

The CLI's Ctrl-C closed a stopped reply's stream before its turn-complete; the next reply then
replayed the stopped turn's remaining text first (`This reply isYou said: next …`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agent_sessions.client.transport import ChatStream
from agent_sessions.client.types import Record


class Records:
    """A RecordStream stand-in: the records a reader gets from the saved cursor on."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.settled = False

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)


def delta(seq: int, text: str) -> Record:
    body = json.dumps({"data": json.dumps({"type": "text-delta", "id": "t", "delta": text}), "id": str(seq)})
    return Record(seq=seq, timestamp=0, body=body)


def turn_complete(seq: int, answered: int) -> Record:
    return Record(
        seq=seq,
        timestamp=0,
        body="",
        headers=[["trigger-control", "turn-complete"], ["session-in-event-id", str(answered)]],
    )


def read(records: list[Record], since: int, unread_turn: int | None) -> tuple[str, ChatStream]:
    ended: list[Any] = []
    stream = ChatStream(
        Records(records),  # type: ignore[arg-type]
        since,
        lambda record: None,
        ended.append,
        unread_turn_in_seq=unread_turn,
    )
    return stream.text(), stream


STOPPED_THEN_NEXT = [
    delta(10, "This reply"),
    delta(11, " is"),
    turn_complete(12, answered=1),
    delta(13, "You said:"),
    delta(14, " next."),
    turn_complete(15, answered=2),
]


def test_the_rest_of_an_unread_stopped_turn_is_not_shown_as_the_next_reply() -> None:
    text, stream = read(STOPPED_THEN_NEXT, since=2, unread_turn=1)
    assert text == "You said: next."
    assert stream.completed


def test_several_unread_turns_are_all_skipped() -> None:
    records = [
        delta(5, "one"),
        turn_complete(6, answered=1),
        delta(7, "two"),
        turn_complete(8, answered=2),
        delta(9, "You said: next."),
        turn_complete(10, answered=3),
    ]
    text, _ = read(records, since=3, unread_turn=2)
    assert text == "You said: next."


def test_a_turn_that_answers_the_unread_input_and_this_one_together_keeps_its_text() -> None:
    text, stream = read(
        [delta(20, "Both"), delta(21, " answered."), turn_complete(22, 2)], since=2, unread_turn=1
    )
    assert text == "Both answered." and stream.completed


def test_without_an_unread_turn_chunks_stream_at_once() -> None:
    stream = ChatStream(
        Records([delta(1, "live"), turn_complete(2, 1)]),  # type: ignore[arg-type]
        1,
        lambda record: None,
        lambda end: None,
    )
    assert next(iter(stream)) == {"type": "text-delta", "id": "t", "delta": "live"}
