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


class Auth:
    def __init__(self, core: HttpCore, secret_key: str) -> None:
        self._core = core
        self._secret_key = secret_key
        self._claims: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def claims(self) -> dict[str, Any]:
        """The environment's claims (`POST /api/v1/auth/jwt/claims`), fetched once."""
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
        """Self-sign a PAT exactly as the TypeScript SDK does: server claims + scopes, HS256, secret key."""
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


class Sessions:
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
        """Create the session (idempotent on `external_id`) and make sure its run is live."""
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
        """By externalId (chat id) or `session_…` id."""
        return Session.model_validate(self._call("GET", f"/api/v1/sessions/{session_path(session)}"))

    def update(
        self, session: str, *, tags: list[str] | None = None, metadata: Mapping[str, Any] | None = None
    ) -> Session:
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
        body = {"reason": reason} if reason else {}
        return Session.model_validate(
            self._call("POST", f"/api/v1/sessions/{session_path(session)}/close", json=body)
        )

    def runs(self, session: str) -> builtins.list[SessionRun]:
        """The session's run history (reason and time of every run), oldest first."""
        raw = self._call("GET", f"/api/v1/sessions/{session_path(session)}/runs")
        return [SessionRun.model_validate(r) for r in raw["data"]]

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
        """What a browser's `startSession` callback should call on your server.

        The browser influences only the chat id (the session's externalId and `basePayload.chatId`)
        and its client data (`basePayload.metadata`, under `trusted_client_data`, which is merged
        over what the browser claims). The task, `trigger_config` and `base_payload` come from
        here, server side; a `task_id`, `trigger_config` or `base_payload` in the browser's params
        is ignored. The server bounds cost-bearing settings again (idle timeout, attempts).
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
