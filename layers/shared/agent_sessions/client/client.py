"""`AgentSessions`: the secret-key client for backends and scripts."""

from __future__ import annotations

import httpx

from agent_sessions.client._http import HttpCore
from agent_sessions.client.discovery import resolve_secret_key
from agent_sessions.client.errors import AgentSessionsError
from agent_sessions.client.resources import Auth, Runs, Sessions


class AgentSessions:
    """The secret-key client for backends and scripts: `client.auth` (tokens) and `client.sessions`
    (the TS SDK's `auth.*` and `sessions.*`).

    `secret_key` and `base_url` default through the lookup every client shares
    (`agent_sessions.client.discovery`: the environment, then the local stack's state folder).
    `timeout` is seconds per HTTP request; pass `http=` to share an `httpx.Client` (then you close it).
    Raises `AgentSessionsError` when no secret key is found. Use as a context manager or call `close()`.
    """

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
        self.runs = Runs(self._core, key)

    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._core.base_url

    @property
    def http(self) -> httpx.Client:
        """The `httpx.Client` every request goes through (share it with a transport or `RecordStream`)."""
        return self._core.http

    def close(self) -> None:
        """Close the HTTP client, unless it was passed in as `http=`."""
        self._core.close()

    def __enter__(self) -> AgentSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
