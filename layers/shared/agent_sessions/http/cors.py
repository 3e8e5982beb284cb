"""CORS for browsers calling `.in/append` and `.out` cross-origin, on every response incl. errors.

`Access-Control-Expose-Headers: *` matters most: a browser that cannot read `X-Stream-Version`
parses the stream as v1 and the chat silently breaks.
"""

from __future__ import annotations

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

CORS_HEADERS: dict[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "*",
}

PREFLIGHT_HEADERS: dict[str, str] = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": ALLOW_METHODS,
    "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
    "Access-Control-Max-Age": "600",
}


def preflight_headers(requested: str | None) -> dict[str, str]:
    """Echo the requested headers too, so a customer's `headers` option passes preflight."""
    headers = dict(PREFLIGHT_HEADERS)
    if requested:
        extra = [h.strip().lower() for h in requested.split(",") if h.strip()]
        headers["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys([*ALLOW_HEADERS, *extra]))
    return headers
