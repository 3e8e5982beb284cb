"""Transcripts: a chat's history as the UI messages a person sees, read in pages, kept by a storage.

The shapes of the reference's `TranscriptStorage` (`@trigger.dev/sdk/ai`, 4.8.3), in Python: a
storage `load`s the conversation (newest last, paged by `limit` and a `before` message id) and
`save`s each change the runtime hands it, as ordered `changes` (`put` / `remove` / `truncateAfter`
/ `state`) and as the whole `transcript` after them, so a row store applies the changes and a
document store writes the transcript. The agent runtime drives it (`chat.agent(storage=...)`); the
server reads the default storage (the DynamoDB history) at `GET /api/v1/sessions/{session}/transcript`.

Pure module (no boto3, no PynamoDB): the client's `create_load_transcript_action` and the agent
runtime share it. Invariant: `reduce_changes(old, diff_messages(old_messages, new).changes)` gives
exactly `new`, in order, for any two lists, and applying a changeset twice gives the same result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict

UIMessage = dict[str, Any]
"""An AI SDK `UIMessage`: `{id, role, parts, metadata?}`."""

MAX_PAGE_LIMIT = 1000
"""Largest `limit` the transcript route accepts (the reference's bound)."""


class PutChange(TypedDict):
    """Upsert by `message["id"]`: an unknown id appends, a known id is replaced in place.
    `final` is False for a partial answer (a stopped or failed turn)."""

    op: Literal["put"]
    message: UIMessage
    final: bool


class RemoveChange(TypedDict):
    op: Literal["remove"]
    id: str


class TruncateAfterChange(TypedDict):
    """Drop every message after `afterId` (a regenerate or a history edit); no-op for an unknown id."""

    op: Literal["truncateAfter"]
    afterId: str


class StateChange(TypedDict):
    """Replace the opaque state (this SDK keeps `chat.store` in it); None clears it."""

    op: Literal["state"]
    value: Any


TranscriptChange = PutChange | RemoveChange | TruncateAfterChange | StateChange


@dataclass(frozen=True)
class TranscriptEntry:
    id: str
    message: UIMessage
    final: bool = True


@dataclass(frozen=True)
class TranscriptCursors:
    """Stream positions, as decimal strings: the `.out` seq of the `turn-complete` the transcript was
    saved after (a browser resumes just past it) and the `.in` cursor of that turn."""

    last_out_event_id: str | None = None
    last_in_event_id: str | None = None

    def wire(self) -> dict[str, str]:
        """`{lastOutEventId?, lastInEventId?}` with absent fields omitted (the client's schema)."""
        out: dict[str, str] = {}
        if self.last_out_event_id is not None:
            out["lastOutEventId"] = self.last_out_event_id
        if self.last_in_event_id is not None:
            out["lastInEventId"] = self.last_in_event_id
        return out


@dataclass(frozen=True)
class TranscriptScope:
    """Whose conversation: the chat id and the client data the app passed (use it for tenancy)."""

    chat_id: str
    client_data: dict[str, Any] = field(default_factory=dict)


SaveReason = Literal["turn-complete", "turn-error", "action", "compaction", "recovery"]


@dataclass(frozen=True)
class TranscriptSaveContext(TranscriptScope):
    """Where a save happened: the scope plus the session, the run and the turn (0 in each run)."""

    session_id: str = ""
    run_id: str = ""
    turn: int = 0


@dataclass(frozen=True)
class TranscriptChangeset:
    reason: SaveReason
    changes: list[TranscriptChange]
    entries: list[TranscriptEntry]
    """The whole conversation after `changes`, for a storage that writes one document."""
    state: Any = None
    cursors: TranscriptCursors = field(default_factory=TranscriptCursors)


@dataclass(frozen=True)
class TranscriptPage:
    """A page of a conversation, oldest first. `next_cursor` (the id of the page's first message) is
    set when earlier messages exist: pass it as `before` for the page before this one. A paged read
    carries `state=None`, as the reference's."""

    messages: list[UIMessage]
    state: Any = None
    cursors: TranscriptCursors = field(default_factory=TranscriptCursors)
    next_cursor: str | None = None

    def wire(self) -> dict[str, Any]:
        """The route's body: `{messages, state: null, cursors, nextCursor?}` (`nextCursor` omitted
        rather than null, as the 4.8.3 client's schema wants)."""
        body: dict[str, Any] = {"messages": self.messages, "state": None, "cursors": self.cursors.wire()}
        if self.next_cursor is not None:
            body["nextCursor"] = self.next_cursor
        return body


class TranscriptStorage(Protocol):
    """Where a chat's transcript is kept (the reference's `TranscriptStorage`).

    The runtime calls `load` once when a run boots (no paging) and `save` after every turn, failed
    turn and history-changing action; `create_load_transcript_action` calls `load` with paging to
    render history. A `save` that raises is logged, the turn carries on, and its changes fold into
    the next changeset (every change is idempotent, so a replayed changeset converges).
    """

    def load(
        self, scope: TranscriptScope, *, limit: int | None = None, before: str | None = None
    ) -> TranscriptPage:
        """The conversation of `scope.chat_id`, oldest first: all of it, or the newest `limit`
        messages before message id `before` with `next_cursor` set when older ones exist (`page`
        does the slicing). `state` is what the last save's changeset carried. Mirrors the TS
        `TranscriptStorage.load`. An exception fails the run's attempt (it is retried)."""
        ...

    def save(self, ctx: TranscriptSaveContext, changeset: TranscriptChangeset) -> None:
        """Store one changeset: apply `changeset.changes` (a row store) or write `changeset.entries`
        and `changeset.state` whole (a document store). Must be idempotent: a changeset may come
        again after a failure. Mirrors the TS `TranscriptStorage.save`; an exception is logged and
        the changes are handed over again later."""
        ...


# ---------------------------------------------------------------- pure helpers


def page(
    messages: Sequence[UIMessage], *, limit: int | None = None, before: str | None = None
) -> tuple[list[UIMessage], str | None]:
    """(the page, next cursor): the messages strictly before id `before` (all when None; none when
    no message has that id), the last `limit` of them, and the first one's id when more remain."""
    window = list(messages)
    if before is not None:
        at = next((i for i, m in enumerate(window) if _id(m) == before), None)
        if at is None:
            return [], None
        window = window[:at]
    if limit is not None and 0 < limit < len(window):
        window = window[len(window) - limit :]
        return window, _id(window[0])
    return window, None


def reduce_changes(
    entries: Sequence[TranscriptEntry], state: Any, changes: Sequence[TranscriptChange]
) -> tuple[list[TranscriptEntry], Any]:
    """Apply `changes` in order (pure; replaying them converges on the same result)."""
    out = list(entries)
    for change in changes:
        if change["op"] == "put":
            entry = TranscriptEntry(str(change["message"].get("id")), change["message"], change["final"])
            at = next((i for i, e in enumerate(out) if e.id == entry.id), None)
            if at is None:
                out.append(entry)
            else:
                out[at] = entry
        elif change["op"] == "remove":
            out = [e for e in out if e.id != change["id"]]
        elif change["op"] == "truncateAfter":
            at = next((i for i, e in enumerate(out) if e.id == change["afterId"]), None)
            if at is not None:
                del out[at + 1 :]
        else:
            state = change["value"]
    return out, state


@dataclass(frozen=True)
class Shadow:
    """What the last successful save stored: ids, content fingerprints, which were partial, state."""

    ids: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    partial: frozenset[str] = frozenset()
    state: str = "null"

    @classmethod
    def of(cls, messages: Sequence[UIMessage], state: Any, partial: frozenset[str] = frozenset()) -> Shadow:
        return cls(
            tuple(_id(m) for m in messages),
            tuple(_fingerprint(m) for m in messages),
            partial,
            _fingerprint(state),
        )


def diff_messages(
    shadow: Shadow, messages: Sequence[UIMessage], state: Any, *, partial: frozenset[str] = frozenset()
) -> tuple[list[TranscriptChange], Shadow]:
    """The changes that take what `shadow` describes to `messages` / `state`, and the new shadow.

    Along the common prefix (by id) a changed message is a `put` in place; past it, what was stored
    is dropped (one `truncateAfter`, or a `remove` each when nothing is shared) and the rest is put.
    """
    new = Shadow.of(messages, state, partial)
    changes: list[TranscriptChange] = []

    def put(i: int) -> None:
        changes.append(PutChange(op="put", message=messages[i], final=new.ids[i] not in partial))

    prefix = 0
    for old_id, new_id in zip(shadow.ids, new.ids, strict=False):
        if old_id != new_id:
            break
        prefix += 1
    for i in range(prefix):
        changed = shadow.fingerprints[i] != new.fingerprints[i]
        if changed or ((new.ids[i] in shadow.partial) != (new.ids[i] in partial)):
            put(i)
    if len(shadow.ids) > prefix:
        if prefix:
            changes.append(TruncateAfterChange(op="truncateAfter", afterId=new.ids[prefix - 1]))
        else:
            changes.extend(RemoveChange(op="remove", id=old) for old in shadow.ids)
    for i in range(prefix, len(messages)):
        put(i)
    if shadow.state != new.state:
        changes.append(StateChange(op="state", value=state))
    return changes, new


def _id(message: UIMessage) -> str:
    return str(message.get("id"))


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
