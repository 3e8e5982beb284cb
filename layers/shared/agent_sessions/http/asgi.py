"""What every ASGI app of the edge (Function URL, local stack) wraps its routes in.

Canonical paths (one decoding of ids), one CORS implementation, and Starlette's own misses (no
route, wrong method) answered as `{error, code}` JSON like every other 4xx.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from agent_sessions.http.cors import CorsMiddleware
from agent_sessions.http.paths import CanonicalPaths

_MESSAGES = {404: ("Not found", "route_not_found"), 405: ("Method not allowed", "method_not_allowed")}


async def http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message, code = _MESSAGES.get(exc.status_code, (str(exc.detail), "bad_request"))
    return JSONResponse({"error": message, "code": code}, status_code=exc.status_code, headers=exc.headers)


def edge_app(routes: Sequence[BaseRoute], **kwargs: Any) -> Starlette:
    return Starlette(
        routes=list(routes),
        middleware=[Middleware(CanonicalPaths), Middleware(CorsMiddleware)],
        exception_handlers={HTTPException: http_exception},
        **kwargs,
    )
