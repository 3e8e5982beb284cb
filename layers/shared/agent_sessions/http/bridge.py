"""Serve Powertools resolver routes from an ASGI app by speaking HTTP API (v2) events to them.

Used by the local stack and by the Function URL app, so every route has one implementation.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, request_response
from starlette.types import Receive, Scope, Send

from agent_sessions.http.paths import canonical_path


class _AsgiLambdaContext:
    function_name = "agent-sessions"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:agent-sessions"

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
    raw_path = canonical_path(request.scope.get("raw_path") or request.url.path.encode())
    try:
        text, base64_encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:  # as API Gateway does for binary bodies; the edge refuses it (400)
        text, base64_encoded = base64.b64encode(body).decode(), True
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
        "body": text,
        "isBase64Encoded": base64_encoded,
    }


def resolver_endpoint(resolver: APIGatewayHttpResolver) -> Callable[[Request], Awaitable[Response]]:
    """One request at a time per resolver: Powertools keeps the current event on the resolver and
    its routers (one invocation per process on Lambda), so concurrent threads would read each
    other's requests."""
    lock = threading.Lock()

    def resolve(event: dict[str, Any]) -> dict[str, Any]:
        with lock:
            return dict(resolver.resolve(event, cast(Any, _AsgiLambdaContext())))

    async def endpoint(request: Request) -> Response:
        event = http_api_event(request, await request.body())
        result = await run_in_threadpool(resolve, event)
        headers = {
            k: v if isinstance(v, str) else ",".join(v) for k, v in (result.get("headers") or {}).items()
        }
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        return Response(result.get("body") or b"", status_code=result["statusCode"], headers=headers)

    return endpoint


class AnyMethod:
    """An endpoint as a plain ASGI app, so a Starlette `Route` passes it every method (a function
    endpoint would be limited to GET): the resolver itself answers 404/405 as `{error, code}`.

    `shadowed` are routes matched before this catch-all; a path one of them serves under other
    methods is a 405 with their `Allow`, not the resolver's 404.
    """

    def __init__(
        self, endpoint: Callable[[Request], Awaitable[Response]], shadowed: Sequence[BaseRoute] = ()
    ) -> None:
        self.app = request_response(endpoint)
        self.shadowed = shadowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for route in self.shadowed:
            match, _ = route.matches(scope)
            if match is Match.PARTIAL and isinstance(route, Route):
                allow = ", ".join([*sorted(route.methods or ()), "OPTIONS"])
                raise HTTPException(405, headers={"Allow": allow})
        await self.app(scope, receive, send)
