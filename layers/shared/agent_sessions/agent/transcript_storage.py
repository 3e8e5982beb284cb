"""The agent's side of a `TranscriptStorage`: which history a run loads and saves.

Without `storage=` an agent keeps its history in DynamoDB (`ChatHistory`, the records the
transcript route reads). With `chat.agent(storage=...)` the app's storage holds it instead: the
run `load`s it once at boot and hands every later change to `save` as a changeset (the runtime
decides what changed; the storage only stores it). `chat.store` travels as the changeset's `state`.

Invariant: a `save` that raises (after `SAVE_ATTEMPTS` tries) leaves the shadow where the last
successful save left it, so the next changeset carries its changes again (each change is
idempotent; replaying converges), and the run tries once more before it exits or suspends
(`flush`), so a run that ends right after a failed save does not leave the storage behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_sessions import store
from agent_sessions.agent.history import ChatHistory
from agent_sessions.agent.messages import UIMessage
from agent_sessions.observability import logger
from agent_sessions.transcript import (
    SaveReason,
    Shadow,
    TranscriptChangeset,
    TranscriptCursors,
    TranscriptEntry,
    TranscriptSaveContext,
    TranscriptScope,
    TranscriptStorage,
    diff_messages,
)

SAVE_ATTEMPTS = 3
RETRY_DELAYS = (0.05, 0.25)
"""Seconds between attempts of one save (a blip in the app's database costs a retry, not a turn)."""


class RunHistory(Protocol):
    """What the runtime needs of a history: load once, save after every turn (True = written)."""

    state: dict[str, Any]
    """The run state (`chat.inject`'s queue, `chat.local` values) as last loaded or saved."""

    def load(self) -> tuple[list[UIMessage], dict[str, Any]]: ...

    def save(
        self,
        messages: list[UIMessage],
        chat_store: dict[str, Any],
        cursor: Any = None,
        out_cursor: int | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> bool: ...

    def flush(self) -> bool:
        """Retry a save that failed; True when something was written."""
        ...


@dataclass
class StorageHistory:
    """A run's view of a chat kept by the app's own `TranscriptStorage`."""

    storage: TranscriptStorage
    scope: TranscriptSaveContext
    reason: SaveReason = "turn-complete"
    _shadow: Shadow = field(default_factory=Shadow)
    _pending: tuple[list[UIMessage], dict[str, Any], Any, int | None] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """The run state: not the app's to store, so kept in DynamoDB (`store.save_run_state`)."""

    def load(self) -> tuple[list[UIMessage], dict[str, Any]]:
        """(messages, chat store) from `storage.load` (whole, no paging). An exception propagates:
        booting without the history would let the next save drop it from a document store."""
        page = self.storage.load(TranscriptScope(self.scope.chat_id, self.scope.client_data))
        chat_store = dict(page.state) if isinstance(page.state, dict) else {}
        self._shadow = Shadow.of(page.messages, chat_store)
        self.state = store.load_run_state(self.scope.session_id)
        return list(page.messages), chat_store

    def save(
        self,
        messages: list[UIMessage],
        chat_store: dict[str, Any],
        cursor: Any = None,
        out_cursor: int | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> bool:
        """Hand what changed since the last successful save to `storage.save`; False when nothing
        changed or the storage raised (logged; the changes ride with the next save)."""
        if state is not None and state != self.state:
            store.save_run_state(self.scope.session_id, state)
            self.state = state
        changes, shadow = diff_messages(self._shadow, messages, chat_store)
        if not changes:
            return False
        changeset = TranscriptChangeset(
            reason=self.reason,
            changes=changes,
            entries=[TranscriptEntry(str(m.get("id")), m) for m in messages],
            state=chat_store,
            cursors=TranscriptCursors(
                last_out_event_id=str(out_cursor) if out_cursor is not None else None,
                last_in_event_id=str(cursor) if cursor is not None else None,
            ),
        )
        for attempt in range(SAVE_ATTEMPTS):
            try:
                self.storage.save(self.scope, changeset)
                break
            except Exception:
                logger.exception("transcript storage save failed", extra={"chat_id": self.scope.chat_id})
                if attempt == SAVE_ATTEMPTS - 1:
                    self._pending = (messages, chat_store, cursor, out_cursor)
                    return False
                time.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
        self._shadow = shadow
        self._pending = None
        return True

    def flush(self) -> bool:
        if self._pending is None:
            return False
        return self.save(*self._pending)


def history_for(
    storage: TranscriptStorage | None,
    *,
    session_id: str,
    chat_id: str,
    run_id: str,
    client_data: dict[str, Any] | None = None,
) -> RunHistory:
    """The app's storage when the agent names one, else the DynamoDB history of the session."""
    if storage is None:
        return ChatHistory(session_id)
    scope = TranscriptSaveContext(
        chat_id=chat_id, client_data=dict(client_data or {}), session_id=session_id, run_id=run_id
    )
    return StorageHistory(storage, scope)
