"""Rate limits: `.in/append` per session, create and token mint per environment (429 + x-ratelimit-*)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent_sessions import store, streams
from agent_sessions.config import reset_settings
from tests.integration.conftest import Api, create_body
from tests.support import ENV, OTHER_ENV, count_dynamodb_calls, reply_lost, table_state

MESSAGE = {"kind": "message", "payload": {"chatId": "chat-1", "trigger": "submit-message"}}
IN = "/realtime/v1/sessions/chat-1/in/append"
WINDOW_MS = 60_000
T0 = 1_700_000_040_000  # the start of a 60 s window


class Clock:
    """The one clock the limits read (`streams.now_ms`), moved by hand: no test sleeps."""

    def __init__(self) -> None:
        self.ms = T0 + 5_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(streams, "now_ms", clock)
    return clock


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENT_SESSIONS_APPEND_RATE_LIMIT", "3")
    monkeypatch.setenv("AGENT_SESSIONS_CREATE_RATE_LIMIT", "2")
    monkeypatch.setenv("AGENT_SESSIONS_TOKEN_RATE_LIMIT", "2")
    monkeypatch.setenv("AGENT_SESSIONS_ENV_LIMITS", '{"env_other": {"create_rate": 0, "token_rate": 5}}')
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def pat(api: Api, limits: None, clock: Clock) -> str:
    response = api("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key)
    assert response.status == 201, response.body
    return str(response.body["publicAccessToken"])


def append(api: Api, pat: str, part_id: str) -> Any:
    return api("POST", IN, body=MESSAGE, token=pat, headers={"x-part-id": part_id})


def stored_ids(api: Api) -> list[str]:
    body = api("GET", "/realtime/v1/sessions/chat-1/in/records", token=ENV.secret_key).body
    return [r["id"] for r in body["records"]]


def rate_headers(response: Any) -> tuple[int, int, int]:
    h = response.headers
    return int(h["x-ratelimit-limit"]), int(h["x-ratelimit-remaining"]), int(h["x-ratelimit-reset"])


def test_appends_carry_headers_and_the_one_over_the_limit_gets_429_and_stores_nothing(
    api: Api, pat: str, clock: Clock
) -> None:
    answers = [append(api, pat, f"p{i}") for i in range(3)]
    assert [a.status for a in answers] == [200, 200, 200]
    assert [rate_headers(a) for a in answers] == [(3, r, T0 + WINDOW_MS) for r in (2, 1, 0)]
    before = table_state()

    over = append(api, pat, "p3")

    assert over.status == 429
    assert over.body["code"] == "rate_limited" and over.body["error"]
    assert rate_headers(over) == (3, 0, T0 + WINDOW_MS)
    assert over.headers["access-control-allow-origin"] == "*"
    assert "x-should-retry" not in over.headers  # the client's 429 branch waits for the reset
    assert table_state() == before, "a refused append stores nothing and counts nothing"


def test_a_retry_with_the_same_part_id_after_the_reset_lands_exactly_once(
    api: Api, pat: str, clock: Clock
) -> None:
    for i in range(3):
        append(api, pat, f"p{i}")
    assert append(api, pat, "late").status == 429
    assert append(api, pat, "late").status == 429  # a too-early retry is refused again

    clock.ms = T0 + WINDOW_MS  # the reset the 429 named
    retried = append(api, pat, "late")
    again = append(api, pat, "late")  # its reply was lost: the client resends

    assert retried.status == again.status == 200
    assert retried.body == again.body == {"ok": True, "seq": 3}
    assert rate_headers(retried) == (3, 2, T0 + 2 * WINDOW_MS)
    assert stored_ids(api) == ["p0", "p1", "p2", "late"]


def test_a_resend_of_a_landed_append_is_answered_even_over_the_limit(
    api: Api, pat: str, clock: Clock
) -> None:
    for i in range(3):
        append(api, pat, f"p{i}")
    resend = append(api, pat, "p2")  # its first reply was lost; the window is now full
    assert resend.status == 200 and resend.body == {"ok": True, "seq": 2}
    assert rate_headers(resend) == (3, 0, T0 + WINDOW_MS)
    assert stored_ids(api) == ["p0", "p1", "p2"]


def test_a_lost_reply_to_the_append_transaction_counts_once(api: Api, pat: str, clock: Clock) -> None:
    with reply_lost("TransactWriteItems", "in_rate_count"):
        first = append(api, pat, "p0")
    assert first.status == 200 and rate_headers(first)[1] == 2
    session = store.get_session_item(store.session_pk(ENV.id, "chat-1"))
    assert session is not None and store.rate_window_of(session) == store.RateWindow(T0, 1)


def test_the_limit_is_per_session(api: Api, pat: str, clock: Clock) -> None:
    for i in range(3):
        append(api, pat, f"p{i}")
    other = api("POST", "/api/v1/sessions", body=create_body("chat-2"), token=ENV.secret_key).body
    response = api(
        "POST",
        "/realtime/v1/sessions/chat-2/in/append",
        body=MESSAGE,
        token=other["publicAccessToken"],
        headers={"x-part-id": "x"},
    )
    assert response.status == 200 and rate_headers(response)[1] == 2


def test_the_append_hot_path_costs_no_extra_request(api: Api, pat: str, clock: Clock) -> None:
    append(api, pat, "warm")
    with count_dynamodb_calls() as calls:
        response = append(api, pat, "measured")
    assert response.status == 200 and rate_headers(response)[1] == 1
    assert calls.total <= 3, calls.by_operation()  # as without limits (test_append_api)


def test_session_create_is_limited_per_environment(api: Api, limits: None, clock: Clock) -> None:
    made = [
        api("POST", "/api/v1/sessions", body=create_body(f"c{i}"), token=ENV.secret_key) for i in range(2)
    ]
    assert [m.status for m in made] == [201, 201]
    assert [rate_headers(m)[1] for m in made] == [1, 0]
    before = table_state()
    over = api("POST", "/api/v1/sessions", body=create_body("c2"), token=ENV.secret_key)
    assert over.status == 429 and rate_headers(over) == (2, 0, T0 + WINDOW_MS)
    assert table_state() == before
    # Another environment has its own counter, and this one's override turns the limit off.
    free = api("POST", "/api/v1/sessions", body=create_body("c3"), token=OTHER_ENV.secret_key)
    assert free.status == 201 and "x-ratelimit-limit" not in free.headers
    clock.ms = T0 + WINDOW_MS
    assert api("POST", "/api/v1/sessions", body=create_body("c2"), token=ENV.secret_key).status == 201


def test_token_mint_is_limited_per_environment(api: Api, limits: None, clock: Clock) -> None:
    scopes = {"scopes": ["read:sessions:chat-1"]}
    minted = [
        api("POST", "/api/v1/auth/public-tokens", body=scopes, token=ENV.secret_key),
        api("POST", "/api/v1/auth/jwt/claims", body={}, token=ENV.secret_key),
    ]
    assert [m.status for m in minted] == [200, 200]
    over = api("POST", "/api/v1/auth/public-tokens", body=scopes, token=ENV.secret_key)
    assert over.status == 429 and over.body["code"] == "rate_limited"
    other = api("POST", "/api/v1/auth/public-tokens", body=scopes, token=OTHER_ENV.secret_key)
    assert other.status == 200 and rate_headers(other) == (5, 4, T0 + WINDOW_MS)


def test_a_create_refused_as_bad_input_gives_its_count_back(api: Api, limits: None, clock: Clock) -> None:
    assert api("POST", "/api/v1/sessions", body=create_body("c0"), token=ENV.secret_key).status == 201
    taken = create_body("c0", task="other-task")
    before = table_state()
    assert api("POST", "/api/v1/sessions", body=taken, token=ENV.secret_key).status == 409
    assert table_state() == before, "the refused create's count was given back"
    clock.ms = T0 + WINDOW_MS  # a fresh window: the refused create was its only count
    before = table_state()
    assert api("POST", "/api/v1/sessions", body=taken, token=ENV.secret_key).status == 409
    assert table_state() == before
