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
        return self.closed_at is not None


class CreatedSession(Session):
    run_id: str
    public_access_token: str
    is_cached: bool


class SessionPage(_Model):
    data: list[Session]
    next_cursor: str | None = None
    previous_cursor: str | None = None


class SessionRun(_Model):
    run_id: str
    reason: str
    triggered_at: datetime


class StartSessionResult(_Model):
    session_id: str
    run_id: str
    public_access_token: str


class ChatSessionState(_Model):
    """What to persist per chat to resume after a restart (same shape as the TS transport's)."""

    public_access_token: str
    last_event_id: str | None = None
    active_input_seq: int | None = None
    is_streaming: bool = False
    closed: bool = False
    closed_reason: str | None = None


class Record(BaseModel):
    """One log record as the SSE reader delivers it."""

    seq: int
    timestamp: int
    body: str
    headers: list[list[str]] = Field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    @property
    def control(self) -> str | None:
        return self.header("trigger-control")

    @property
    def is_command(self) -> bool:
        return bool(self.headers) and self.headers[0][0] == ""

    @property
    def envelope(self) -> dict[str, Any] | None:
        return parse_envelope(self.body)

    @property
    def chunk(self) -> Any:
        """The UI-message chunk (data parsed when it was appended as a JSON string)."""
        return envelope_data(self.body)
