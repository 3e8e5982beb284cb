"""CORS, one implementation for every route (HTTP API resolver, Function URL app, local stack).

Browsers call `.in/append` and `.out` cross-origin with non-safelisted headers, plus whatever the
transport's `headers` option adds (say `x-tenant-id`), so a preflight allows the protocol's headers
and echoes the requested ones. Every response, errors included (401/403/404/405/409/413/429/5xx),
carries the origin and `Access-Control-Expose-Headers: *`: a browser that cannot read
`X-Stream-Version` parses the stream as v1 and the chat silently breaks.

Allowed origins come from the `allowed_origins` setting (`AGENT_SESSIONS_ALLOWED_ORIGINS`, the
template's `AllowedOrigin` parameter): `*` (default) or a comma-separated list of exact origins,
in which case a listed request `Origin` is echoed with `Vary: Origin` and any other gets no
`Access-Control-Allow-Origin` (the browser then blocks the response).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_sessions.config import get_settings

ALLOW_HEADERS = [
    "authorization",
    "content-type",
    "x-part-id",
    "x-trigger-source",
    "last-event-id",
    "timeout-seconds",
    "x-peek-settled",
    "accept",
    "trigger-version",
    "x-trigger-api-version",
    "x-trigger-client",
    "x-trigger-realtime-streams-version",
    "x-trigger-request-idempotency-key",
    "x-trigger-branch",
]
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
MAX_AGE = "600"
_MAX_REQUESTED = 50
CORS_HEADER_NAMES = ("access-control-allow-origin", "access-control-expose-headers", "vary")


def allowed_origins() -> tuple[str, ...]:
    raw = get_settings().allowed_origins
    return tuple(o.strip() for o in raw.split(",") if o.strip()) or ("*",)


def cors_headers(origin: str | None) -> dict[str, str]:
    """Headers every response carries, for a request from `origin` (None: not a browser)."""
    origins = allowed_origins()
    headers = {"Access-Control-Expose-Headers": "*"}
    if "*" in origins:
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Vary"] = "Origin"
        if origin and origin in origins:
            headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_headers(origin: str | None, requested: str | None) -> dict[str, str]:
    """Answer to an `OPTIONS` preflight: the protocol's headers plus the requested ones."""
    extra = [h.strip().lower() for h in (requested or "").split(",") if h.strip()][:_MAX_REQUESTED]
    return {
        **cors_headers(origin),
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ", ".join(dict.fromkeys([*ALLOW_HEADERS, *extra])),
        "Access-Control-Max-Age": MAX_AGE,
    }


def with_cors(response_headers: dict[str, str], request_headers: Mapping[str, str]) -> dict[str, str]:
    """`response_headers` with this request's CORS headers set (replacing any earlier ones)."""
    kept = {k: v for k, v in response_headers.items() if k.lower() not in CORS_HEADER_NAMES}
    return {**kept, **cors_headers(header(request_headers, "origin"))}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup in a plain mapping (API Gateway lowercases, tests may not)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


class CorsMiddleware:
    """ASGI: answer preflights for routed paths and put CORS headers on every response."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...] = ("/api/", "/realtime/")) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        origin = request.get("origin")
        if scope["method"] == "OPTIONS":
            headers = preflight_headers(origin, request.get("access-control-request-headers"))
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for name in CORS_HEADER_NAMES:
                    del out[name]
                for name, value in cors_headers(origin).items():
                    out[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)
