"""`AgentSessions`: the secret-key client for backends and scripts."""

from __future__ import annotations

import httpx

from agent_sessions.client._http import HttpCore
from agent_sessions.client.discovery import resolve_secret_key
from agent_sessions.client.errors import AgentSessionsError
from agent_sessions.client.resources import Auth, Sessions


class AgentSessions:
    """`AgentSessions(secret_key=..., base_url=...)`; both default from the environment
    (`AGENT_SESSIONS_SECRET_KEY` / `TRIGGER_SECRET_KEY`, `AGENT_SESSIONS_URL` / `TRIGGER_API_URL`)."""

    def __init__(
        self,
        secret_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        key = resolve_secret_key(secret_key)
        if not key:
            raise AgentSessionsError(
                "no secret key: pass secret_key=, set AGENT_SESSIONS_SECRET_KEY, or run from the folder"
                " where `make dev` keeps .agent-sessions/secret-key"
            )
        self.secret_key = key
        self._core = HttpCore(base_url, http, timeout)
        self.auth = Auth(self._core, key)
        self.sessions = Sessions(self._core, key, self.auth)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def http(self) -> httpx.Client:
        return self._core.http

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> AgentSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
