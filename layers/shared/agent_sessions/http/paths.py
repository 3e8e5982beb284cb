"""Request paths in one canonical form, so every route family decodes an id exactly once.

Routes match on the *percent-encoded* path: each segment is re-encoded with nothing left bare
(`quote(…, safe="")`), so an id holding `/`, `%`, spaces or newlines stays one segment, and
`params.session_key` is the single decoding step. Sources differ in what they deliver:

* Function URL / uvicorn (`scope["raw_path"]`), the local stack: the path as the client sent it,
  percent-encoded → re-encode each segment (bytes level, so `%FF` survives to a clean 400).
* API Gateway HTTP API (payload 2.0): `rawPath` arrives **decoded** (an id's `%41` is already `A`,
  its `%2F` already `/`); `pathParameters` hold the decoded values of the matched route template
  (`routeKey`). The canonical path is rebuilt from the template and the encoded parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

ROUTED_PREFIXES = ("/api/", "/realtime/")
_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z0-9_]+)\}")


def encode_segment(value: str | bytes) -> str:
    return quote(value, safe="")


def canonical_path(raw_path: str | bytes) -> str:
    """Percent-encoded path → the same path with every segment fully encoded (idempotent)."""
    text = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    return "/".join(encode_segment(unquote_to_bytes(segment)) for segment in text.split("/"))


def canonical_event_path(event: Mapping[str, Any]) -> dict[str, Any]:
    """An HTTP API v2 event whose `rawPath` is canonical (see the module docstring)."""
    result = dict(event)
    route_key = str(event.get("routeKey") or "")
    parameters = event.get("pathParameters") or {}
    _, _, template = route_key.partition(" ")
    if parameters and _TEMPLATE_PARAM.search(template):
        path = _TEMPLATE_PARAM.sub(lambda m: encode_segment(str(parameters.get(m.group(1), ""))), template)
    else:
        # `$default` or a static route: nothing decoded to undo beyond re-encoding what is there.
        path = "/".join(encode_segment(s) for s in str(event.get("rawPath") or "/").split("/"))
    result["rawPath"] = path
    context = dict(result.get("requestContext") or {})
    if "http" in context:
        context["http"] = {**context["http"], "path": path}
        result["requestContext"] = context
    return result


class CanonicalPaths:
    """ASGI middleware: routed paths become canonical, so Starlette path parameters stay encoded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope["path"].encode()
            raw_text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
            if raw_text.startswith(ROUTED_PREFIXES):
                path = canonical_path(raw_text.partition("?")[0])
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
