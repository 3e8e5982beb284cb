"""One HTTP server for every route: the Function URL's SSE app plus an API Gateway HTTP API shim.

Requests for buffered routes are turned into HTTP API (v2) events and given to the same Powertools
resolver the Lambdas use; SSE requests go to the same ASGI app the streaming Lambda runs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_sessions.http import openapi, stream
from agent_sessions.http.api import build_resolver


class _LocalLambdaContext:
    function_name = "agent-sessions-local"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:agent-sessions-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(request: Request, body: bytes) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        query[name] = f"{query[name]},{value}" if name in query else value
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": request.url.query,
        "headers": headers,
        "queryStringParameters": query or None,
        "requestContext": {
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode("utf-8", errors="replace"),
        "isBase64Encoded": False,
    }


def create_app() -> Starlette:
    resolver = build_resolver()

    async def api(request: Request) -> Response:
        event = http_api_event(request, await request.body())
        result = await run_in_threadpool(resolver.resolve, event, _LocalLambdaContext())
        headers = {k: v if isinstance(v, str) else ",".join(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        return Response(result.get("body") or b"", status_code=result["statusCode"], headers=headers)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi.document(str(request.base_url).rstrip("/")))

    routes = [
        Route("/openapi.json", openapi_json),
        *stream.routes,
        Route("/{path:path}", api, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    ]
    return Starlette(routes=routes)
