"""OpenAPI description of every route; a test keeps it in step with the registered routes."""

from __future__ import annotations

from typing import Any

_SESSION = {
    "name": "session",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "friendlyId (`session_…`) or externalId",
}
_IO = {"name": "io", "in": "path", "required": True, "schema": {"type": "string", "enum": ["in", "out"]}}
_ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_JSON = {"content": {"application/json": {"schema": {"type": "object"}}}}

ROUTES: list[tuple[str, str, str, list[dict[str, Any]]]] = [
    ("post", "/api/v1/auth/jwt/claims", "Claims the SDK copies into self-signed public tokens", []),
    ("post", "/api/v1/auth/public-tokens", "Mint a public access token", []),
    ("post", "/api/v1/sessions", "Create or reuse a session and ensure its run", []),
    ("get", "/api/v1/sessions", "List sessions (cursor pages, newest first)", []),
    ("get", "/api/v1/sessions/{session}", "Retrieve a session", [_SESSION]),
    ("patch", "/api/v1/sessions/{session}", "Update tags or metadata", [_SESSION]),
    ("post", "/api/v1/sessions/{session}/close", "Close a session (idempotent)", [_SESSION]),
    ("post", "/api/v1/sessions/{session}/end-and-continue", "Swap in a new run", [_SESSION]),
    ("get", "/api/v1/sessions/{session}/runs", "The session's run history (audit)", [_SESSION]),
    ("post", "/realtime/v1/sessions/{session}/{io}/append", "Append a record", [_SESSION, _IO]),
    ("get", "/realtime/v1/sessions/{session}/{io}/records", "Read records after a cursor", [_SESSION, _IO]),
    ("get", "/realtime/v1/sessions/{session}/{io}", "Subscribe (SSE v2)", [_SESSION, _IO]),
    ("head", "/realtime/v1/sessions/{session}/{io}", "Stream probe", [_SESSION, _IO]),
]


def document(server_url: str | None = None) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, params in ROUTES:
        responses: dict[str, Any] = {"200": {"description": "OK", **_JSON}, "4XX": _ERROR}
        if path.endswith("/{io}") and method == "get":
            responses["200"] = {"description": "Server-sent events", "content": {"text/event-stream": {}}}
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": params,
            "responses": responses,
            "security": [{"bearer": []}],
        }
        if method in ("post", "patch"):
            op["requestBody"] = {"required": False, **_JSON}
        paths.setdefault(path, {})[method] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "agent-sessions", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
                }
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
