"""The Function URL app: the SSE reader plus `.in`/`.out` append, the browser transport's two routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from agent_sessions import store
from agent_sessions.http import stream
from agent_sessions.http.api import append_router, build_resolver
from agent_sessions.http.asgi import edge_app
from agent_sessions.http.bridge import resolver_endpoint


def create_app() -> Starlette:
    store.configure()
    append = resolver_endpoint(build_resolver([append_router]))
    return edge_app(
        [
            Route("/realtime/v1/sessions/{session:str}/{io:str}/append", append, methods=["POST"]),
            *stream.routes,
        ]
    )
