"""OpenAPI 3.1 description of every route, complete enough to drive a schema fuzzer.

Every path, query and header parameter and every body carries the constraints the edge enforces
(`http.params`, `models.py`); bodies are the pydantic models' own JSON Schemas, so the document
cannot drift from the validation. A test keeps the route list in step with the registered routes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agent_sessions.http import params
from agent_sessions.models import (
    CloseSessionBody,
    CreateSessionBody,
    EndAndContinueBody,
    PublicTokenBody,
    UpdateSessionBody,
)

Param = dict[str, Any]


def _param(name: str, where: str, schema: dict[str, Any], description: str = "", **extra: Any) -> Param:
    out: Param = {"name": name, "in": where, "required": where == "path", "schema": schema, **extra}
    if description:
        out["description"] = description
    return out


_SESSION = _param(
    "session",
    "path",
    {"type": "string", "minLength": 1, "maxLength": params.MAX_KEY_CHARS},
    "friendlyId (`session_…`) or externalId, percent-encoded (`encodeURIComponent`)",
)
_RUN = _param("run", "path", {"type": "string", "minLength": 1, "maxLength": 64}, "a run id (`run_…`)")
_IO = _param("io", "path", {"type": "string", "enum": ["in", "out"]})
_SEQ = {"type": "integer", "minimum": 0, "maximum": params.MAX_SEQ}
_MS = {"type": "integer", "minimum": 0, "maximum": params.MAX_EPOCH_MS}
_LIST_QUERY = [
    _param("page[size]", "query", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
    _param("page[after]", "query", {"type": "string", "minLength": 1, "maxLength": params.MAX_CURSOR_CHARS}),
    _param("page[before]", "query", {"type": "string", "minLength": 1, "maxLength": params.MAX_CURSOR_CHARS}),
    _param("filter[type]", "query", {"type": "string", "maxLength": params.MAX_FILTER_CHARS}, "comma-joined"),
    _param("filter[tags]", "query", {"type": "string", "maxLength": params.MAX_FILTER_CHARS}, "comma-joined"),
    _param(
        "filter[taskIdentifier]",
        "query",
        {"type": "string", "maxLength": params.MAX_FILTER_CHARS},
        "comma-joined",
    ),
    _param("filter[externalId]", "query", {"type": "string", "maxLength": params.MAX_FILTER_CHARS}),
    _param("filter[status]", "query", {"type": "string", "enum": ["ACTIVE", "CLOSED", "EXPIRED"]}),
    _param("filter[createdAt][period]", "query", {"type": "string", "pattern": "^[0-9]{1,16}[smhdw]$"}),
    _param("filter[createdAt][from]", "query", _MS, "milliseconds since the epoch"),
    _param("filter[createdAt][to]", "query", _MS, "milliseconds since the epoch"),
]
_TRANSCRIPT_QUERY = [
    _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": params.MAX_TRANSCRIPT_LIMIT},
        "the newest `limit` messages (all when absent)",
    ),
    _param(
        "before",
        "query",
        {"type": "string", "minLength": 1, "maxLength": params.MAX_MESSAGE_ID_CHARS},
        "a message id: the page before it (a previous page's `nextCursor`)",
    ),
]
_RECORDS_QUERY = [_param("afterEventId", "query", _SEQ, "resume after this seq")]
_PART_ID = _param(
    "X-Part-Id",
    "header",
    {"type": "string", "minLength": 1, "maxLength": params.MAX_PART_ID_CHARS},
    "idempotency key of the append",
)
_STREAM_HEADERS = [
    _param("Timeout-Seconds", "header", {"type": "integer", "minimum": 1, "maximum": 600}),
    _param(
        "Last-Event-ID",
        "header",
        {"type": "string", "maxLength": 256},
        "last seq seen (`123`, `123-4`) or the batch id sent (`first,end`): resume after it",
    ),
    _param("X-Peek-Settled", "header", {"type": "string", "enum": ["1"]}),
]

_BODIES: list[type[BaseModel]] = [
    CreateSessionBody,
    UpdateSessionBody,
    CloseSessionBody,
    EndAndContinueBody,
    PublicTokenBody,
]

# (method, path, summary, parameters, request body: model name, "raw", or None, body required)
Route = tuple[str, str, str, list[Param], str | None, bool]
ROUTES_WITH_BODIES: list[Route] = [
    (
        "post",
        "/api/v1/auth/jwt/claims",
        "Claims the SDK copies into self-signed public tokens",
        [],
        None,
        False,
    ),
    ("post", "/api/v1/auth/public-tokens", "Mint a public access token", [], "PublicTokenBody", True),
    (
        "post",
        "/api/v1/sessions",
        "Create or reuse a session and ensure its run",
        [],
        "CreateSessionBody",
        True,
    ),
    ("get", "/api/v1/sessions", "List sessions (cursor pages, newest first)", _LIST_QUERY, None, False),
    ("get", "/api/v1/sessions/{session}", "Retrieve a session", [_SESSION], None, False),
    ("patch", "/api/v1/sessions/{session}", "Update tags or metadata", [_SESSION], "UpdateSessionBody", True),
    (
        "post",
        "/api/v1/sessions/{session}/close",
        "Close a session (idempotent)",
        [_SESSION],
        "CloseSessionBody",
        False,
    ),
    (
        "post",
        "/api/v1/sessions/{session}/end-and-continue",
        "Swap in a new run",
        [_SESSION],
        "EndAndContinueBody",
        True,
    ),
    ("get", "/api/v1/sessions/{session}/runs", "The session's run history (audit)", [_SESSION], None, False),
    (
        "get",
        "/api/v1/sessions/{session}/transcript",
        "A page of the chat's saved history (UI messages, newest last; secret key only)",
        [_SESSION, *_TRANSCRIPT_QUERY],
        None,
        False,
    ),
    (
        "get",
        "/api/v1/runs/live",
        "The environment's live runs (not final; secret key only)",
        [],
        None,
        False,
    ),
    (
        "post",
        "/api/v2/runs/{run}/cancel",
        "Cancel a run now, idempotently (`runs.cancel`; secret key only)",
        [_RUN],
        None,
        False,
    ),
    (
        "post",
        "/realtime/v1/sessions/{session}/{io}/append",
        "Append a record (the raw body, stored as text)",
        [_SESSION, _IO, _PART_ID],
        "raw",
        True,
    ),
    (
        "get",
        "/realtime/v1/sessions/{session}/{io}/records",
        "Read records after a cursor",
        [_SESSION, _IO, *_RECORDS_QUERY],
        None,
        False,
    ),
    (
        "get",
        "/realtime/v1/sessions/{session}/{io}",
        "Subscribe (SSE v2)",
        [_SESSION, _IO, *_STREAM_HEADERS],
        None,
        False,
    ),
    ("head", "/realtime/v1/sessions/{session}/{io}", "Stream probe", [_SESSION, _IO], None, False),
]
ROUTES: list[tuple[str, str, str, list[Param]]] = [(m, p, s, ps) for m, p, s, ps, _, _ in ROUTES_WITH_BODIES]

_ERROR = {
    "description": "Error `{error, code}` (every 4xx and 5xx, with CORS headers)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _component_schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "validation") for model in _BODIES], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "code"],
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
    }
    return schemas


def _request_body(kind: str, required: bool) -> dict[str, Any]:
    if kind == "raw":
        schema: dict[str, Any] = {"description": "any text; the transport sends a JSON ChatInputChunk"}
    else:
        schema = {"$ref": f"#/components/schemas/{kind}"}
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ok(method: str, path: str) -> dict[str, Any]:
    if path.endswith("/{io}"):
        content: dict[str, Any] = {"text/event-stream": {"schema": {"type": "string"}}}
        if method == "head":
            return {"description": "The headers a GET would get, no body", "content": content}
        return {"description": "Server-sent events (v2 batches)", "content": content}
    return {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}


def document(server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, parameters, body, required in ROUTES_WITH_BODIES:
        responses: dict[str, Any] = {"200": _ok(method, path), "4XX": _ERROR}
        if method == "post" and path == "/api/v1/sessions":
            responses["201"] = {"description": "Created", **_ok(method, path)}
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": parameters,
            "responses": responses,
            "security": [{"bearer": []}, {}],
        }
        if body is not None:
            op["requestBody"] = _request_body(body, required)
        paths.setdefault(path, {})[method] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "agent-sessions", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _component_schemas(),
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
