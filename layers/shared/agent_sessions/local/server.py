"""One HTTP server for every route: the Function URL's SSE app plus the HTTP API's routes.

Buffered routes go through the same Powertools resolver the Lambdas use (as HTTP API v2 events);
SSE requests go to the same ASGI app the streaming Lambda runs.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_sessions.http import openapi, stream
from agent_sessions.http.api import build_resolver
from agent_sessions.http.asgi import edge_app
from agent_sessions.http.bridge import AnyMethod, resolver_endpoint
from agent_sessions.local import web


def create_app() -> Starlette:
    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi.document(str(request.base_url).rstrip("/")))

    return edge_app(
        [
            Route("/openapi.json", openapi_json),
            *web.routes(),
            *stream.routes,
            # Any method: the resolver answers 404/405 as `{error, code}` itself.
            Route("/{path:path}", AnyMethod(resolver_endpoint(build_resolver()), shadowed=stream.routes)),
        ]
    )
