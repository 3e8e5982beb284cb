"""Session use cases: create (idempotent), resolve either id form, update, close, list, append."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from agent_sessions import agents, auth, live_runs, rate_limits, runs, store, streams
from agent_sessions.config import get_settings
from agent_sessions.errors import (
    BadRequest,
    ConcurrencyError,
    Conflict,
    LiveRunsLimited,
    NotFound,
    SessionClosed,
    Unprocessable,
)
from agent_sessions.ids import new_session_id
from agent_sessions.keys import Environment
from agent_sessions.models import CloseSessionBody, CreateSessionBody, UpdateSessionBody

logger = logging.getLogger(__name__)

STATUSES = ("ACTIVE", "CLOSED", "EXPIRED")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def addressing_key(session: store.SessionModel) -> str:
    return session.external_id or session.session_id or ""


def resource_ids(session: store.SessionModel, url_key: str) -> set[str]:
    """Any of these in a scope authorizes the session, so tokens minted on either form work."""
    return {url_key, session.session_id or "", *([session.external_id] if session.external_id else [])}


def is_expired(session: store.SessionModel) -> bool:
    return session.expires_at is not None and session.expires_at <= store.now()


def status_of(session: store.SessionModel) -> str:
    if session.closed_at is not None:
        return "CLOSED"
    return "EXPIRED" if is_expired(session) else "ACTIVE"


def closed_reason(session: store.SessionModel) -> str | None:
    """None while the session accepts input; the reason ("" if none was given) once it does not."""
    if session.closed_at is not None:
        return session.closed_reason or ""
    if is_expired(session):
        return "expired"
    return None


def to_item(session: store.SessionModel) -> dict[str, Any]:
    """`SessionItem`: nullable keys are always present, as the client's schema requires."""
    return {
        "id": session.session_id,
        "externalId": session.external_id,
        "type": session.type,
        "taskIdentifier": session.task_identifier,
        "triggerConfig": session.trigger_config,
        "currentRunId": session.current_run_id,
        "tags": list(session.tags or []),
        "metadata": session.metadata,
        "closedAt": iso(session.closed_at),
        "closedReason": session.closed_reason,
        "expiresAt": iso(session.expires_at),
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
    }


def resolve(env_id: str, key: str) -> store.SessionModel:
    session = store.get_session_item(store.session_pk(env_id, key))
    if session is None:
        raise NotFound("Session not found")
    return session


@dataclass(frozen=True)
class Created:
    session: store.SessionModel
    run_id: str
    public_access_token: str
    is_cached: bool

    def body(self) -> dict[str, Any]:
        return {
            **to_item(self.session),
            "runId": self.run_id,
            "publicAccessToken": self.public_access_token,
            "isCached": self.is_cached,
        }


def create(env: Environment, body: CreateSessionBody) -> Created:
    """Create, or return the session already keyed by (environment, externalId) unchanged.

    A create never rewrites an existing session (the reference refreshes `triggerConfig`; here a
    browser reaching create through a start-session action could otherwise repoint another chat's
    runs). Raises Conflict (409 `external_id_taken`) when the session belongs to another task, and
    SessionClosed (409) when it is closed or expired, and Unprocessable (422 `unknown_task`) when
    the deployment knows its task ids and this is not one.
    """
    known = agents.known_task_ids()
    if known is not None and body.taskIdentifier not in known:
        raise Unprocessable(
            f'No agent is registered for task "{body.taskIdentifier}"',
            code="unknown_task",
            knownTasks=sorted(known),
        )
    session_id = new_session_id()
    key = body.externalId or session_id
    pk = store.session_pk(env.id, key)
    at = store.now()
    item = store.SessionModel(
        pk,
        kind="session",
        session_id=session_id,
        env_id=env.id,
        external_id=body.externalId,
        type=body.type,
        task_identifier=body.taskIdentifier,
        trigger_config=body.triggerConfig.stored(),
        tags=body.tags or [],
        metadata=body.metadata,
        current_run_version=0,
        in_next_seq=0,
        expires_at=body.expiresAt.astimezone(UTC) if body.expiresAt else None,
        created_at=at,
        updated_at=at,
        list_env=env.id,
        list_key=f"{at.isoformat()}#{session_id}",
    )
    alias = store.session_pk(env.id, session_id) if body.externalId else None
    _admit_create(env.id, pk)
    try:
        is_new = store.insert_session(item, alias)
    except store.TransactionCancelled as exc:
        raise ConcurrencyError("Too much contention creating the session; retry") from exc
    if not is_new:
        existing = store.get_session_item(pk)
        if existing is None:
            raise NotFound("Session not found")
        if existing.task_identifier != body.taskIdentifier:
            raise Conflict(
                "externalId is taken by a session of another task; use a different externalId",
                code="external_id_taken",
            )
        if closed_reason(existing) is not None:
            raise SessionClosed(
                "Session is closed; use a different externalId to start a new session",
                closedReason=closed_reason(existing) or None,
            )
        item = existing
    ensured = runs.ensure_live_run(item, "initial" if is_new else "continuation")
    session = ensured.session
    token = auth.session_token(env, addressing_key(session), get_settings().session_token_ttl_seconds)
    return Created(session, ensured.run_id, token, is_cached=not is_new)


def _admit_create(env_id: str, pk: str) -> None:
    """The live-run cap, before a create writes anything: a create starts a run unless it returns
    an existing session whose run is alive, so only that case passes over the cap."""
    try:
        live_runs.admit(env_id, streams.now_ms())
    except LiveRunsLimited:
        existing = store.get_session_item(pk)
        if existing is None or existing.current_run_id is None:
            raise
        if not runs.is_alive(store.get_run(existing.current_run_id)):
            raise


def _live_run_check(
    session: store.SessionModel, part_id: str | None
) -> tuple[tuple[str, float] | None, Callable[[], None] | None]:
    """What an `.in` append needs for the live-run cap: the current run to check alive inside the
    append transaction (no request of its own), and the cap check to make when it is not, i.e. when
    this append will start a run. A session without a run is checked before the append."""
    env_id = session.env_id or ""
    if live_runs.cap_of(env_id) <= 0:
        return None, None

    def admit() -> None:
        try:
            live_runs.admit(env_id, streams.now_ms())
        except LiveRunsLimited:
            # A resend of an append that already landed is not a new request: answer it as one.
            if part_id is None or store.get_part_seq(session.session_id or "", "in", part_id) is None:
                raise

    if session.current_run_id is None:
        admit()
        return None, None
    leeway = get_settings().run_lease_leeway_seconds
    return (session.current_run_id, store.epoch() - leeway), admit


def update(session: store.SessionModel, body: UpdateSessionBody) -> store.SessionModel:
    fields = body.model_fields_set
    if "externalId" in fields and body.externalId != session.external_id:
        raise Unprocessable("externalId is read-only after create", code="external_id_immutable")
    actions = []
    if "tags" in fields:
        # PynamoDB types a ListAttribute value as a list of attributes, not of str.
        actions.append(store.SessionModel.tags.set(cast(Any, body.tags or [])))
    if "metadata" in fields:
        actions.append(
            store.SessionModel.metadata.set(body.metadata)
            if body.metadata is not None
            else store.SessionModel.metadata.remove()
        )
    if not actions:
        return session
    return store.update_session(session.pk, actions)


def close(session: store.SessionModel, body: CloseSessionBody) -> store.SessionModel:
    """Write-once close.

    An external close (no `callingRunId`) commits the `.in` wake-up record in the same transaction
    that closes the session, then tells connected readers through a `session-closed` record.
    """
    actions = [store.SessionModel.closed_at.set(store.now())]
    if body.reason:
        actions.append(store.SessionModel.closed_reason.set(body.reason))
    if body.callingRunId is not None:
        if session.closed_at is not None:
            return session
        try:
            return store.update_session(
                session.pk, actions, condition=store.SessionModel.closed_at.does_not_exist()
            )
        except store.ConditionFailed:
            return store.get_session_item(session.pk) or session
    wake = json.dumps({"kind": "message", "payload": {"chatId": addressing_key(session), "trigger": "close"}})
    try:
        result = streams.append_in(
            session.pk,
            session.session_id or "",
            _head(session),
            wake,
            None,
            reload=lambda: _reload_head(session.pk),
            session_actions=actions,
        )
    except SessionClosed:
        return store.get_session_item(session.pk) or session
    streams.append_records(
        session.session_id or "",
        "out",
        [("", streams.control_headers("session-closed", session_closed_reason=body.reason))],
    )
    closed = store.get_session_item(session.pk) or session
    try:
        runs.wake(closed, result.seq)
    except Exception:
        logger.warning("waking the run after close failed", extra={"session_id": session.session_id})
    return closed


def _head(session: store.SessionModel) -> streams.InHead:
    return streams.InHead(
        int(session.in_next_seq or 0), closed_reason(session), store.rate_window_of(session)
    )


def _reload_head(pk: str) -> streams.InHead:
    fresh = store.get_session_item(pk)
    if fresh is None:
        raise NotFound("Session not found")
    return _head(fresh)


def append(session: store.SessionModel, io: str, raw_body: str, part_id: str | None) -> streams.AppendResult:
    """Append to `.in` (then make sure a run will read it) or `.out`.

    `.in` appends count against the environment's per-session `append_rate` limit (see
    rate_limits): over it, RateLimited (429) and nothing is stored or signalled. An `.in` append
    that would start a run (the session's run ended) is refused by the environment's live-run cap
    (`live_runs`, 429 `live_runs_limit`) before anything is stored.
    """
    reason = closed_reason(session)
    if reason is not None:
        raise SessionClosed("Cannot append to a closed session", ok=False, closedReason=reason or None)
    if io == "out":
        return streams.append_out_http(session.session_id or "", raw_body, part_id)

    limit = rate_limits.limit_of(session.env_id or "", rate_limits.Limit.APPEND)
    live_run, on_run_ended = _live_run_check(session, part_id)
    result = streams.append_in(
        session.pk,
        session.session_id or "",
        _head(session),
        raw_body,
        part_id,
        reload=lambda: _reload_head(session.pk),
        rate_limit=limit if limit > 0 else None,
        live_run=live_run,
        on_run_ended=on_run_ended,
    )
    try:
        # Every step is a compare-and-swap or detects its own landed write, so a resend is safe;
        # a signal lost here leaves a suspended run asleep until the next append.
        store.retry_transient(lambda: runs.signal_input(session, result.seq), attempts=3)
    except Exception:
        # The record is durable; the next append retries the probe.
        logger.exception("ensuring a live run failed", extra={"session_id": session.session_id})
    return result


# ---------------------------------------------------------------- listing


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


_CURSOR_KEYS = {"pk", "list_env", "list_key"}


def _decode_cursor(value: str, env_id: str) -> dict[str, Any]:
    """A cursor this environment's listing issued, or BadRequest: never a raw key to DynamoDB."""
    invalid = BadRequest("Invalid page cursor", code="invalid_cursor")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        raise invalid from None
    if not isinstance(decoded, dict) or set(decoded) != _CURSOR_KEYS:
        raise invalid
    strings = {k: v.get("S") if isinstance(v, dict) and set(v) == {"S"} else None for k, v in decoded.items()}
    if not all(isinstance(s, str) and 0 < len(s.encode()) <= 1024 for s in strings.values()):
        raise invalid
    if strings["list_env"] != env_id or not str(strings["pk"]).startswith(f"{env_id}#"):
        raise invalid
    return decoded


def _cursor_of(item: store.SessionModel) -> str:
    return _encode_cursor(
        {"pk": {"S": item.pk}, "list_env": {"S": item.list_env}, "list_key": {"S": item.list_key}}
    )


@dataclass(frozen=True)
class ListQuery:
    size: int = 20
    after: str | None = None
    before: str | None = None
    types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    task_identifiers: tuple[str, ...] = ()
    external_id: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def matches(self, s: store.SessionModel) -> bool:
        return (
            (not self.types or s.type in self.types)
            and (not self.tags or bool(set(self.tags) & set(s.tags or [])))
            and (not self.task_identifiers or s.task_identifier in self.task_identifiers)
            and (self.external_id is None or s.external_id == self.external_id)
            and (self.status is None or status_of(s) == self.status)
            and (
                self.created_from is None or (s.created_at is not None and s.created_at >= self.created_from)
            )
            and (self.created_to is None or (s.created_at is not None and s.created_at <= self.created_to))
        )


def list_sessions(env_id: str, query: ListQuery) -> dict[str, Any]:
    """Newest first. `page[after]` walks toward older sessions, `page[before]` back toward newer.

    Filters are applied to what the index returns, so the work per request is bounded instead:
    at most `list_max_examined` sessions read, in Query calls of at most 100 items (more only where
    DynamoDB's 1 MB page limit cuts one short). When that budget runs out before the page is full,
    the page is returned short (even empty) with a cursor at the point the scan stopped, so a
    filter that matches nothing costs a bounded amount per request, never a walk of the whole
    environment.
    """
    backwards = query.before is not None
    start: dict[str, Any] | None = (
        _decode_cursor(query.before or query.after or "", env_id) if (query.before or query.after) else None
    )
    budget = get_settings().list_max_examined
    found: list[store.SessionModel] = []
    full = False
    stopped_at: dict[str, Any] | None = None
    """Where the scan stopped when the work budget ran out first."""
    while True:
        items, last_key = store.query_sessions(
            env_id,
            newest_first=not backwards,
            start_after=start,
            limit=min(budget, max(query.size * 2, 100)),
        )
        budget -= len(items)
        for item in items:
            if not query.matches(item):
                continue
            if len(found) == query.size:
                full = True
                break
            found.append(item)
        if full or last_key is None:
            break
        if budget <= 0:
            stopped_at = last_key
            break
        start = last_key
    if backwards:
        found.reverse()
    onward = _encode_cursor(stopped_at) if stopped_at is not None else None
    if onward is None and full and found:
        onward = _cursor_of(found[0] if backwards else found[-1])
    pagination: dict[str, str] = {}
    if backwards:
        if onward is not None:
            pagination["previous"] = onward
        if found:
            pagination["next"] = _cursor_of(found[-1])
    else:
        if onward is not None:
            pagination["next"] = onward
        if found and query.after is not None:
            pagination["previous"] = _cursor_of(found[0])
    return {"data": [to_item(s) for s in found], "pagination": pagination}
