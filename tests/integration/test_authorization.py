"""Who may touch which session, over every session route of the HTTP API and the Function URL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent_sessions import auth, streams, tokens
from agent_sessions.http import stream
from agent_sessions.http.realtime_app import create_app
from tests.integration.conftest import Api, ApiResponse, create_body
from tests.support import ENV


@pytest.fixture
def url(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The Function URL app (SSE + append). Streams end at once: these tests are about who gets in."""
    monkeypatch.setattr(stream, "follow", lambda *_, **__: iter([stream.DONE]))
    with TestClient(create_app()) as client:
        yield client


def url_call(client: TestClient, method: str, path: str, token: str, body: str | None = None) -> ApiResponse:
    headers = {"authorization": f"Bearer {token}", "timeout-seconds": "1", "content-type": "application/json"}
    response = client.request(method, path, headers=headers, content=body)
    try:
        parsed = response.json()
    except ValueError:
        parsed = response.text
    return ApiResponse(response.status_code, dict(response.headers), parsed)


# -- issue 9 item 1: ids that collide with the scope grammar --------------------------------------


@pytest.mark.parametrize(
    "external_id", ["victim-chat:out", "victim-chat:in", "a:channels:b", "x:channels:y:out"]
)
def test_an_external_id_that_collides_with_a_channel_scope_is_refused_at_create(
    api: Api, external_id: str
) -> None:
    response = api("POST", "/api/v1/sessions", body=create_body(external_id), token=ENV.secret_key)
    assert response.status == 400, response.body
    assert response.body["code"] == "invalid_body" and "externalId" in response.body["error"]
    assert response.headers["access-control-allow-origin"] == "*"
    from urllib.parse import quote

    assert api("GET", f"/api/v1/sessions/{quote(external_id)}", token=ENV.secret_key).status == 404


def test_a_chat_cannot_obtain_a_token_for_another_chats_out_channel(api: Api, url: TestClient) -> None:
    """The attack: start a chat named `victim-chat:out` and read victim-chat's `.out` with its PAT."""
    victim = api("POST", "/api/v1/sessions", body=create_body("victim-chat"), token=ENV.secret_key).body
    streams.append_records(victim["id"], "out", [('{"data":"secret"}', [])])
    attack = api("POST", "/api/v1/sessions", body=create_body("victim-chat:out"), token=ENV.secret_key)
    assert attack.status == 400 and "publicAccessToken" not in attack.body
    # A token for a chat of another name never reaches victim-chat's `.out`, on either read route.
    other = auth.session_token(ENV, "victim-chat-2", 600)
    assert api("GET", "/realtime/v1/sessions/victim-chat/out/records", token=other).status == 403
    assert url_call(url, "GET", "/realtime/v1/sessions/victim-chat/out", other).status == 403


def test_an_out_scope_grants_out_reads_and_nothing_else(
    api: Api, url: TestClient, created: dict[str, Any]
) -> None:
    token = auth.mint_public_token(ENV, ["read:sessions:chat-1:out"], expiration="1h")
    assert api("GET", "/realtime/v1/sessions/chat-1/out/records", token=token).status == 200
    assert url_call(url, "GET", "/realtime/v1/sessions/chat-1/out", token).status == 200
    assert url_call(url, "HEAD", f"/realtime/v1/sessions/{created['id']}/out", token).status == 200
    assert api("GET", "/api/v1/sessions/chat-1", token=token).status == 403
    assert api("GET", "/realtime/v1/sessions/chat-1/in/records", token=token).status == 403
    assert api("POST", "/realtime/v1/sessions/chat-1/in/append", body="x", token=token).status == 403


# -- issue 9 item 9: a foreign credential learns nothing about existence -------------------------

SESSION_ROUTES = [
    ("api", "GET", "/api/v1/sessions/{key}", None),
    ("api", "PATCH", "/api/v1/sessions/{key}", {"tags": []}),
    ("api", "POST", "/api/v1/sessions/{key}/close", {}),
    ("api", "POST", "/api/v1/sessions/{key}/end-and-continue", {"callingRunId": "run_x", "reason": "r"}),
    ("api", "GET", "/api/v1/sessions/{key}/runs", None),
    ("api", "GET", "/realtime/v1/sessions/{key}/in/records", None),
    ("api", "GET", "/realtime/v1/sessions/{key}/out/records", None),
    ("api", "POST", "/realtime/v1/sessions/{key}/in/append", "x"),
    ("api", "POST", "/realtime/v1/sessions/{key}/out/append", "x"),
    ("url", "GET", "/realtime/v1/sessions/{key}/in", None),
    ("url", "GET", "/realtime/v1/sessions/{key}/out", None),
    ("url", "HEAD", "/realtime/v1/sessions/{key}/out", None),
    ("url", "POST", "/realtime/v1/sessions/{key}/in/append", "x"),
    ("url", "POST", "/realtime/v1/sessions/{key}/out/append", "x"),
]


@pytest.mark.parametrize(("via", "method", "path", "body"), SESSION_ROUTES)
def test_a_foreign_token_gets_the_same_answer_whether_the_session_exists_or_not(
    api: Api, url: TestClient, created: dict[str, Any], via: str, method: str, path: str, body: Any
) -> None:
    foreign = auth.session_token(ENV, "someone-elses-chat", 600)

    def call(key: str) -> ApiResponse:
        if via == "api":
            return api(method, path.format(key=key), body=body, token=foreign)
        raw = body if isinstance(body, str) or body is None else json.dumps(body)
        return url_call(url, method, path.format(key=key), foreign, raw)

    answers = [call(key) for key in ("chat-1", created["id"], "no-such-chat", "session_" + "z" * 25)]
    assert {a.status for a in answers} == {403}, [a.status for a in answers]
    if method != "HEAD":
        assert len({str(a.body) for a in answers}) == 1, [a.body for a in answers]


# -- issue 9 item 10: a create never rewrites an existing session ---------------------------------


def test_a_create_naming_another_tasks_session_is_refused_and_changes_nothing(api: Api) -> None:
    victim = api(
        "POST", "/api/v1/sessions", body=create_body("victim-chat", task="task-y"), token=ENV.secret_key
    )
    assert victim.status == 201
    attacker = auth.mint_public_token(ENV, ["write:tasks:task-x"], expiration="1h")
    forged = create_body("victim-chat", task="task-x")
    forged["triggerConfig"]["basePayload"]["metadata"] = {"user": "attacker"}
    for token in (attacker, ENV.secret_key):
        response = api("POST", "/api/v1/sessions", body=forged, token=token)
        assert response.status == 409, response.body
        assert response.body["code"] == "external_id_taken" and "publicAccessToken" not in response.body
    after = api("GET", "/api/v1/sessions/victim-chat", token=ENV.secret_key).body
    assert after["taskIdentifier"] == "task-y"
    assert after["triggerConfig"] == victim.body["triggerConfig"]
    assert after["updatedAt"] == victim.body["updatedAt"]


def test_a_cached_create_returns_the_session_unchanged(api: Api, created: dict[str, Any]) -> None:
    token = auth.mint_public_token(ENV, ["write:tasks:demo-chat"], expiration="1h")
    again = create_body(tags=["x"])
    again["triggerConfig"]["basePayload"]["metadata"] = {"user": "u2"}
    again["triggerConfig"]["maxAttempts"] = 7
    response = api("POST", "/api/v1/sessions", body=again, token=token)
    assert response.status == 200 and response.body["isCached"] is True
    assert response.body["id"] == created["id"] and response.body["publicAccessToken"]
    stored = api("GET", "/api/v1/sessions/chat-1", token=ENV.secret_key).body
    assert stored["triggerConfig"] == created["triggerConfig"] and stored["tags"] == []


# -- issue 9 item 2: ordinary clock skew --------------------------------------------------------


def skewed_pat(ahead_seconds: int, scopes: list[str]) -> str:
    """A PAT as a backend whose clock runs `ahead_seconds` ahead signs it (`auth.createPublicToken`)."""
    now = int(time.time()) + ahead_seconds
    return tokens.sign(ENV.secret_key, auth.claims_for(ENV), scopes, exp=now + 900, iat=now)


@pytest.mark.parametrize("ahead", [1, 2, 5, tokens.CLOCK_LEEWAY_SECONDS - 5])
def test_a_pat_from_a_backend_a_little_ahead_is_accepted_on_the_browser_routes(
    api: Api, url: TestClient, created: dict[str, Any], ahead: int
) -> None:
    pat = skewed_pat(ahead, ["read:sessions:chat-1", "write:sessions:chat-1"])
    assert api("POST", "/realtime/v1/sessions/chat-1/in/append", body="x", token=pat).status == 200
    assert url_call(url, "POST", "/realtime/v1/sessions/chat-1/in/append", pat, "y").status == 200
    assert api("GET", "/realtime/v1/sessions/chat-1/out/records", token=pat).status == 200
    assert url_call(url, "GET", "/realtime/v1/sessions/chat-1/out", pat).status == 200


def test_a_pat_from_a_backend_far_ahead_is_refused_with_a_reason(api: Api, created: dict[str, Any]) -> None:
    pat = skewed_pat(tokens.CLOCK_LEEWAY_SECONDS + 30, ["write:sessions:chat-1"])
    response = api("POST", "/realtime/v1/sessions/chat-1/in/append", body="x", token=pat)
    assert response.status == 401 and "clock" in response.body["error"]
