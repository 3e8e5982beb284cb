"""Session ids with percent signs, slashes, Unicode, spaces and maximum length, over every route family.

Issue 9, item 7: the SSE route decoded an already decoded path (`a%41` read session `aA`,
`50%25off` answered 404) and ids holding `/` could not use the SSE or the Function URL's append
route. Each id is created through the API, then addressed (as `encodeURIComponent` sends it)
through: the local stack's HTTP API routes (bridge), the Function URL app (append + SSE), and a
real API Gateway HTTP API event (decoded `rawPath` + `pathParameters`) through the Lambda entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from agent_sessions.http import realtime_app
from agent_sessions.lambda_entry import http_handler
from agent_sessions.local import server
from tests.integration.conftest import create_body
from tests.support import ENV

IDS = [
    "a%41",
    "50%25off",
    "50%off",
    "%",
    "a/b",
    "a/b/out",
    "/leading",
    "a b",
    "tab\tinside",
    "line\nbreak",
    "q?x=1#frag",
    "plus+and&amp",
    "colon:in:id",
    "日本語のチャット",
    "emoji-😀-id",
    "x" * 256,
    "😀" * 256,
]


def encode(key: str) -> str:
    """What `encodeURIComponent` sends."""
    return quote(key, safe="!'()*-._~")


@pytest.fixture
def clients(aws: Any) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(server.create_app()) as api, TestClient(realtime_app.create_app()) as url:
        yield api, url


AUTH = {"authorization": f"Bearer {ENV.secret_key}"}


@pytest.mark.parametrize("key", IDS, ids=range(len(IDS)))
def test_every_route_family_reaches_the_session_named(
    clients: tuple[TestClient, TestClient], key: str
) -> None:
    api, url = clients
    created = api.post("/api/v1/sessions", json=create_body(key), headers=AUTH)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["externalId"] == key
    segment = encode(key)

    got = api.get(f"/api/v1/sessions/{segment}", headers=AUTH)
    assert got.status_code == 200, got.text
    assert got.json()["id"] == session["id"]

    pat = {"authorization": f"Bearer {session['publicAccessToken']}", "x-part-id": "p1"}
    appended = url.post(f"/realtime/v1/sessions/{segment}/in/append", content='{"kind":"stop"}', headers=pat)
    assert appended.status_code == 200, appended.text
    again = api.post(f"/realtime/v1/sessions/{segment}/in/append", content='{"kind":"stop"}', headers=pat)
    assert again.json() == appended.json()  # same session, same part id: one record

    records = api.get(f"/realtime/v1/sessions/{segment}/in/records", headers=AUTH)
    assert records.status_code == 200, records.text
    assert [r["id"] for r in records.json()["records"]] == ["p1"]

    closed = api.post(f"/api/v1/sessions/{segment}/close", json={"reason": "done"}, headers=AUTH)
    assert closed.status_code == 200, closed.text
    with url.stream(
        "GET",
        f"/realtime/v1/sessions/{segment}/out",
        headers={**AUTH, "timeout-seconds": "1", "accept": "text/event-stream"},
    ) as sse:
        assert sse.status_code == 200
        frames = "".join(sse.iter_text())
    seqs = [
        r["seq_num"]
        for line in frames.splitlines()
        if line.startswith("data: {")
        for r in json.loads(line[6:]).get("records", [])
    ]
    assert seqs, frames  # the close wrote a session-closed record to this session's .out
    other = api.get(f"/api/v1/sessions/{encode('Z' + key[1:])}", headers=AUTH)
    assert other.status_code == 404


def test_double_decoding_never_aliases_another_session(clients: tuple[TestClient, TestClient]) -> None:
    api, url = clients
    victim = api.post("/api/v1/sessions", json=create_body("aA"), headers=AUTH).json()
    api.post("/api/v1/sessions", json=create_body("a%41"), headers=AUTH)
    api.post(f"/api/v1/sessions/{encode('a%41')}/close", json={}, headers=AUTH)
    with url.stream(
        "GET", f"/realtime/v1/sessions/{encode('a%41')}/out", headers={**AUTH, "timeout-seconds": "1"}
    ) as sse:
        assert sse.status_code == 200
        assert "session-closed" in sse.read().decode()  # a%41's own .out, not aA's (empty)
    head = url.head(f"/realtime/v1/sessions/{encode('a%41')}/out", headers=AUTH)
    assert head.status_code == 200
    got = api.get(f"/api/v1/sessions/{encode('a%41')}", headers=AUTH).json()
    assert got["externalId"] == "a%41" and got["id"] != victim["id"]


def aws_event(method: str, template: str, params: dict[str, str], body: str | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event: `rawPath` and `pathParameters` arrive decoded."""
    raw_path = template
    for name, value in params.items():
        raw_path = raw_path.replace("{" + name + "}", value)
    return {
        "version": "2.0",
        "routeKey": f"{method} {template}",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {"authorization": AUTH["authorization"], "content-type": "application/json"},
        "pathParameters": params,
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"},
            "requestId": "r",
            "routeKey": f"{method} {template}",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "session-control"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:session-control"
    aws_request_id = "req"


@pytest.mark.parametrize("key", [k for k in IDS if "/" not in k], ids=lambda k: str(len(k)))
def test_api_gateway_events_decode_once(clients: tuple[TestClient, TestClient], key: str) -> None:
    api, _ = clients
    created = api.post("/api/v1/sessions", json=create_body(key), headers=AUTH).json()
    handler = http_handler("control")
    result = handler(aws_event("GET", "/api/v1/sessions/{session}", {"session": key}), _Context())
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["id"] == created["id"]
