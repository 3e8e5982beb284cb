"""Hostile and out-of-range input at the HTTP edge: every case a 4xx `{error, code}`, nothing stored.

Each value here once reached `int()`, `fromtimestamp()`, `astimezone()` or DynamoDB raw and
answered 500 (issue 9, item 3).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.integration.conftest import Api, create_body
from tests.support import ENV, table_state


def assert_clean_4xx(response: Any, status: int | None = None) -> None:
    assert 400 <= response.status < 500, (response.status, response.body)
    if status is not None:
        assert response.status == status, response.body
    assert isinstance(response.body, dict), response.body
    assert isinstance(response.body.get("error"), str) and isinstance(response.body.get("code"), str)
    assert response.headers.get("access-control-allow-origin"), response.headers


HUGE_DIGITS = "9" * 5000


@pytest.mark.parametrize(
    "after",
    ["²", "١٢", "-1", "1e3", " 1", HUGE_DIGITS, "9" * 39, str(2**63)],
)
def test_records_cursor_out_of_grammar_is_400(api: Api, created: dict[str, Any], after: str) -> None:
    response = api(
        "GET",
        "/realtime/v1/sessions/chat-1/out/records",
        query={"afterEventId": after},
        token=ENV.secret_key,
    )
    assert_clean_4xx(response, 400)


def test_records_cursor_at_the_bound_is_fine(api: Api, created: dict[str, Any]) -> None:
    response = api(
        "GET",
        "/realtime/v1/sessions/chat-1/out/records",
        query={"afterEventId": str(2**53 - 1)},
        token=ENV.secret_key,
    )
    assert response.status == 200 and response.body == {"records": []}


def test_append_body_that_is_not_utf8_is_400_and_stores_nothing(api: Api, created: dict[str, Any]) -> None:
    before = table_state()
    from tests.support import http_event

    event = http_event(
        "POST", "/realtime/v1/sessions/chat-1/in/append", token=created["publicAccessToken"], body=""
    )
    event["body"] = base64.b64encode(b'{"kind":"stop","x":"\xff\xfe"}').decode()
    event["isBase64Encoded"] = True
    result = api.resolver.resolve(event, None)
    response = api.wrap(result)
    assert_clean_4xx(response, 400)
    assert table_state() == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("filter[createdAt][from]", "9999999999999999"),
        ("filter[createdAt][to]", "-99999999999999999"),
        ("filter[createdAt][from]", HUGE_DIGITS),
        ("filter[createdAt][from]", "١٢"),
        ("filter[createdAt][period]", "²d"),
        ("filter[createdAt][period]", HUGE_DIGITS + "d"),
        ("page[size]", HUGE_DIGITS),
        ("page[size]", "²"),
        ("page[after]", base64.urlsafe_b64encode(b'{"a":1}').decode()),
        ("page[after]", base64.urlsafe_b64encode(b'{"pk":{"S":""}}').decode()),
        ("page[before]", base64.urlsafe_b64encode(b'{"pk":{"N":"1"},"list_env":{"S":"x"}}').decode()),
        ("page[after]", base64.urlsafe_b64encode(json.dumps({"pk": {"S": "x" * 3000}}).encode()).decode()),
        ("page[after]", "!!!"),
        ("page[after]", "x" * 10_000),
        ("filter[status]", "active"),
    ],
)
def test_list_query_out_of_range_is_400(api: Api, created: dict[str, Any], name: str, value: str) -> None:
    response = api("GET", "/api/v1/sessions", query={name: value}, token=ENV.secret_key)
    assert_clean_4xx(response, 400)


def test_list_cursor_of_another_environment_is_refused(api: Api, created: dict[str, Any]) -> None:
    api("POST", "/api/v1/sessions", body=create_body("chat-2"), token=ENV.secret_key)
    first = api("GET", "/api/v1/sessions", query={"page[size]": "1"}, token=ENV.secret_key)
    cursor = first.body["pagination"]["next"]
    key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    key["list_env"] = {"S": "env_other"}
    forged = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    response = api("GET", "/api/v1/sessions", query={"page[after]": forged}, token=ENV.secret_key)
    assert_clean_4xx(response, 400)


@pytest.mark.parametrize("period", ["9999999w", "99999999999w", "9999999999999999s"])
def test_list_period_longer_than_the_epoch_means_everything(
    api: Api, created: dict[str, Any], period: str
) -> None:
    response = api(
        "GET", "/api/v1/sessions", query={"filter[createdAt][period]": period}, token=ENV.secret_key
    )
    assert response.status == 200 and [s["externalId"] for s in response.body["data"]] == ["chat-1"]


@pytest.mark.parametrize(
    "expires_at",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00Z"],
)
def test_create_with_expiry_outside_the_calendar_is_400(api: Api, expires_at: str) -> None:
    before = table_state()
    response = api(
        "POST", "/api/v1/sessions", body=create_body("chat-x", expiresAt=expires_at), token=ENV.secret_key
    )
    assert_clean_4xx(response, 400)
    assert table_state() == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"scopes":["read:sessions:a"],"expirationTime":Infinity}',
        '{"scopes":["read:sessions:a"],"expirationTime":-Infinity}',
        '{"scopes":["read:sessions:a"],"expirationTime":NaN}',
        '{"scopes":["read:sessions:a"],"expirationTime":1e400}',
        '{"scopes":["read:sessions:a"],"expirationTime":1e300}',
        '{"scopes":["read:sessions:a"],"expirationTime":"99999999999999999999999d"}',
    ],
)
def test_public_token_expiration_out_of_range_is_400(api: Api, raw: str) -> None:
    response = api("POST", "/api/v1/auth/public-tokens", body=raw, token=ENV.secret_key)
    assert_clean_4xx(response, 400)


@pytest.mark.parametrize(
    "metadata",
    ["NaN", "Infinity", "-Infinity", '{"a":NaN}', '{"a":1e400}', '{"a":' + HUGE_DIGITS + "}"],
)
def test_non_finite_json_numbers_are_refused(api: Api, metadata: str) -> None:
    before = table_state()
    body = json.dumps(create_body("chat-nan"))[:-1] + ',"metadata":' + metadata + "}"
    response = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key)
    assert_clean_4xx(response, 400)
    assert table_state() == before


def test_metadata_numbers_beyond_dynamodb_precision_round_trip_or_refuse(api: Api) -> None:
    """A 39-digit integer fits JSON but not a DynamoDB number; stored as JSON text it round-trips."""
    body = json.dumps(create_body("chat-big"))[:-1] + ',"metadata":{"n":' + "9" * 39 + "}}"
    response = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key)
    assert response.status == 201 or 400 <= response.status < 500, response.body
    if response.status == 201:
        assert response.body["metadata"] == {"n": int("9" * 39)}


@pytest.mark.parametrize(
    "headers",
    [
        {"x-part-id": "p" * 257},
        {"x-part-id": "\u00e9" * 600},
    ],
)
def test_append_part_id_out_of_bounds_is_400(
    api: Api, created: dict[str, Any], headers: dict[str, str]
) -> None:
    before = table_state()
    response = api(
        "POST",
        "/realtime/v1/sessions/chat-1/in/append",
        body='{"kind":"stop"}',
        headers=headers,
        token=created["publicAccessToken"],
    )
    assert_clean_4xx(response, 400)
    assert table_state() == before


@pytest.mark.parametrize(
    "key",
    ["x" * 257, "\U0001f600" * 300, "%F0%9F%98%80" * 300],
)
def test_session_key_longer_than_any_id_is_4xx_without_a_store_error(api: Api, key: str) -> None:
    response = api("GET", f"/api/v1/sessions/{key}", token=ENV.secret_key)
    assert_clean_4xx(response)
