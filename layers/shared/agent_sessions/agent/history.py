"""The chat's saved history (messages and `chat.store`): what each save writes, and reading it back.

A save writes one record holding only what changed since the last save, as operations on the
message list: `put` (message at a position: changed in place, or appended), `truncate` (a regenerate
or `chat.history` edit dropped the tail), `store` (the whole `chat.store`, when it changed) and `state`
(the run state the runtime keeps beside the conversation: `chat.inject`'s queue and placed messages,
a suspended run's `chat.local` values; whole, when it changed). Reading
folds the records from the head's base in order. When the change starts at position 0 (compaction's
summary, `chat.history.replace`, a hydrate hook's new list, the first save of a chat) the record is a
*rebase*: it holds the whole list and the store, the history starts over at it, and the records
before it are deleted afterwards. So a turn writes its own new and changed messages, whatever the
chat's length; compaction writes the summary and the kept messages.

Invariant: folding the stored records gives exactly the messages and store of the last committed save.
Saves are atomic and idempotent under retry (`store.append_history`); a save that finds another
writer's save committed first raises `store.HistoryConflict` and writes nothing.

Chats saved before this format (one whole-history blob, `store.get_blob(id, "chat")`) are read from
that blob until their first save, which rebases into this format and deletes the blob.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent_sessions import store
from agent_sessions.agent.messages import UIMessage
from agent_sessions.history_records import (
    LEGACY_SNAPSHOT,
    RECORD_VERSION,
    Op,
    PutOp,
    Record,
    StateOp,
    StoreOp,
    TruncateOp,
    fold,
    fold_with_state,
)
from agent_sessions.observability import logger

__all__ = [
    "LEGACY_SNAPSHOT",
    "ChatHistory",
    "Delta",
    "Op",
    "Record",
    "Saved",
    "diff",
    "fold",
    "fold_with_state",
]


@dataclass(frozen=True)
class Saved:
    """What the last save left in storage, in the form a diff needs (keys and content digests)."""

    keys: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    store_digest: str = ""
    state_digest: str = ""

    @classmethod
    def of(
        cls, messages: list[UIMessage], chat_store: dict[str, Any], state: dict[str, Any] | None = None
    ) -> Saved:
        digests = tuple(_digest(m) for m in messages)
        return cls(
            tuple(_key(m, d) for m, d in zip(messages, digests, strict=True)),
            digests,
            _digest(chat_store),
            _digest(state or {}),
        )


@dataclass(frozen=True)
class Delta:
    ops: list[Op]
    rebase: bool


def diff(
    saved: Saved,
    messages: list[UIMessage],
    chat_store: dict[str, Any],
    *,
    fresh: bool,
    state: dict[str, Any] | None = None,
) -> Delta:
    """The operations that turn `saved` into `messages`/`chat_store`/`state`; `fresh` = nothing stored yet.

    Messages match by id along the common prefix; a matched message whose content changed is a `put`
    in place, anything after the prefix is dropped (`truncate`) and re-put.
    """
    state = state or {}
    current = Saved.of(messages, chat_store, state)
    prefix = 0
    for old, new in zip(saved.keys, current.keys, strict=False):
        if old != new:
            break
        prefix += 1
    if fresh or (prefix == 0 and saved.keys):
        ops: list[Op] = [PutOp(op="put", at=i, message=m) for i, m in enumerate(messages)]
        ops.append(StoreOp(op="store", store=chat_store))
        if state:
            ops.append(StateOp(op="state", state=state))
        return Delta(ops, rebase=True)
    ops = [
        PutOp(op="put", at=i, message=messages[i])
        for i in range(prefix)
        if saved.digests[i] != current.digests[i]
    ]
    if len(saved.keys) > prefix:
        ops.append(TruncateOp(op="truncate", length=prefix))
    ops.extend(PutOp(op="put", at=i, message=messages[i]) for i in range(prefix, len(messages)))
    if saved.store_digest != current.store_digest:
        ops.append(StoreOp(op="store", store=chat_store))
    if saved.state_digest != current.state_digest:
        ops.append(StateOp(op="state", state=state))
    return Delta(ops, rebase=False)


@dataclass
class ChatHistory:
    """One runtime's view of a chat's saved history: `load` once at boot, `save` after every turn."""

    session_id: str
    _head: store.HistoryHead | None = None
    _saved: Saved = field(default_factory=Saved)
    _legacy: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    """The run state as last loaded or saved (see the module docstring; `{}` when none)."""

    def load(self) -> tuple[list[UIMessage], dict[str, Any]]:
        """(messages, chat store) as last saved; empty for a new chat."""
        stored = store.read_history(self.session_id)
        self._head = stored.head
        self._legacy = False
        self.state = {}
        if stored.head is not None:
            messages, chat_store, self.state = fold_with_state(json.loads(body) for body in stored.records)
        else:
            messages, chat_store = self._load_legacy()
        self._saved = Saved.of(messages, chat_store, self.state)
        return messages, chat_store

    def _load_legacy(self) -> tuple[list[UIMessage], dict[str, Any]]:
        raw = store.get_blob(self.session_id, LEGACY_SNAPSHOT)
        if not raw:
            return [], {}
        self._legacy = True
        snapshot = json.loads(raw)
        return list(snapshot.get("messages") or []), dict(snapshot.get("store") or {})

    def save(
        self,
        messages: list[UIMessage],
        chat_store: dict[str, Any],
        cursor: Any = None,
        out_cursor: int | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> bool:
        """Write what changed since the last load/save; False when nothing had changed (no write).

        `cursor` is the `.in` cursor, `out_cursor` the `.out` seq of the `turn-complete` this save
        follows (a transcript read hands it to a browser as where to resume). `state` replaces the
        run state (None: keep it as it is).

        Raises store.HistoryConflict when another writer saved first (nothing is written; call
        `load` to adopt what it saved).
        """
        state = self.state if state is None else state
        delta = diff(self._saved, messages, chat_store, fresh=self._head is None, state=state)
        if not delta.ops:
            return False
        token = uuid.uuid4().hex
        record = Record(
            v=RECORD_VERSION,
            token=token,
            savedAt=int(time.time() * 1000),
            lastInEventId=cursor,
            lastOutEventId=out_cursor,
            ops=delta.ops,
        )
        previous = self._head
        self._head = store.append_history(
            self.session_id, previous, _dumps(record), token=token, rebase=delta.rebase
        )
        self._saved = Saved.of(messages, chat_store, state)
        self.state = state
        if delta.rebase and previous is not None:
            self._forget(previous.base, self._head.base)
        if self._legacy:
            self._legacy = False
            self._forget_legacy()
        return True

    def flush(self) -> bool:
        """Nothing to retry: a save here either commits or raises."""
        return False

    def _forget(self, start: int, stop: int) -> None:
        try:
            store.delete_history_records(self.session_id, start, stop)
        except Exception:  # records below the base are never read again; left over, they only cost storage
            logger.exception("deleting superseded history failed", extra={"session_id": self.session_id})

    def _forget_legacy(self) -> None:
        try:
            store.delete_blob(self.session_id, LEGACY_SNAPSHOT)
        except Exception:  # never read again once the history head exists
            logger.exception("deleting the migrated snapshot failed", extra={"session_id": self.session_id})


def _dumps(value: Any) -> str:
    """Compact JSON, non-ASCII as is (sizes are UTF-8 bytes); escaped if it holds a lone surrogate."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), default=str)
    return text


def _digest(value: Any) -> str:
    return hashlib.sha256(_dumps(value).encode()).hexdigest()


def _key(message: UIMessage, digest: str) -> str:
    message_id = message.get("id") if isinstance(message, dict) else None
    return f"id:{message_id}" if message_id is not None else f"digest:{digest}"
