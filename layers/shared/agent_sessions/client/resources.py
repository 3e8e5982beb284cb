"""Server helpers (secret-key side): `client.auth` and `client.sessions`."""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agent_sessions import tokens
from agent_sessions.client._http import HttpCore, session_path
from agent_sessions.client.types import CreatedSession, Session, SessionPage, SessionRun, StartSessionResult
from agent_sessions.transcript import TranscriptCursors, TranscriptPage, TranscriptScope, TranscriptStorage


class Auth:
    """`client.auth`: public access tokens signed on your side with the secret key (the TS SDK's
    `auth.*`). Thread-safe."""

    def __init__(self, core: HttpCore, secret_key: str) -> None:
        self._core = core
        self._secret_key = secret_key
        self._claims: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def claims(self) -> dict[str, Any]:
        """The environment's claims (`POST /api/v1/auth/jwt/claims`: `sub`, `pub`, ...), fetched once per
        client and cached. Raises `AuthenticationError` for a refused key, `APIConnectionError`."""
        with self._lock:
            if self._claims is None:
                self._claims = dict(
                    self._core.request("POST", "/api/v1/auth/jwt/claims", token=self._secret_key)
                )
            return self._claims

    def create_public_token(
        self,
        *,
        scopes: Mapping[str, Any] | list[str],
        expiration_time: str | int | None = None,
        one_time_use: bool = False,
        realtime: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign a public access token as the TS SDK's `auth.createPublicToken` does: the server's claims
        plus `scopes`, HS256 with the secret key, so no request is made after the first `claims()`.

        `scopes`: `{"read": {"sessions": "chat-1"}, "write": {"sessions": ["a", "b"]}}` or flat strings
        (`"read:sessions:chat-1"`). `expiration_time`: a duration (`"15m"`, `"1h"`, `"2 days"`) or an
        absolute epoch in seconds; default 15 minutes, at most 30 days. `one_time_use` adds `otu`.
        Returns the JWT string. Raises `ValueError` for a bad duration, a past or too distant expiry,
        or a blank id in a scope; what `claims()` raises on the first call."""
        scope_list = list(scopes) if isinstance(scopes, list) else tokens.flatten_scopes(scopes)
        now = int(time.time())
        exp = tokens.expiry_from(expiration_time, now)
        return tokens.sign(
            self._secret_key,
            self.claims(),
            scope_list,
            exp=exp,
            iat=now,
            one_time_use=one_time_use,
            realtime=realtime,
        )


StartSessionAction = Callable[[Mapping[str, Any]], StartSessionResult]
LoadTranscriptAction = Callable[[Mapping[str, Any]], TranscriptPage]


class Sessions:
    """`client.sessions`: create, read, update, list and close sessions with the secret key (the TS
    SDK's `sessions.*`). Every method raises `APIStatusError` subclasses for error statuses
    (`AuthenticationError` 401, `NotFoundError` 404, ...) and `APIConnectionError`."""

    def __init__(self, core: HttpCore, secret_key: str, auth: Auth) -> None:
        self._core = core
        self._key = secret_key
        self._auth = auth

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._core.request(method, path, token=self._key, **kwargs)

    def start(
        self,
        *,
        task_identifier: str,
        trigger_config: Mapping[str, Any],
        external_id: str | None = None,
        type: str = "chat.agent",
        tags: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> CreatedSession:
        """Create a session and its first run atomically (`POST /api/v1/sessions`; the TS SDK's
        `sessions.start`). Idempotent on `external_id`: starting an existing one returns it
        (`is_cached=True`) and makes sure its run is live.

        `trigger_config`: `basePayload` (the run's payload), `idleTimeoutInSeconds`, `maxAttempts`, `tags`
        (at most 10), ...; the server bounds the costly ones. `expires_at` is an aware datetime.
        Raises `BadRequestError` (e.g. 422 `unknown_task`), `SessionClosedError` for a closed
        external id."""
        body: dict[str, Any] = {
            "type": type,
            "taskIdentifier": task_identifier,
            "triggerConfig": dict(trigger_config),
        }
        if external_id is not None:
            body["externalId"] = external_id
        if tags is not None:
            body["tags"] = tags
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if expires_at is not None:
            body["expiresAt"] = expires_at.isoformat()
        return CreatedSession.model_validate(self._call("POST", "/api/v1/sessions", json=body))

    def retrieve(self, session: str) -> Session:
        """One session by external id (chat id) or `session_…` id (the TS SDK's `sessions.retrieve`).
        Raises `NotFoundError`."""
        return Session.model_validate(self._call("GET", f"/api/v1/sessions/{session_path(session)}"))

    def update(
        self, session: str, *, tags: list[str] | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Session:
        """Replace the session's `tags` and/or `metadata` (a JSON object); None leaves a field as is
        (the TS SDK's `sessions.update`). Returns the updated session. Raises `NotFoundError`,
        `BadRequestError`."""
        body: dict[str, Any] = {}
        if tags is not None:
            body["tags"] = tags
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return Session.model_validate(
            self._call("PATCH", f"/api/v1/sessions/{session_path(session)}", json=body)
        )

    def list(
        self,
        *,
        limit: int = 20,
        after: str | None = None,
        before: str | None = None,
        type: str | None = None,
        tags: list[str] | None = None,
        task_identifier: str | None = None,
        external_id: str | None = None,
        status: str | None = None,
    ) -> SessionPage:
        """One page of sessions, newest first (the TS SDK's `sessions.list`). `limit`: page size
        (1..100); `after` / `before`: cursors from a previous page; the other arguments filter
        (`status`: `ACTIVE`, `CLOSED` or `EXPIRED`; `tags`: sessions carrying any of them)."""
        params = {"page[size]": str(limit)}
        for name, value in (
            ("page[after]", after),
            ("page[before]", before),
            ("filter[type]", type),
            ("filter[taskIdentifier]", task_identifier),
            ("filter[externalId]", external_id),
            ("filter[status]", status),
            ("filter[tags]", ",".join(tags) if tags else None),
        ):
            if value:
                params[name] = value
        raw = self._call("GET", "/api/v1/sessions", params=params)
        pagination = raw.get("pagination") or {}
        return SessionPage(
            data=[Session.model_validate(s) for s in raw["data"]],
            next_cursor=pagination.get("next"),
            previous_cursor=pagination.get("previous"),
        )

    def close(self, session: str, *, reason: str | None = None) -> Session:
        """Close the session for good (the TS SDK's `sessions.close`): its run is told, `.out` gets
        `session-closed`, later appends fail with `SessionClosedError`. Idempotent: closing a closed
        session returns it. `reason` (at most 256 characters) reaches readers. Raises `NotFoundError`."""
        body = {"reason": reason} if reason else {}
        return Session.model_validate(
            self._call("POST", f"/api/v1/sessions/{session_path(session)}/close", json=body)
        )

    def runs(self, session: str) -> builtins.list[SessionRun]:
        """The session's run audit, oldest first: every run's id, `reason` and `triggered_at`.
        Raises `NotFoundError`."""
        raw = self._call("GET", f"/api/v1/sessions/{session_path(session)}/runs")
        return [SessionRun.model_validate(r) for r in raw["data"]]

    def transcript(
        self, session: str, *, limit: int | None = None, before: str | None = None
    ) -> TranscriptPage:
        """A page of the chat's saved history, oldest first (`GET …/transcript`, secret key only;
        the TypeScript SDK's `apiClient.getSessionTranscript`).

        `limit` (1-1000) keeps the newest messages; `before` (a message id, a previous page's
        `next_cursor`) reads the page before it. `cursors.last_out_event_id` is the `.out` seq to
        resume a live subscription after. Raises NotFoundError for an unknown chat,
        BadRequestError for a bad `limit` or `before`.
        """
        query: dict[str, str] = {}
        if limit is not None:
            query["limit"] = str(limit)
        if before is not None:
            query["before"] = before
        raw = self._call("GET", f"/api/v1/sessions/{session_path(session)}/transcript", params=query)
        cursors = raw.get("cursors") or {}
        return TranscriptPage(
            messages=list(raw.get("messages") or []),
            cursors=TranscriptCursors(cursors.get("lastOutEventId"), cursors.get("lastInEventId")),
            next_cursor=raw.get("nextCursor"),
        )

    def create_load_transcript_action(
        self, storage: TranscriptStorage | None = None, *, limit: int | None = None
    ) -> LoadTranscriptAction:
        """What a page's history load should call on your server (the TypeScript SDK's
        `chat.createLoadTranscriptAction(storage, {limit})`).

        The action takes `{chat_id | chatId, client_data?, limit?, before?}` and returns a
        `TranscriptPage`; `.wire()` is the JSON `useLoadTranscript` expects. Without `storage` it
        reads the default storage (the session's DynamoDB history) through the transcript route;
        with one, `storage.load`. It does no application authorization: check that the signed-in
        user may read `chat_id` before calling it.
        """

        def load_transcript(params: Mapping[str, Any]) -> TranscriptPage:
            chat_id = str(params.get("chat_id") or params.get("chatId") or "")
            if not chat_id:
                raise ValueError("load_transcript needs a chat_id")
            page_limit = params.get("limit", limit)
            before = params.get("before")
            if storage is None:
                return self.transcript(chat_id, limit=page_limit, before=before)
            client_data = dict(params.get("client_data") or params.get("clientData") or {})
            return storage.load(TranscriptScope(chat_id, client_data), limit=page_limit, before=before)

        return load_transcript

    def create_start_session_action(
        self,
        task_id: str,
        *,
        trigger_config: Mapping[str, Any] | None = None,
        base_payload: Mapping[str, Any] | None = None,
        trusted_client_data: Mapping[str, Any]
        | Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
        | None = None,
        token_ttl: str | None = None,
    ) -> StartSessionAction:
        """What a browser's `startSession` callback should call on your server (the TS SDK's
        `chat.createStartSessionAction`). Returns `start_session(params) -> StartSessionResult`, where
        `params` is `{"chat_id", "client_data"}` (camelCase accepted); it raises `ValueError` without a
        chat id, and what `start` raises.

        The browser influences only the chat id (the session's externalId and `basePayload.chatId`)
        and its client data (`basePayload.metadata`, under `trusted_client_data`, which is merged
        over what the browser claims). The task, `trigger_config` and `base_payload` come from
        here, server side; a `task_id`, `trigger_config` or `base_payload` in the browser's params
        is ignored. The server bounds cost-bearing settings again (idle timeout, attempts).
        `token_ttl` (a duration such as `"1h"`) signs the returned token here instead of using the
        server's (15 minutes by default).
        """
        config = dict(trigger_config or {})

        def start_session(params: Mapping[str, Any]) -> StartSessionResult:
            chat_id = str(params.get("chat_id") or params.get("chatId") or "")
            if not chat_id:
                raise ValueError("start_session needs a chat_id")
            claimed = dict(params.get("client_data") or params.get("clientData") or {})
            trusted = (
                trusted_client_data(chat_id, claimed)
                if callable(trusted_client_data)
                else trusted_client_data
            )
            client_data = {**claimed, **dict(trusted or {})}
            payload: dict[str, Any] = {"messages": [], "trigger": "preload", **dict(base_payload or {})}
            if client_data:
                payload["metadata"] = client_data
            payload["chatId"] = chat_id
            tags = [f"chat:{chat_id}"] if len(chat_id) <= 123 else []
            created = self.start(
                task_identifier=task_id,
                external_id=chat_id,
                trigger_config={
                    **config,
                    "basePayload": payload,
                    "tags": [*tags, *config.get("tags", [])][:10],
                },
            )
            token = created.public_access_token
            if token_ttl is not None:
                token = self._auth.create_public_token(
                    scopes={"read": {"sessions": chat_id}, "write": {"sessions": chat_id}},
                    expiration_time=token_ttl,
                )
            return StartSessionResult(session_id=created.id, run_id=created.run_id, public_access_token=token)

        return start_session


class Runs:
    """The kill switch (secret key only): the environment's live runs, and cancelling one."""

    def __init__(self, core: HttpCore, secret_key: str) -> None:
        self._core = core
        self._key = secret_key

    def live(self) -> builtins.list[dict[str, Any]]:
        """Runs that are not final: `{id, sessionId, status, createdAt, lastInputAt, leaseExpiresAt}`
        (times in epoch seconds except `createdAt`, ISO 8601)."""
        return list(self._core.request("GET", "/api/v1/runs/live", token=self._key)["data"])

    def cancel(self, run_id: str) -> str:
        """End the run now, as the TypeScript SDK's `runs.cancel`: its open turn closes for readers
        and the session's next message starts a continuation. Idempotent; returns the run id.
        Raises NotFoundError for a run of another environment or none."""
        return str(self._core.request("POST", f"/api/v2/runs/{run_id}/cancel", token=self._key)["id"])
