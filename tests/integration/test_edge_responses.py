"""One CORS implementation and one error shape on every route of every family (issue 9, items 8, 11, 12).

Families: the HTTP API resolver (Lambda events), the local stack (bridge + SSE app in one server)
and the Function URL app (`.in/append` + SSE). Every preflight echoes the requested headers,
every response carries the configured origin, every miss is `{error, code}` JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent_sessions.config import reset_settings
from agent_sessions.http import openapi, realtime_app
from agent_sessions.local import server
from tests.integration.conftest import Api, ApiResponse, create_body
from tests.support import ENV

AUTH = {"authorization": f"Bearer {ENV.secret_key}"}
ORIGIN = "https://app.example"
FUNCTION_URL_ROUTES = {("post", "/realtime/v1/sessions/{session}/{io}/append")} | {
    (m, p) for m, p, _, _ in openapi.ROUTES if p == "/realtime/v1/sessions/{session}/{io}"
}


def concrete(path: str) -> str:
    return path.replace("{session}", "chat-1").replace("{io}", "out")


class Family:
    """Calls one route family the way a client reaches it, answers as `ApiResponse`."""

    def __init__(self, name: str, api: Api | None = None, client: TestClient | None = None) -> None:
        self.name, self.api, self.client = name, api, client

    def __call__(self, method: str, path: str, headers: dict[str, str] | None = None) -> ApiResponse:
        if self.api is not None:
            return self.api(method, path, headers=headers)
        assert self.client is not None
        response = self.client.request(method, path, headers=headers)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return ApiResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, body)

    def routes(self) -> list[tuple[str, str]]:
        every = [(m, p) for m, p, _, _ in openapi.ROUTES]
        if self.name == "function-url":
            return [r for r in every if r in FUNCTION_URL_ROUTES]
        if self.name == "http-api":
            return [r for r in every if r not in FUNCTION_URL_ROUTES or r[1].endswith("/append")]
        return every


@pytest.fixture(params=["http-api", "local-stack", "function-url"])
def family(request: pytest.FixtureRequest, aws: Any) -> Iterator[Family]:
    api = Api()
    api("POST", "/api/v1/sessions", body=create_body("chat-1"), token=ENV.secret_key)
    if request.param == "http-api":
        yield Family("http-api", api=api)
        return
    app = server.create_app() if request.param == "local-stack" else realtime_app.create_app()
    with TestClient(app) as client:
        yield Family(request.param, client=client)


def assert_error_shape(response: ApiResponse, status: int) -> None:
    assert response.status == status, (response.status, response.body)
    assert isinstance(response.body, dict) and {"error", "code"} <= set(response.body), response.body
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("access-control-allow-origin") == "*"
    assert response.headers.get("access-control-expose-headers") == "*"


def test_every_preflight_echoes_requested_headers(family: Family) -> None:
    for method, path in family.routes():
        response = family(
            "OPTIONS",
            concrete(path),
            {
                "origin": ORIGIN,
                "access-control-request-method": method.upper(),
                "access-control-request-headers": "x-tenant-id, authorization, content-type, x-part-id",
            },
        )
        assert response.status == 204, (path, response.status)
        allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
        assert {"x-tenant-id", "authorization", "x-part-id", "last-event-id"} <= allowed, path
        assert method.upper() in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "DELETE"])
def test_unserved_methods_are_405_json_with_cors(family: Family, method: str) -> None:
    for _, path in family.routes():
        response = family(method, concrete(path), {"origin": ORIGIN, **AUTH})
        assert_error_shape(response, 405)
        assert "allow" in response.headers, path


@pytest.mark.parametrize("path", ["/api/v1/sessions/%0Ax", "/api/v1/sessions/%00", "/api/v1/sessions/a%0Ab"])
def test_control_characters_in_a_session_segment_reach_the_route(family: Family, path: str) -> None:
    if family.name == "function-url":
        path = f"/realtime/v1/sessions/{path.rsplit('/', 1)[1]}/out"
        response = family("GET", path, {**AUTH, "timeout-seconds": "1"})
    else:
        response = family("PATCH", path, {**AUTH, "content-type": "application/json"})
    assert_error_shape(response, 404)


def test_unknown_paths_are_404_json_with_cors(family: Family) -> None:
    for path in ["/api/v1/nothing", "/realtime/v1/sessions/chat-1/out/extra/more", "/api/v2/sessions"]:
        assert_error_shape(family("GET", path, {"origin": ORIGIN, **AUTH}), 404)


def test_head_on_the_stream_says_what_a_get_would(family: Family) -> None:
    if family.name == "http-api":
        pytest.skip("the SSE route is served by the Function URL and the local stack only")
    response = family("HEAD", "/realtime/v1/sessions/chat-1/out", AUTH)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-stream-version"] == "v2"


@pytest.fixture
def one_origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENT_SESSIONS_ALLOWED_ORIGINS", f"{ORIGIN}, https://other.example")
    reset_settings()
    yield
    monkeypatch.delenv("AGENT_SESSIONS_ALLOWED_ORIGINS")
    reset_settings()


def test_configured_origins_are_honoured_on_every_route(family: Family, one_origin: None) -> None:
    for method, path in family.routes():
        url = concrete(path)
        for origin, expected in [(ORIGIN, ORIGIN), ("https://evil.example", None)]:
            pre = family("OPTIONS", url, {"origin": origin, "access-control-request-method": method.upper()})
            assert pre.headers.get("access-control-allow-origin") == expected, (path, origin)
            assert "origin" in pre.headers.get("vary", "").lower()
        if method in ("get", "head") and not path.endswith("/{io}"):
            got = family(method.upper(), url, {"origin": ORIGIN, **AUTH})
            assert got.headers.get("access-control-allow-origin") == ORIGIN, path


def test_end_and_continue_on_a_closed_session_is_400(api: Api, created: dict[str, Any]) -> None:
    api("POST", "/api/v1/sessions/chat-1/close", body={}, token=ENV.secret_key)
    response = api(
        "POST",
        "/api/v1/sessions/chat-1/end-and-continue",
        body={"callingRunId": created["runId"], "reason": "upgrade"},
        token=ENV.secret_key,
    )
    assert response.status == 400, response.body
    assert response.body["code"] == "session_closed"
    assert response.headers["access-control-allow-origin"] == "*"
