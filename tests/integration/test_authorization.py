"""Who may touch which session, over every session route of the HTTP API and the Function URL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from agent_sessions import auth, streams, tokens
from agent_sessions.http import stream
from agent_sessions.http.realtime_app import create_app
from tests.integration.conftest import Api, ApiResponse, create_body
from tests.support import ENV, OTHER_ENV


@pytest.fixture
def url(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The Function URL app (SSE + append). Streams end at once: these tests are about who gets in."""
    monkeypatch.setattr(stream, "follow", lambda *_, **__: iter([stream.DONE]))
    with TestClient(create_app()) as client:
        yield client


def url_call(client: TestClient, method: str, path: str, token: str | None, body: Any = None) -> ApiResponse:
    headers = {"timeout-seconds": "1", "content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
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
    ("api", "GET", "/api/v1/sessions/{key}/transcript", None),
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


# -- the token matrix: every route, every kind of credential -----------------------------------

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "token-matrix.json"
FORMS = ("externalId", "friendlyId")


@dataclass(frozen=True)
class Route:
    name: str
    via: str
    method: str
    path: str
    body: Any = None
    authorized: int = 200
    """What an authorized call answers; 400 where a body invalid after authorization keeps it harmless."""


MATRIX_ROUTES = [
    # Its own externalId, so that another environment's create does not make a `chat-1` of its own.
    Route("create", "api", "POST", "/api/v1/sessions", create_body("matrix-create")),
    Route("list", "api", "GET", "/api/v1/sessions"),
    Route("jwt-claims", "api", "POST", "/api/v1/auth/jwt/claims"),
    Route("public-tokens", "api", "POST", "/api/v1/auth/public-tokens", {"scopes": ["read:sessions:x"]}),
    Route("retrieve", "api", "GET", "/api/v1/sessions/{key}"),
    Route("update", "api", "PATCH", "/api/v1/sessions/{key}", {"tags": []}),
    Route("close", "api", "POST", "/api/v1/sessions/{key}/close", {"reason": "x" * 300}, authorized=400),
    Route("end-and-continue", "api", "POST", "/api/v1/sessions/{key}/end-and-continue", {}, authorized=400),
    Route("runs", "api", "GET", "/api/v1/sessions/{key}/runs"),
    Route("transcript", "api", "GET", "/api/v1/sessions/{key}/transcript"),
    Route("records-in", "api", "GET", "/realtime/v1/sessions/{key}/in/records"),
    Route("records-out", "api", "GET", "/realtime/v1/sessions/{key}/out/records"),
    Route("append-in", "api", "POST", "/realtime/v1/sessions/{key}/in/append", "x"),
    Route("append-out", "api", "POST", "/realtime/v1/sessions/{key}/out/append", "x"),
    Route("url-append-in", "url", "POST", "/realtime/v1/sessions/{key}/in/append", "x"),
    Route("url-append-out", "url", "POST", "/realtime/v1/sessions/{key}/out/append", "x"),
    Route("sse-in", "url", "GET", "/realtime/v1/sessions/{key}/in"),
    Route("sse-out", "url", "GET", "/realtime/v1/sessions/{key}/out"),
    Route("head-in", "url", "HEAD", "/realtime/v1/sessions/{key}/in"),
    Route("head-out", "url", "HEAD", "/realtime/v1/sessions/{key}/out"),
]
READ_OUT = {"records-out", "sse-out", "head-out"}
READ = {"retrieve", "runs"} | READ_OUT
WRITE = {"append-in", "url-append-in", "end-and-continue"}
ADMIN = {"update", "close"}
SECRET_ONLY = {"transcript", "records-in", "sse-in", "head-in", "append-out", "url-append-out"}


def on(names: set[str], forms: tuple[str, ...] = FORMS) -> set[str]:
    return {f"{name}@{form}" for name in names for form in forms}


MINT = {"jwt-claims", "public-tokens"}
EVERYTHING = {"create", "list"} | MINT | on(READ | WRITE | ADMIN | SECRET_ONLY)
PAT_EVERYTHING = {"create", "list"} | on(READ | WRITE | ADMIN)


def raw_jwt(header: dict[str, Any], claims: dict[str, Any], key: str = ENV.secret_key) -> str:
    """A JWT with any header, HMAC-SHA256 signed, so that only the header is wrong."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def token_cases(friendly_id: str, run_id: str) -> list[tuple[str, str | None, set[str]]]:
    """(case, credential, the routes it must be accepted on); refused everywhere else."""
    now = int(time.time())
    leeway = tokens.CLOCK_LEEWAY_SECONDS
    admin_claims = {
        **auth.claims_for(ENV),
        "scopes": ["admin"],
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }

    def pat(scopes: list[str], env: Any = ENV, **times: int) -> str:
        iat, exp = times.get("iat", now), times.get("exp", now + 600)
        claims = {**auth.claims_for(env), **({"nbf": times["nbf"]} if "nbf" in times else {})}
        return tokens.sign(env.secret_key, claims, scopes, exp=exp, iat=iat)

    def forged(**changes: Any) -> str:
        claims = {k: v for k, v in {**admin_claims, **changes}.items() if v is not None}
        return jwt.encode(claims, ENV.secret_key, algorithm="HS256", headers={"typ": None})

    session_scopes = ["read:sessions:chat-1", "write:sessions:chat-1"]
    valid_admin = forged()
    header, _, signature = valid_admin.split(".")
    cases: list[tuple[str, str | None, set[str]]] = [
        ("secret key", ENV.secret_key, EVERYTHING),
        ("session PAT on the externalId", auth.session_token(ENV, "chat-1", 600), on(READ | WRITE)),
        ("session PAT on the friendlyId", auth.session_token(ENV, friendly_id, 600), on(READ | WRITE)),
        ("turn token", auth.turn_token(ENV, "chat-1", run_id, 600), on(READ | WRITE)),
        ("read only", pat(["read:sessions:chat-1"]), on(READ)),
        ("read only, friendlyId", pat([f"read:sessions:{friendly_id}"]), on(READ)),
        ("reserved suffix :out", pat(["read:sessions:chat-1:out"]), on(READ_OUT)),
        ("reserved suffix :out, friendlyId", pat([f"read:sessions:{friendly_id}:out"]), on(READ_OUT)),
        ("reserved suffix :in", pat(["write:sessions:chat-1:in"]), on({"append-in", "url-append-in"})),
        ("write :out suffix", pat(["write:sessions:chat-1:out"]), set()),
        ("read :in suffix", pat(["read:sessions:chat-1:in"]), set()),
        (
            "admin on the externalId",
            pat(["admin:sessions:chat-1"]),
            on(READ | WRITE) | on(ADMIN, ("externalId",)),
        ),
        (
            "admin on the friendlyId",
            pat([f"admin:sessions:{friendly_id}"]),
            on(READ | WRITE) | on(ADMIN, ("friendlyId",)),
        ),
        ("read:sessions", pat(["read:sessions"]), on(READ) | {"list"}),
        ("write:sessions", pat(["write:sessions"]), on(WRITE) | {"create"}),
        ("read:all", pat(["read:all"]), on(READ) | {"list"}),
        ("write:all", pat(["write:all"]), on(WRITE) | {"create"}),
        ("admin:sessions", pat(["admin:sessions"]), PAT_EVERYTHING),
        ("admin", pat(["admin"]), PAT_EVERYTHING),
        ("*:all", pat(["*:all"]), PAT_EVERYTHING),
        ("write:tasks:demo-chat", pat(["write:tasks:demo-chat"]), {"create"}),
        ("write:tasks", pat(["write:tasks"]), {"create"}),
        ("read:tasks", pat(["read:tasks"]), {"list"}),
        ("write:tasks of another task", pat(["write:tasks:other-task"]), set()),
        ("another session's PAT", auth.session_token(ENV, "chat-2", 600), set()),
        ("another session's friendlyId", pat(["read:sessions:session_" + "q" * 25]), set()),
        (
            "trigger token",
            auth.mint_public_token(ENV, ["trigger:tasks:demo-chat"], ttl_seconds=600, one_time_use=True),
            set(),
        ),
        (
            "run token scopes (x-trigger-jwt)",
            pat([f"read:runs:{run_id}", f"write:inputStreams:{run_id}"]),
            set(),
        ),
        ("no scopes", pat([]), set()),
        ("iat ahead within the leeway", pat(session_scopes, iat=now + 5, exp=now + 900), on(READ | WRITE)),
        ("nbf ahead within the leeway", pat(session_scopes, nbf=now + 5), on(READ | WRITE)),
        ("expired within the leeway", pat(session_scopes, iat=now - 600, exp=now - 5), on(READ | WRITE)),
        ("iat ahead beyond the leeway", pat(["admin"], iat=now + leeway + 60, exp=now + 900), set()),
        ("nbf ahead beyond the leeway", pat(["admin"], nbf=now + leeway + 60), set()),
        ("expired", pat(["admin"], iat=now - 900, exp=now - leeway - 60), set()),
        ("alg none", jwt.encode(admin_claims, None, algorithm="none"), set()),
        ("HS384", jwt.encode(admin_claims, ENV.secret_key, algorithm="HS384"), set()),
        ("HS512", jwt.encode(admin_claims, ENV.secret_key, algorithm="HS512"), set()),
        ("RS256 header", raw_jwt({"alg": "RS256"}, admin_claims), set()),
        ("no alg header", raw_jwt({"typ": "JWT"}, admin_claims), set()),
        ("wrong key", jwt.encode(admin_claims, OTHER_ENV.secret_key, algorithm="HS256"), set()),
        ("tampered payload", f"{header}.{forged(scopes=['admin', 'x']).split('.')[1]}.{signature}", set()),
        ("wrong aud", forged(aud="https://elsewhere"), set()),
        ("wrong iss", forged(iss="https://evil"), set()),
        ("no aud", forged(aud=None), set()),
        ("no iss", forged(iss=None), set()),
        ("no exp", forged(exp=None), set()),
        ("no iat", forged(iat=None), set()),
        ("not public", forged(pub=False), set()),
        ("no pub", forged(pub=None), set()),
        ("scopes a string", forged(scopes="admin"), set()),
        ("scopes with a number", forged(scopes=["admin", 1]), set()),
        ("unknown sub", forged(sub="env_nope"), set()),
        ("no sub", forged(sub=None), set()),
        ("garbage", "not.a.jwt", set()),
        ("empty bearer", "", set()),
        ("no credential", None, set()),
        ("unknown secret key", "tr_dev_" + "x" * 24, set()),
        # Another environment acts in its own environment: create, list (and mint, with its key) there.
        ("another environment's PAT", pat(["admin"], env=OTHER_ENV), {"create", "list"}),
        ("another environment's secret key", OTHER_ENV.secret_key, {"create", "list"} | MINT),
    ]
    cases += [
        (f"scope {text!r}", pat([text]), set())
        for text in (
            "read:sessions:chat-1,chat-2",
            "write:sessions:chat-1,write:sessions:chat-1",
            "read:sessions:*",
            "write:sessions:*",
            "*:sessions:chat-1",
            "write:*:chat-1",
            "write:sessions:chat-1:",
            "write:sessions:chat-",
            "write:sessions:chat-1 ",
            "WRITE:sessions:chat-1",
            "write:Sessions:chat-1",
            "write:sessions:chat-1:channels:x",
            "write:sessions:chat-1:channels:x:in",
            "read:sessions::out",
            "read",
            "write",
            "admin:",
            ":all",
            "*",
        )
    ]
    return cases


def test_token_matrix(api: Api, url: TestClient, created: dict[str, Any]) -> None:
    """accepted-when-it-must-not = 0, refused-when-it-must-be-accepted = 0, and a refused credential
    answered the same for a missing session as for the existing one; counts to bench/results."""
    api("POST", "/api/v1/sessions", body=create_body("chat-2"), token=ENV.secret_key)
    keys = {"externalId": "chat-1", "friendlyId": created["id"], "missing": "no-such-chat"}

    def call(route: Route, form: str, credential: str | None) -> int:
        path = route.path.format(key=keys[form]) if form else route.path
        if route.via == "api":
            return api(route.method, path, body=route.body, token=credential).status
        return url_call(url, route.method, path, credential, route.body).status

    tried, wrong_accepts, wrong_refusals, unexpected, leaks = 0, [], [], [], []
    cases = token_cases(created["id"], created["runId"])
    for case, credential, must_accept in cases:
        for route in MATRIX_ROUTES:
            for form in FORMS if "{key}" in route.path else ("",):
                where = f"{route.name}@{form}" if form else route.name
                status = call(route, form, credential)
                tried += 1
                accepted = 200 <= status < 300 or status == route.authorized
                refused = status in (401, 403, 404)
                if not (accepted or refused):
                    unexpected.append(f"{case} on {where}: {status}")
                elif accepted and where not in must_accept:
                    wrong_accepts.append(f"{case} on {where}: {status}")
                elif refused and where in must_accept:
                    wrong_refusals.append(f"{case} on {where}: {status}")
                elif refused and form == "externalId":
                    missing = call(route, "missing", credential)
                    tried += 1
                    if missing != status:
                        leaks.append(f"{case} on {route.name}: {status} existing, {missing} missing")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "credentials": len(cases),
                "routes": len(MATRIX_ROUTES),
                "cases": tried,
                "wrong_accepts": len(wrong_accepts),
                "wrong_refusals": len(wrong_refusals),
                "existence_leaks": len(leaks),
                "unexpected_statuses": len(unexpected),
                "examples": (wrong_accepts + wrong_refusals + leaks + unexpected)[:20],
            },
            indent=2,
        )
        + "\n"
    )
    assert not wrong_accepts, wrong_accepts
    assert not wrong_refusals, wrong_refusals
    assert not leaks, leaks
    assert not unexpected, unexpected
