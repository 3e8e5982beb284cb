"""The stored format of a chat's history (records of `put` / `truncate` / `store` / `state` operations) and
the server's read of it: `fold` replays records, `read_saved` returns the last committed save.

Pure of the agent SDK (no model or runtime imports), so the API's transcript route reads the
history without loading the agent; `agent.history` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from agent_sessions import store, streams, transcript
from agent_sessions.transcript import TranscriptCursors, TranscriptPage

UIMessage = dict[str, Any]

LEGACY_SNAPSHOT = "chat"
RECORD_VERSION = 2


class PutOp(TypedDict):
    op: Literal["put"]
    at: int
    message: UIMessage


class TruncateOp(TypedDict):
    op: Literal["truncate"]
    length: int


class StoreOp(TypedDict):
    op: Literal["store"]
    store: dict[str, Any]


class StateOp(TypedDict):
    """The run state kept beside the conversation (`chat.inject`'s queue, a suspended run's
    `chat.local` values), whole; not part of the transcript."""

    op: Literal["state"]
    state: dict[str, Any]


Op = PutOp | TruncateOp | StoreOp | StateOp


class Record(TypedDict, total=False):
    v: int
    token: str
    savedAt: int
    lastInEventId: Any
    lastOutEventId: int | None
    """The `.out` seq of the `turn-complete` this save follows (absent in records saved before it)."""
    ops: list[Op]


def fold(records: Iterable[Record]) -> tuple[list[UIMessage], dict[str, Any]]:
    """Replay records in order into (messages, store)."""
    messages, chat_store, _state = fold_with_state(records)
    return messages, chat_store


def fold_with_state(records: Iterable[Record]) -> tuple[list[UIMessage], dict[str, Any], dict[str, Any]]:
    """Replay records in order into (messages, store, run state)."""
    messages: list[UIMessage] = []
    chat_store: dict[str, Any] = {}
    state: dict[str, Any] = {}
    for record in records:
        for op in record["ops"]:
            if op["op"] == "put":
                if op["at"] < len(messages):
                    messages[op["at"]] = op["message"]
                else:
                    messages.append(op["message"])
            elif op["op"] == "truncate":
                del messages[op["length"] :]
            elif op["op"] == "state":
                state = op["state"]
            else:
                chat_store = op["store"]
    return messages, chat_store, state


@dataclass(frozen=True)
class SavedTranscript:
    """A chat's history as last saved, with the stream positions of that save."""

    messages: list[UIMessage]
    chat_store: dict[str, Any]
    last_in_event_id: Any = None
    last_out_event_id: int | None = None


def read_saved(session_id: str) -> SavedTranscript:
    """The messages, store and cursors of the last committed save (empty for a new chat).

    One strongly consistent read of the head and a Query of the current records. A chat still in
    the legacy blob format carries no cursors.
    """
    stored = store.read_history(session_id)
    if stored.head is None:
        raw = store.get_blob(session_id, LEGACY_SNAPSHOT)
        snapshot = json.loads(raw) if raw else {}
        return SavedTranscript(list(snapshot.get("messages") or []), dict(snapshot.get("store") or {}))
    records: list[Record] = [json.loads(body) for body in stored.records]
    messages, chat_store = fold(records)
    last = records[-1] if records else Record()
    return SavedTranscript(messages, chat_store, last.get("lastInEventId"), last.get("lastOutEventId"))


MAX_PAGE_BYTES = 5 * 1024 * 1024
"""A transcript page's budget of message JSON: under Lambda's 6 MB response cap. A page that
would exceed it keeps its newest messages and names the rest through `nextCursor`."""


def transcript_page(session_id: str, *, limit: int | None, before: str | None) -> TranscriptPage:
    """A page of the chat's saved history (`GET /api/v1/sessions/{session}/transcript`).

    Messages oldest first: those before message id `before` (none when no message has that id), the
    last `limit` of them, fewer when they would exceed `MAX_PAGE_BYTES`. `cursors` are the stream
    positions of the save the messages come from; for a history saved before saves recorded the
    `.out` position, the newest `turn-complete` of `.out` stands in.
    """
    saved = read_saved(session_id)
    messages, next_cursor = transcript.page(saved.messages, limit=limit, before=before)
    kept, size = len(messages), 0
    while kept > 0:
        size += len(json.dumps(messages[kept - 1], separators=(",", ":"), default=str).encode())
        if size > MAX_PAGE_BYTES and kept < len(messages):
            break
        kept -= 1
    if kept > 0:
        messages = messages[kept:]
        next_cursor = str(messages[0].get("id"))
    out_seq = saved.last_out_event_id
    if out_seq is None and saved.messages:
        last = streams.last_turn_complete(session_id)
        out_seq = last.seq if last is not None else None
    cursors = TranscriptCursors(
        last_out_event_id=str(out_seq) if out_seq is not None else None,
        last_in_event_id=str(saved.last_in_event_id) if saved.last_in_event_id is not None else None,
    )
    return TranscriptPage(messages=messages, cursors=cursors, next_cursor=next_cursor)
