"""Typed results. Field names are Pythonic; the wire's camelCase is accepted through aliases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from agent_sessions.envelopes import envelope_data, parse_envelope


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Session(_Model):
    """A session as `GET /api/v1/sessions/{id}` returns it (the TS SDK's `sessions.retrieve` result).

    `id` is `session_…`; `external_id` is the chat id; `current_run_id` the live (or last) run;
    `closed_at` / `expires_at` / `created_at` / `updated_at` are timezone-aware datetimes (UTC).
    """

    id: str
    external_id: str | None = None
    type: str
    task_identifier: str
    trigger_config: dict[str, Any] | None = None
    current_run_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None
    expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_closed(self) -> bool:
        """True once the session was closed: appends then fail with `SessionClosedError`."""
        return self.closed_at is not None


class CreatedSession(Session):
    """`sessions.start`'s result: the session plus its live run's id, a public access token scoped to
    this session (read + write), and `is_cached` (True when the external id already existed)."""

    run_id: str
    public_access_token: str
    is_cached: bool


class SessionPage(_Model):
    """One page of `sessions.list`: `data`, and the cursors to pass as `after=` / `before=` (None at
    either end)."""

    data: list[Session]
    next_cursor: str | None = None
    previous_cursor: str | None = None


class SessionRun(_Model):
    """One entry of a session's run audit: `run_id`, `reason` (`initial`, `continuation`, `upgrade`,
    `manual`) and `triggered_at` (UTC datetime)."""

    run_id: str
    reason: str
    triggered_at: datetime


class StartSessionResult(_Model):
    """What a `start_session` callback returns to a transport (the TS `startSession` result):
    `session_id` (`session_…`), `run_id` and the `public_access_token` the transport uses."""

    session_id: str
    run_id: str
    public_access_token: str


class TriggeredEvent(_Model):
    """A run was triggered for the chat (`AgentChat(on_triggered=...)`, the TS `onTriggered` event).

    `reason`: `initial` (session start), `continuation` (a message after the previous run ended,
    or recovery after it died), `upgrade` (`chat.request_upgrade`), or what `end-and-continue` named.
    """

    chat_id: str
    run_id: str
    reason: str


class ChatSessionState(_Model):
    """What to persist per chat to resume after a restart: the TS transport's `ChatSessionState`
    (`getSession` / `sessions` option), in snake case. `last_event_id` is the `.out` seq read up to
    (a string, as on the wire); `active_input_seq` the `.in` seq of the message being answered;
    `is_streaming` True while a turn is unread; `closed` / `closed_reason` once the session closed.
    Dump it with `.model_dump()` and pass it back as `sessions={chat_id: state}` or `session=`."""

    public_access_token: str
    last_event_id: str | None = None
    active_input_seq: int | None = None
    is_streaming: bool = False
    closed: bool = False
    closed_reason: str | None = None


class Record(BaseModel):
    """One `.out` / `.in` log record as the SSE reader delivers it: `seq` (its `seq_num`, the resume
    cursor), `timestamp` (epoch milliseconds), `body` (the JSON envelope, empty for control records)
    and `headers` (`[name, value]` pairs, as on the wire)."""

    seq: int
    timestamp: int
    body: str
    headers: list[list[str]] = Field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of header `name` (e.g. `session-in-event-id`), or None."""
        return next((value for key, value in self.headers if key == name), None)

    @property
    def control(self) -> str | None:
        """The control record's kind (`turn-complete`, `upgrade-required`, `session-closed`), or None
        for a data record."""
        return self.header("trigger-control")

    @property
    def is_command(self) -> bool:
        """True for a stream command record (first header name empty), which carries no chunk."""
        return bool(self.headers) and self.headers[0][0] == ""

    @property
    def envelope(self) -> dict[str, Any] | None:
        """The body's `{data, id}` envelope as appended; None for control records (empty body)."""
        return parse_envelope(self.body)

    @property
    def chunk(self) -> Any:
        """The UI-message chunk (data parsed when it was appended as a JSON string)."""
        return envelope_data(self.body)
