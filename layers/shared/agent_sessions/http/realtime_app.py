"""The Function URL app: the SSE reader plus `.in`/`.out` append, the browser transport's two routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from agent_sessions import store
from agent_sessions.http import stream
from agent_sessions.http.api import append_router, build_resolver
from agent_sessions.http.bridge import resolver_endpoint
from agent_sessions.http.paths import CanonicalPaths


def create_app() -> Starlette:
    store.configure()
    append = resolver_endpoint(build_resolver([append_router]))
    return Starlette(
        routes=[
            Route("/realtime/v1/sessions/{session:str}/{io:str}/append", append, methods=["POST", "OPTIONS"]),
            *stream.routes,
        ],
        middleware=[Middleware(CanonicalPaths)],
    )
