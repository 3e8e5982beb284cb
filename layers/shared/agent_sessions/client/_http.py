"""The HTTP core shared by every client object: base URL, JSON requests, error mapping."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from agent_sessions.client.discovery import resolve_base_url
from agent_sessions.client.errors import APIConnectionError, error_for


def session_path(key: str) -> str:
    return quote(key, safe="")


class HttpCore:
    def __init__(self, base_url: str | None, http: httpx.Client | None, timeout: float) -> None:
        self.base_url = resolve_base_url(base_url)
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        json: Any = None,
        content: str | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            **(headers or {}),
        }
        try:
            response = self.http.request(
                method, self.url(path), json=json, content=content, params=params, headers=all_headers
            )
        except httpx.TransportError as exc:
            raise APIConnectionError(f"could not reach {self.base_url}: {exc}") from exc
        body = _json(response)
        if response.status_code >= 400:
            raise error_for(response.status_code, body)
        return body

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"error": response.text}
