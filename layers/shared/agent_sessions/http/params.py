"""Every value a request carries, parsed once at the edge into a validated model.

One place per kind: the path (`session_key`, `io_name`), the query (`ListParams`, `RecordsParams`),
the headers (`StreamHeaders`, `AppendHeaders`), the body (`json_body` + the models in `models.py`).
Nothing raw reaches `int()`, `fromtimestamp()` or DynamoDB: numbers are ASCII digits within the
range a DynamoDB number and a JSON client both hold, keys fit a DynamoDB key (≤ 2,048 bytes),
dates fit the calendar. Every failure raises `BadRequest` (400 `{error, code}` through
`http.errors`), never a store error or a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agent_sessions.errors import BadRequest, InvalidBody, NotFound
from agent_sessions.http.errors import validation_message
from agent_sessions.ids import MAX_EXTERNAL_ID
from agent_sessions.transcript import MAX_PAGE_LIMIT as MAX_TRANSCRIPT_LIMIT

MAX_SEQ = 2**53 - 1
"""Largest cursor accepted: a JSON-safe integer (the JS client holds seqs as numbers)."""
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last instant a `datetime` holds."""
MAX_KEY_CHARS = MAX_EXTERNAL_ID
"""A session path segment names an externalId (≤ 256 chars) or a friendlyId; longer cannot exist."""
MAX_PART_ID_CHARS = 256
MAX_CURSOR_CHARS = 4096
MAX_FILTER_CHARS = 4096

_DIGITS = re.compile(r"[0-9]+")
_BATCH_ID = re.compile(r"\s*([0-9]+),([0-9]+)(?:,[0-9]+)?\s*")
_LEADING_DIGITS = re.compile(r"\s*([0-9]+)")
_PERIOD = re.compile(r"([0-9]{1,16})([smhdw])")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, code: str) -> M:
    """Validate `data` as `model`; a failure is a 400 with `code` and the first few reasons."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc), code=code) from None


def ascii_int(value: Any, maximum: int) -> int:
    """Decimal ASCII digits (no sign, space, `²` or other Unicode digits) within 0..maximum."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value) and len(value) <= len(str(maximum)):
        number = int(value)
    else:
        raise ValueError("must be a non-negative decimal integer")
    if number > maximum:
        raise ValueError(f"must be at most {maximum}")
    return number


def _seq(value: Any) -> int:
    return ascii_int(value, MAX_SEQ)


def _epoch_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(ascii_int(value, MAX_EPOCH_MS) / 1000, UTC)


Seq = Annotated[int, BeforeValidator(_seq)]
EpochMs = Annotated[datetime, BeforeValidator(_epoch_ms)]


# ---------------------------------------------------------------- path


def session_key(segment: str) -> str:
    """The one decoding of a `{session}` path segment (percent-encoded, as routed).

    Raises BadRequest for an empty, non-UTF-8 or over-long id (no such session can exist).
    """
    try:
        key = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("Session id must be UTF-8", code="invalid_session_id") from None
    if not key:
        raise BadRequest("Missing session id", code="invalid_session_id")
    if len(key) > MAX_KEY_CHARS:
        raise BadRequest(f"Session id must be at most {MAX_KEY_CHARS} characters", code="invalid_session_id")
    return key


def io_name(value: str) -> Literal["in", "out"]:
    if value == "in":
        return "in"
    if value == "out":
        return "out"
    raise NotFound("Unknown channel")


# ---------------------------------------------------------------- query


class _Params(BaseModel):
    # Built on first validation, not at import (issue 10; see models._Body).
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class RecordsParams(_Params):
    afterEventId: Seq | None = None


MAX_MESSAGE_ID_CHARS = 1024
"""A transcript's `before` names a UI message id (the AI SDK's are ~16-32 characters)."""


class TranscriptParams(_Params):
    """`GET /api/v1/sessions/{session}/transcript` query: `limit` 1-1000, `before` a message id."""

    limit: Annotated[int, BeforeValidator(lambda v: ascii_int(v, MAX_TRANSCRIPT_LIMIT))] | None = Field(
        default=None, ge=1
    )
    before: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID_CHARS)] | None = None


def _csv(value: Any) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise ValueError("must be a comma-separated string")
    return tuple(v for v in value.split(",") if v)


Csv = Annotated[tuple[str, ...], BeforeValidator(_csv)]
Filter = Annotated[str, Field(max_length=MAX_FILTER_CHARS)]
Cursor = Annotated[str, Field(min_length=1, max_length=MAX_CURSOR_CHARS)]


class ListParams(_Params):
    """`GET /api/v1/sessions` query: `page[…]`, `filter[…]` (arrays arrive comma-joined)."""

    size: Annotated[int, BeforeValidator(lambda v: ascii_int(v, 100))] = Field(
        default=20, alias="page[size]", ge=1
    )
    after: Cursor | None = Field(default=None, alias="page[after]")
    before: Cursor | None = Field(default=None, alias="page[before]")
    types: Csv = Field(default=(), alias="filter[type]", max_length=100)
    tags: Csv = Field(default=(), alias="filter[tags]", max_length=100)
    task_identifiers: Csv = Field(default=(), alias="filter[taskIdentifier]", max_length=100)
    external_id: Filter | None = Field(default=None, alias="filter[externalId]")
    status: Literal["ACTIVE", "CLOSED", "EXPIRED"] | None = Field(default=None, alias="filter[status]")
    period: str | None = Field(default=None, alias="filter[createdAt][period]")
    created_from: EpochMs | None = Field(default=None, alias="filter[createdAt][from]")
    created_to: EpochMs | None = Field(default=None, alias="filter[createdAt][to]")

    def since(self, now: datetime) -> datetime | None:
        """Lower bound on `createdAt`: the period (clamped to the epoch) wins over `from`."""
        if not self.period:
            return self.created_from
        match = _PERIOD.fullmatch(self.period)
        if match is None:
            raise BadRequest("filter[createdAt][period] must look like 7d", code="invalid_query")
        seconds = int(match.group(1)) * _PERIOD_SECONDS[match.group(2)]
        return datetime.fromtimestamp(max(0.0, now.timestamp() - seconds), UTC)


def list_params(query: dict[str, str]) -> ListParams:
    params = parse(ListParams, query, "invalid_query")
    if params.after and params.before:
        raise BadRequest("page[after] and page[before] are exclusive", code="invalid_query")
    params.since(datetime.now(UTC))  # validates the period's grammar up front
    return params


# ---------------------------------------------------------------- headers


class StreamHeaders(_Params):
    """Headers of `GET …/{io}` (SSE)."""

    timeout_seconds: str | None = Field(default=None, alias="timeout-seconds", max_length=64)
    last_event_id: str | None = Field(default=None, alias="last-event-id", max_length=256)
    peek_settled: str | None = Field(default=None, alias="x-peek-settled")

    def cursor(self) -> int:
        """The seq to resume after (-1 = from the start), from `Last-Event-ID`.

        `"123"` and `"123-4"` resume after 123. The batch form this server sends as `id:` (S2's
        `start,end[,bytes]`, `end` exclusive) resumes after the batch's last record, `end - 1`, so a
        browser `EventSource` that echoes it gets no record twice. Anything else reads from the start.
        Raises BadRequest for a number beyond any seq (`MAX_SEQ`).
        """
        value = self.last_event_id or ""
        batch = _BATCH_ID.fullmatch(value)
        if batch is not None and int(batch.group(2)) > int(batch.group(1)):
            return self._seq(batch.group(2)) - 1
        match = _LEADING_DIGITS.match(value)
        return self._seq(match.group(1)) if match else -1

    @staticmethod
    def _seq(digits: str) -> int:
        try:
            return ascii_int(digits, MAX_SEQ)
        except ValueError:
            raise BadRequest(
                f"Last-Event-ID must be a seq between 0 and {MAX_SEQ}", code="invalid_last_event_id"
            ) from None

    def timeout(self, default: int, cap: int) -> int:
        """`Timeout-Seconds`: an integer 1-600 (400 otherwise), `default` when absent, at most `cap`."""
        value = self.timeout_seconds
        if value is None or value == "":
            return min(default, cap)
        if not re.fullmatch(r"-?[0-9]{1,8}", value.strip()):
            raise BadRequest("Invalid timeout seconds", code="invalid_timeout")
        seconds = int(value)
        if seconds <= 0:
            raise BadRequest("Timeout seconds must be greater than 0", code="invalid_timeout")
        if seconds > 600:
            raise BadRequest("Timeout seconds must be less than 600", code="invalid_timeout")
        return min(seconds, cap)


class AppendHeaders(_Params):
    part_id: str | None = Field(default=None, alias="x-part-id", max_length=MAX_PART_ID_CHARS)


def stream_headers(headers: Any) -> StreamHeaders:
    return parse(StreamHeaders, dict(headers), "invalid_header")


def append_headers(headers: Any) -> AppendHeaders:
    parsed = parse(AppendHeaders, dict(headers), "invalid_part_id")
    return parsed if parsed.part_id else AppendHeaders()


# ---------------------------------------------------------------- body


def body_text(body: str | None, base64_encoded: bool) -> str:
    """The request body as text: base64 undone (API Gateway's binary form), UTF-8 enforced."""
    if not body:
        return ""
    if not base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidBody("Request body must be UTF-8 text") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(raw: str, *, required: bool = True) -> Any:
    """Strict JSON (RFC 8259): `NaN`/`Infinity` and numbers no float can hold are refused."""
    if raw.strip() == "":
        if required:
            raise InvalidBody("Request body is empty")
        return {}
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise InvalidBody("Invalid JSON") from None
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value
