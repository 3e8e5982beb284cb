"""Buffered routes (API Gateway HTTP API), one Powertools router per Lambda.

Each route: authenticate, validate, call one domain function, shape the response. The same
routers serve the local stack, so there is exactly one implementation of every route.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from agent_sessions import (
    access,
    auth,
    history_records,
    rate_limits,
    run_control,
    runs,
    sessions,
    store,
    streams,
)
from agent_sessions.config import get_settings
from agent_sessions.envelopes import dumps
from agent_sessions.errors import (
    AgentSessionsError,
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    SessionClosed,
    Unauthenticated,
)
from agent_sessions.http import cors, params
from agent_sessions.http.errors import error_response
from agent_sessions.models import (
    CloseSessionBody,
    CreateSessionBody,
    EndAndContinueBody,
    PublicTokenBody,
    UpdateSessionBody,
)
from agent_sessions.observability import logger, metrics
from agent_sessions.scopes import SESSIONS, Need

token_router = APIGatewayHttpRouter()
start_router = APIGatewayHttpRouter()
control_router = APIGatewayHttpRouter()
append_router = APIGatewayHttpRouter()
ROUTERS = {"token": token_router, "start": start_router, "control": control_router, "append": append_router}
"""By the name `lambda_entry.http_handler` takes (`RouterName`)."""
ALL_ROUTERS = tuple(ROUTERS.values())


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; CORS headers are added for every response by `EdgeResolver.resolve`."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=dumps(body),
        headers=headers or {},
    )


class EdgeResolver(APIGatewayHttpResolver):
    """The Powertools resolver with the edge's rules for every route it serves.

    Preflights are answered here (`cors.preflight_headers`, the same as the Function URL's), every
    response gets CORS headers, and a miss is a JSON 404, or a 405 with `Allow` when the path
    exists under other methods (Powertools would answer 404 for a wrong method).
    """

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        request_headers = event.get("headers") or {}
        method = str(((event.get("requestContext") or {}).get("http") or {}).get("method") or "")
        if method.upper() == "OPTIONS":
            return {
                "statusCode": 204,
                "headers": cors.preflight_headers(
                    cors.header(request_headers, "origin"),
                    cors.header(request_headers, "access-control-request-headers"),
                ),
                "body": "",
                "isBase64Encoded": False,
            }
        result = dict(super().resolve(event, context))
        result["headers"] = cors.with_cors(dict(result.get("headers") or {}), request_headers)
        return result

    def methods_at(self, path: str) -> list[str]:
        """Methods this resolver serves at `path` (with OPTIONS); empty when no route matches it."""
        routes: list[Any] = [*self._static_routes, *self._dynamic_routes]
        methods = [route.method for route in routes if route.rule.match(path)]
        return [*dict.fromkeys(methods), "OPTIONS"] if methods else []


def build_resolver(routers: Iterable[APIGatewayHttpRouter] = ALL_ROUTERS) -> APIGatewayHttpResolver:
    app = EdgeResolver()
    for router in routers:
        app.include_router(router)

    @app.exception_handler(Exception)
    def _handle(exc: Exception) -> Response:
        status, body, headers = error_response(exc)
        return json_response(status, body, headers)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        allowed = app.methods_at(app.current_event.path)
        if allowed:
            return json_response(
                405,
                {"error": "Method not allowed", "code": "method_not_allowed"},
                {"Allow": ", ".join(allowed)},
            )
        return json_response(404, {"error": "Not found", "code": "route_not_found"})

    return app


# ---------------------------------------------------------------- request helpers


def _event(router: APIGatewayHttpRouter) -> Any:
    return router.current_event


def _principal(router: APIGatewayHttpRouter) -> auth.Principal:
    return auth.authenticate_headers(_event(router).headers or {})


def _raw_body(router: APIGatewayHttpRouter, cap: int) -> str:
    event = _event(router)
    raw = params.body_text(event.body, bool(event.is_base64_encoded))
    if len(raw.encode()) > cap:
        raise PayloadTooLarge("Request body too large")
    return raw


def _body(router: APIGatewayHttpRouter, cap: int = 32 * 1024, *, required: bool = True) -> Any:
    return params.json_body(_raw_body(router, cap), required=required)


def _session(
    principal: auth.Principal, key: str, action: str, *, url_form_only: bool = False
) -> store.SessionModel:
    """The session a `{session}` path segment names (decoded here, once), if `action` is allowed."""
    session = access.authorize_session(
        principal, params.session_key(key), action, url_form_only=url_form_only
    )
    return _logged(session)


def _logged(session: store.SessionModel) -> store.SessionModel:
    logger.append_keys(session_id=session.session_id, run_id=session.current_run_id)
    return session


def _io(value: str) -> str:
    return params.io_name(value)


def _query(router: APIGatewayHttpRouter) -> dict[str, str]:
    return dict(_event(router).query_string_parameters or {})


def _count(principal: auth.Principal, limit: rate_limits.Limit) -> dict[str, str] | None:
    """Count the request against an environment-wide rate limit: its headers, or RateLimited (429).

    Call it once the request is known good (or use `_counted` around work that may refuse it)."""
    status = rate_limits.consume(principal.environment.id, limit, streams.now_ms())
    return status.headers() if status is not None else None


@contextmanager
def _counted(principal: auth.Principal, limit: rate_limits.Limit) -> Iterator[dict[str, str] | None]:
    """Count the request before the work it limits; give the count back if the work then refuses
    the request as a client error (4xx), so bad input changes nothing."""
    at = streams.now_ms()
    status = rate_limits.consume(principal.environment.id, limit, at)
    try:
        yield status.headers() if status is not None else None
    except (AgentSessionsError, ValidationError) as exc:
        if status is not None and (isinstance(exc, ValidationError) or exc.status < 500):
            try:
                rate_limits.refund(principal.environment.id, limit, at)
            except Exception:  # the client still gets its 4xx; the window over-counts by one
                logger.warning("giving back a rate limit count failed", exc_info=True)
        raise


# ---------------------------------------------------------------- token mint


@token_router.post("/api/v1/auth/jwt/claims")
def jwt_claims() -> Response:
    principal = _principal(token_router)
    if not principal.is_secret_key:
        raise Unauthenticated("Invalid or Missing API key")
    claims = auth.claims_for(principal.environment)
    return json_response(200, claims, _count(principal, rate_limits.Limit.TOKEN))


@token_router.post("/api/v1/auth/public-tokens")
def public_tokens() -> Response:
    principal = _principal(token_router)
    if not principal.is_secret_key:
        raise Forbidden("Public access tokens cannot mint tokens", code="unauthorized")
    body = PublicTokenBody.model_validate(_body(token_router, 8 * 1024))
    if any(not s.strip() for s in body.scopes):
        raise BadRequest("Invalid request body: blank scope", code="invalid_body")
    token = auth.mint_public_token(
        principal.environment,
        body.scopes,
        expiration=body.expirationTime,
        one_time_use=body.oneTimeUse,
        realtime=body.realtime,
    )
    return json_response(200, {"token": token}, _count(principal, rate_limits.Limit.TOKEN))


# ---------------------------------------------------------------- start session


@start_router.post("/api/v1/sessions")
def create_session() -> Response:
    principal = _principal(start_router)
    body = CreateSessionBody.model_validate(_body(start_router, get_settings().max_create_body_bytes))
    if not (
        principal.allows(Need("write", "tasks", frozenset({body.taskIdentifier})))
        or principal.allows(Need("write", SESSIONS, None))
    ):
        raise auth.forbidden()
    with _counted(principal, rate_limits.Limit.CREATE) as rate:
        created = sessions.create(principal.environment, body)
    logger.append_keys(session_id=created.session.session_id, run_id=created.run_id)
    metrics.add_metric(
        name="SessionsCreated" if not created.is_cached else "SessionsReused", unit="Count", value=1
    )
    return json_response(200 if created.is_cached else 201, created.body(), rate)


# ---------------------------------------------------------------- session control


@control_router.get("/api/v1/sessions")
def list_sessions() -> Response:
    principal = _principal(control_router)
    if not (principal.allows(Need("read", SESSIONS, None)) or principal.allows(Need("read", "tasks", None))):
        raise auth.forbidden()
    return json_response(
        200, sessions.list_sessions(principal.environment.id, _list_query(_query(control_router)))
    )


def _list_query(q: dict[str, str]) -> sessions.ListQuery:
    p = params.list_params(q)
    return sessions.ListQuery(
        size=p.size,
        after=p.after,
        before=p.before,
        types=p.types,
        tags=p.tags,
        task_identifiers=p.task_identifiers,
        external_id=p.external_id,
        status=p.status,
        created_from=p.since(datetime.now(UTC)),
        created_to=p.created_to,
    )


@control_router.get("/api/v1/sessions/<session>")
def retrieve_session(session: str) -> Response:
    principal = _principal(control_router)
    item = _session(principal, session, "read")
    return json_response(200, sessions.to_item(item))


@control_router.patch("/api/v1/sessions/<session>")
def update_session(session: str) -> Response:
    principal = _principal(control_router)
    item = _session(principal, session, "admin", url_form_only=True)
    body = UpdateSessionBody.model_validate(_body(control_router))
    return json_response(200, sessions.to_item(sessions.update(item, body)))


@control_router.post("/api/v1/sessions/<session>/close")
def close_session(session: str) -> Response:
    principal = _principal(control_router)
    item = _session(principal, session, "admin", url_form_only=True)
    body = CloseSessionBody.model_validate(_body(control_router, 1024, required=False))
    return json_response(200, sessions.to_item(sessions.close(item, body)))


@control_router.post("/api/v1/sessions/<session>/end-and-continue")
def end_and_continue(session: str) -> Response:
    principal = _principal(control_router)
    item = _session(principal, session, "write")
    body = EndAndContinueBody.model_validate(_body(control_router, 1024))
    try:
        run_id, swapped = runs.end_and_continue(item, body.callingRunId, body.reason)
    except SessionClosed as exc:
        # The contract answers 400 here (409 stays for append and create, which clients act on).
        raise BadRequest(exc.message, code="session_closed", **exc.extra) from None
    return json_response(200, {"runId": run_id, "swapped": swapped})


@control_router.get("/api/v1/sessions/<session>/runs")
def session_runs(session: str) -> Response:
    principal = _principal(control_router)
    item = _session(principal, session, "read")
    return json_response(200, {"data": runs.session_runs(item)})


@control_router.get("/api/v1/sessions/<session>/transcript")
def read_transcript(session: str) -> Response:
    """A page of the chat's saved history, newest last (the 4.8.3 client's `getSessionTranscript`)."""
    item = _logged(access.read_transcript(_principal(control_router), params.session_key(session)))
    query = params.parse(params.TranscriptParams, _query(control_router), "invalid_query")
    page = history_records.transcript_page(item.session_id or "", limit=query.limit, before=query.before)
    return json_response(200, page.wire())


# ---------------------------------------------------------------- kill switch (secret key only)


def _operator(router: APIGatewayHttpRouter) -> auth.Principal:
    principal = _principal(router)
    if not principal.is_secret_key:
        raise auth.forbidden()
    return principal


@control_router.get("/api/v1/runs/live")
def live_runs() -> Response:
    """`{"data": [LiveRun...]}`: the environment's runs that are not final."""
    principal = _operator(control_router)
    return json_response(
        200, {"data": [r.to_json() for r in run_control.live_runs(principal.environment.id)]}
    )


@control_router.post("/api/v2/runs/<run>/cancel")
def cancel_run(run: str) -> Response:
    """`runs.cancel(runId)`'s route: end the run now (`{"id": runId}`), idempotently."""
    principal = _operator(control_router)
    found = run_control.get_env_run(principal.environment.id, run)
    run_control.end_run(found, run_control.CANCELED_BY_OPERATOR)
    return json_response(200, {"id": found.run_id})


@control_router.get("/realtime/v1/sessions/<session>/<io>/records")
def read_records(session: str, io: str) -> Response:
    principal = _principal(control_router)
    io = _io(io)
    item = _logged(access.read_channel(principal, params.session_key(session), io))
    after = params.parse(params.RecordsParams, _query(control_router), "invalid_query").afterEventId
    cursor = after if after is not None else -1
    page = streams.records_page(item.session_id or "", io, cursor)
    body: dict[str, Any] = {"records": page.records}
    if page.next_after is not None:
        body["nextAfterEventId"] = str(page.next_after)
    return json_response(200, body)


# ---------------------------------------------------------------- append


@append_router.post("/realtime/v1/sessions/<session>/<io>/append")
def append(session: str, io: str) -> Response:
    principal = _principal(append_router)
    io = _io(io)
    item = _logged(access.append_channel(principal, params.session_key(session), io))
    raw = _raw_body(append_router, get_settings().max_body_bytes)
    part_id = params.append_headers(_event(append_router).headers or {}).part_id
    result = sessions.append(item, io, raw, part_id)
    metrics.add_metric(name="Appends", unit="Count", value=1)
    return json_response(200, {"ok": True, "seq": result.seq}, result.rate.headers() if result.rate else None)
