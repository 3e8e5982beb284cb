"""Transcripts over the local stack (issue 11 item 5): the Python helpers read what a real agent
saved, and an agent keeps its history in the app's own `TranscriptStorage`."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions import store
from agent_sessions.agent import Turn, chat, transcript_storage
from agent_sessions.client import AgentSessions, BadRequestError, NotFoundError
from agent_sessions.local.stack import LocalStack
from agent_sessions.transcript import (
    TranscriptChangeset,
    TranscriptCursors,
    TranscriptEntry,
    TranscriptPage,
    TranscriptSaveContext,
    TranscriptScope,
    page,
    reduce_changes,
)
from tests.integration.localstack import Chat, text_of, wait_for
from tests.support import read_sse

# ---------------------------------------------------------------- over HTTP, with real agents


class MemoryStorage:
    """The reference's `memoryTranscriptStorage`: applies each changeset and keeps them all."""

    def __init__(self) -> None:
        self.entries: dict[str, list[TranscriptEntry]] = {}
        self.state: dict[str, Any] = {}
        self.cursors: dict[str, TranscriptCursors] = {}
        self.changesets: list[tuple[TranscriptSaveContext, TranscriptChangeset]] = []
        self.failures_left = 0

    def load(
        self, scope: TranscriptScope, *, limit: int | None = None, before: str | None = None
    ) -> TranscriptPage:
        stored = [e.message for e in self.entries.get(scope.chat_id, [])]
        messages, next_cursor = page(stored, limit=limit, before=before)
        return TranscriptPage(
            messages,
            state=self.state.get(scope.chat_id),
            cursors=self.cursors.get(scope.chat_id, TranscriptCursors()),
            next_cursor=next_cursor,
        )

    def save(self, ctx: TranscriptSaveContext, changeset: TranscriptChangeset) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the app's database is down")
        self.changesets.append((ctx, changeset))
        entries, state = reduce_changes(
            self.entries.get(ctx.chat_id, []), self.state.get(ctx.chat_id), changeset.changes
        )
        assert [e.id for e in entries] == [e.id for e in changeset.entries], "changes and transcript agree"
        self.entries[ctx.chat_id], self.state[ctx.chat_id] = entries, state
        self.cursors[ctx.chat_id] = changeset.cursors


STORAGE = MemoryStorage()


@chat.agent(id="t-own-storage", idle_timeout_in_seconds=1, storage=STORAGE)
def _own_storage(turn: Turn) -> str:
    count = chat.store.get("count", 0) + 1
    chat.store.set("count", count)
    return f"turn {count} sees {len(turn.messages)} messages"


@chat.agent(id="t-transcript", idle_timeout_in_seconds=5)
def _plain(turn: Turn) -> str:
    return f"reply {len(turn.messages)}"


def test_the_python_helpers_read_what_the_agent_saved(stack: LocalStack) -> None:
    talk = Chat(stack, "transcript-helper", task="t-transcript")
    first = talk.turn("one")
    second = talk.turn("two", after=first)
    client = AgentSessions(secret_key=stack.secret_key, base_url=stack.base_url)
    wait_for(lambda: len(client.sessions.transcript(talk.chat_id).messages) == 4)
    whole = client.sessions.transcript(talk.chat_id)
    assert [m["role"] for m in whole.messages] == ["user", "assistant", "user", "assistant"]
    assert whole.cursors.last_out_event_id == str(second.records[-1].seq), (
        "a browser resumes right after the turn-complete the transcript was saved after"
    )
    load = client.sessions.create_load_transcript_action(limit=1)
    newest = load({"chatId": talk.chat_id})
    assert [m["id"] for m in newest.messages] == [whole.messages[-1]["id"]]
    assert newest.next_cursor == whole.messages[-1]["id"]
    assert newest.wire()["nextCursor"] == newest.next_cursor
    older = load({"chat_id": talk.chat_id, "before": newest.next_cursor, "limit": 2})
    assert older.messages == whole.messages[1:3]
    with pytest.raises(NotFoundError):
        client.sessions.transcript("no-such-chat")
    with pytest.raises(BadRequestError):
        client.sessions.transcript(talk.chat_id, limit=0)


def test_an_agent_keeps_its_history_in_its_own_storage(stack: LocalStack) -> None:
    talk = Chat(stack, "own-storage", task="t-own-storage")
    first = talk.turn("one")
    assert text_of(first.records) == "turn 1 sees 1 messages"
    # The save follows the turn-complete the client already read: let it land before the outage.
    wait_for(lambda: len(STORAGE.entries.get("own-storage", [])) == 2)
    # The app's database is down through the second turn's save (every attempt): the run saves
    # those changes again before it suspends, so the continuation run still sees them.
    STORAGE.failures_left = transcript_storage.SAVE_ATTEMPTS
    second = talk.turn("two", after=first)
    assert text_of(second.records) == "turn 2 sees 3 messages"
    run_id = talk.created["runId"]
    wait_for(lambda: talk.runs()[-1]["runId"] != run_id or _expired(run_id), timeout=8)
    third = read_sse(
        stack.base_url,
        talk.chat_id,
        talk.token,
        last_event_id=second.records[-1].seq,
        min_in_seq=talk.send("three"),
    )
    assert text_of(third.records) == "turn 3 sees 5 messages", "a continuation run loads the app's storage"
    assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]
    wait_for(lambda: len(STORAGE.entries.get("own-storage", [])) == 6)
    saves = [cs for ctx, cs in STORAGE.changesets if ctx.chat_id == "own-storage"]
    assert [len(cs.changes) for cs in saves] == [3, 3, 3], "each save: the turn's two puts + the state"
    assert saves[-1].cursors.last_out_event_id == str(third.records[-1].seq)
    assert STORAGE.state["own-storage"] == {"count": 3}
    client = AgentSessions(secret_key=stack.secret_key, base_url=stack.base_url)
    assert client.sessions.transcript("own-storage").messages == [], "nothing went to DynamoDB"
    mine = client.sessions.create_load_transcript_action(STORAGE)({"chatId": "own-storage", "limit": 2})
    assert [m["role"] for m in mine.messages] == ["user", "assistant"] and mine.next_cursor is not None


def _expired(run_id: str) -> bool:
    run = store.get_run(run_id)
    return run is not None and run.status == "EXPIRED"
