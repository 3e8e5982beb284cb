"""The Function URL app: the SSE reader plus `.in`/`.out` append, the browser transport's two routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_sessions import store
from agent_sessions.http import stream
from agent_sessions.http.api import append_router, build_resolver
from agent_sessions.http.asgi import edge_app
from agent_sessions.http.bridge import resolver_endpoint
from agent_sessions.observability import metrics


class FlushMetrics:
    """Publish the Powertools metrics a request added once it ends (appends, SSE connections,
    `.out` writes of a stream-side append). The Lambda handlers get this from `log_metrics`;
    behind the Web Adapter nothing else would flush them until 100 piled up."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and metrics.metric_set:
                metrics.flush_metrics()


def create_app() -> Starlette:
    store.configure()
    append = resolver_endpoint(build_resolver([append_router]))
    app = edge_app(
        [
            Route("/realtime/v1/sessions/{session:str}/{io:str}/append", append, methods=["POST"]),
            *stream.routes,
        ]
    )
    app.add_middleware(FlushMetrics)
    return app
