"""Session routes through the real resolver against moto: shapes, status codes, idempotency."""

from __future__ import annotations

from typing import Any

from agent_sessions import auth, store
from tests.integration.conftest import Api, create_body
from tests.support import ENV

SESSION_ITEM_KEYS = {
    "id",
    "externalId",
    "type",
    "taskIdentifier",
    "triggerConfig",
    "currentRunId",
    "tags",
    "metadata",
    "closedAt",
    "closedReason",
    "expiresAt",
    "createdAt",
    "updatedAt",
}


def test_create_returns_session_item_run_and_token(api: Api, created: dict[str, Any]) -> None:
    assert SESSION_ITEM_KEYS | {"runId", "publicAccessToken", "isCached"} <= set(created)
    assert created["id"].startswith("session_") and len(created["id"]) == len("session_") + 25
    assert created["runId"].startswith("run_") and created["currentRunId"] == created["runId"]
    assert created["isCached"] is False
    claims = auth.authenticate(created["publicAccessToken"]).claims
    assert claims["scopes"] == ["read:sessions:chat-1", "write:sessions:chat-1"]
    assert claims["exp"] - claims["iat"] == 3600


def test_create_is_idempotent_on_external_id(api: Api, created: dict[str, Any], aws: Any) -> None:
    again = api("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key)
    assert again.status == 200
    assert again.body["id"] == created["id"] and again.body["isCached"] is True
    assert again.body["runId"] == created["runId"], "a live run is reused, not replaced"
    assert again.body["publicAccessToken"]
    executions = aws.client.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert len(executions) == 1


def test_create_without_external_id_always_creates(api: Api) -> None:
    first = api("POST", "/api/v1/sessions", body=create_body(None), token=ENV.secret_key)
    second = api("POST", "/api/v1/sessions", body=create_body(None), token=ENV.secret_key)
    assert first.status == second.status == 201
    assert first.body["id"] != second.body["id"]


def test_cached_create_rewrites_nothing(api: Api, created: dict[str, Any]) -> None:
    """Unlike the reference, which refreshes `triggerConfig` (see docs/architecture.md)."""
    body = create_body(tags=["x"])
    body["triggerConfig"]["basePayload"]["metadata"] = {"user": "u2"}
    again = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key)
    assert again.body["triggerConfig"] == created["triggerConfig"]
    assert again.body["tags"] == []


def test_retrieve_by_both_id_forms(api: Api, created: dict[str, Any]) -> None:
    by_external = api("GET", "/api/v1/sessions/chat-1", token=ENV.secret_key)
    by_friendly = api("GET", f"/api/v1/sessions/{created['id']}", token=ENV.secret_key)
    assert by_external.status == by_friendly.status == 200
    assert by_external.body == by_friendly.body
    assert set(by_external.body) == SESSION_ITEM_KEYS


def test_pat_reads_its_session_by_either_form(api: Api, created: dict[str, Any]) -> None:
    pat = created["publicAccessToken"]
    assert api("GET", "/api/v1/sessions/chat-1", token=pat).status == 200
    assert api("GET", f"/api/v1/sessions/{created['id']}", token=pat).status == 200


def test_unknown_session_is_404(api: Api) -> None:
    for key in ("nope", "session_" + "x" * 25):
        response = api("GET", f"/api/v1/sessions/{key}", token=ENV.secret_key)
        assert response.status == 404
        assert response.body["error"] == "Session not found"


def test_update_tags_and_metadata_and_refuse_external_id_change(api: Api, created: dict[str, Any]) -> None:
    updated = api(
        "PATCH", "/api/v1/sessions/chat-1", body={"tags": ["a"], "metadata": {"k": 1}}, token=ENV.secret_key
    )
    assert updated.status == 200 and updated.body["tags"] == ["a"] and updated.body["metadata"] == {"k": 1}
    refused = api("PATCH", "/api/v1/sessions/chat-1", body={"externalId": "other"}, token=ENV.secret_key)
    assert refused.status == 422
    cleared = api("PATCH", "/api/v1/sessions/chat-1", body={"metadata": None}, token=ENV.secret_key)
    assert cleared.body["metadata"] is None and cleared.body["tags"] == ["a"]


def test_close_is_idempotent_and_blocks_create_and_append(api: Api, created: dict[str, Any]) -> None:
    closed = api("POST", "/api/v1/sessions/chat-1/close", body={"reason": "done"}, token=ENV.secret_key)
    assert closed.status == 200 and closed.body["closedAt"] and closed.body["closedReason"] == "done"
    again = api("POST", "/api/v1/sessions/chat-1/close", body={"reason": "other"}, token=ENV.secret_key)
    assert again.body["closedAt"] == closed.body["closedAt"] and again.body["closedReason"] == "done"

    create = api("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key)
    assert create.status == 409 and create.headers["x-should-retry"] == "false"
    assert create.body["code"] == "session_closed"

    append = api(
        "POST",
        "/realtime/v1/sessions/chat-1/in/append",
        body={"kind": "stop"},
        token=created["publicAccessToken"],
    )
    assert append.status == 409
    assert append.body == {
        "error": "Cannot append to a closed session",
        "code": "session_closed",
        "ok": False,
        "closedReason": "done",
    }
    assert append.headers["x-should-retry"] == "false"
    assert append.headers["access-control-allow-origin"] == "*"


def test_external_close_wakes_the_run_and_tells_readers(api: Api, created: dict[str, Any]) -> None:
    api("POST", "/api/v1/sessions/chat-1/close", token=ENV.secret_key)
    out = api("GET", "/realtime/v1/sessions/chat-1/out/records", token=ENV.secret_key).body["records"]
    assert out[-1]["headers"][0] == ["trigger-control", "session-closed"]
    inbound = api("GET", "/realtime/v1/sessions/chat-1/in/records", token=ENV.secret_key).body["records"]
    assert '"trigger":"close"' in inbound[-1]["data"].replace(" ", "")


def test_close_by_the_agent_itself_writes_no_wakeup(api: Api, created: dict[str, Any]) -> None:
    body = {"reason": "bye", "callingRunId": created["runId"]}
    assert api("POST", "/api/v1/sessions/chat-1/close", body=body, token=ENV.secret_key).status == 200
    assert api("GET", "/realtime/v1/sessions/chat-1/in/records", token=ENV.secret_key).body["records"] == []


def test_list_pages_newest_first_with_cursors(api: Api) -> None:
    ids = [
        api("POST", "/api/v1/sessions", body=create_body(f"c{i}"), token=ENV.secret_key).body["id"]
        for i in range(5)
    ]
    first = api("GET", "/api/v1/sessions", query={"page[size]": "2"}, token=ENV.secret_key)
    assert [s["id"] for s in first.body["data"]] == ids[::-1][:2]
    assert "previous" not in first.body["pagination"]
    second = api(
        "GET",
        "/api/v1/sessions",
        query={"page[size]": "2", "page[after]": first.body["pagination"]["next"]},
        token=ENV.secret_key,
    )
    assert [s["id"] for s in second.body["data"]] == ids[::-1][2:4]
    back = api(
        "GET",
        "/api/v1/sessions",
        query={"page[size]": "2", "page[before]": second.body["pagination"]["previous"]},
        token=ENV.secret_key,
    )
    assert [s["id"] for s in back.body["data"]] == ids[::-1][:2]
    last = api(
        "GET",
        "/api/v1/sessions",
        query={"page[size]": "2", "page[after]": second.body["pagination"]["next"]},
        token=ENV.secret_key,
    )
    assert [s["id"] for s in last.body["data"]] == ids[:1]
    assert "next" not in last.body["pagination"]


def test_list_filters(api: Api) -> None:
    api("POST", "/api/v1/sessions", body=create_body("keep", tags=["t1"]), token=ENV.secret_key)
    api("POST", "/api/v1/sessions", body=create_body("drop"), token=ENV.secret_key)
    api("POST", "/api/v1/sessions/drop/close", token=ENV.secret_key)
    tagged = api("GET", "/api/v1/sessions", query={"filter[tags]": "t1"}, token=ENV.secret_key).body["data"]
    assert [s["externalId"] for s in tagged] == ["keep"]
    closed = api("GET", "/api/v1/sessions", query={"filter[status]": "CLOSED"}, token=ENV.secret_key).body[
        "data"
    ]
    assert [s["externalId"] for s in closed] == ["drop"]
    by_ext = api("GET", "/api/v1/sessions", query={"filter[externalId]": "keep"}, token=ENV.secret_key).body[
        "data"
    ]
    assert len(by_ext) == 1


def test_session_runs_lists_audit_rows(api: Api, created: dict[str, Any]) -> None:
    response = api("GET", "/api/v1/sessions/chat-1/runs", token=created["publicAccessToken"])
    assert response.status == 200
    assert [(r["runId"], r["reason"]) for r in response.body["data"]] == [(created["runId"], "initial")]
    assert response.body["data"][0]["triggeredAt"].endswith("Z")


def test_end_and_continue_swaps_and_audits(api: Api, created: dict[str, Any]) -> None:
    body = {"callingRunId": created["runId"], "reason": "upgrade"}
    swapped = api("POST", "/api/v1/sessions/chat-1/end-and-continue", body=body, token=ENV.secret_key)
    assert swapped.status == 200 and swapped.body["swapped"] is True
    assert swapped.body["runId"] != created["runId"]
    stale = api("POST", "/api/v1/sessions/chat-1/end-and-continue", body=body, token=ENV.secret_key)
    assert stale.body == {"runId": swapped.body["runId"], "swapped": False}
    reasons = [
        r["reason"] for r in api("GET", "/api/v1/sessions/chat-1/runs", token=ENV.secret_key).body["data"]
    ]
    assert reasons == ["initial", "upgrade"]
    run = store.get_run(swapped.body["runId"])
    assert run is not None and run.payload["continuation"] is True
    assert run.payload["previousRunId"] == created["runId"] and "trigger" not in run.payload


def test_end_and_continue_unknown_calling_run_is_404(api: Api, created: dict[str, Any]) -> None:
    body = {"callingRunId": "run_" + "z" * 25, "reason": "upgrade"}
    assert (
        api("POST", "/api/v1/sessions/chat-1/end-and-continue", body=body, token=ENV.secret_key).status == 404
    )


def test_claims_and_public_tokens(api: Api) -> None:
    claims = api("POST", "/api/v1/auth/jwt/claims", token=ENV.secret_key)
    assert claims.status == 200 and claims.body == {"sub": ENV.id, "pub": True}
    minted = api(
        "POST",
        "/api/v1/auth/public-tokens",
        body={"scopes": ["read:sessions:x"], "expirationTime": "2h"},
        token=ENV.secret_key,
    )
    assert minted.status == 200
    principal = auth.authenticate(minted.body["token"])
    assert principal.claims["scopes"] == ["read:sessions:x"]
    assert 7190 <= principal.claims["exp"] - principal.claims["iat"] <= 7200
    assert "otu" not in principal.claims
    assert api("POST", "/api/v1/auth/jwt/claims", token=minted.body["token"]).status == 401
    assert (
        api("POST", "/api/v1/auth/public-tokens", body={"scopes": ["a"]}, token=minted.body["token"]).status
        == 403
    )
    past = api(
        "POST",
        "/api/v1/auth/public-tokens",
        body={"scopes": ["a"], "expirationTime": 1},
        token=ENV.secret_key,
    )
    assert past.status == 400


def test_cors_preflight_and_headers_on_errors(api: Api) -> None:
    pre = api(
        "OPTIONS",
        "/realtime/v1/sessions/chat-1/in/append",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-part-id,authorization,content-type",
        },
    )
    assert pre.status == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "x-part-id" in pre.headers["access-control-allow-headers"].lower()
    err = api("GET", "/api/v1/sessions/nope", token=ENV.secret_key, headers={"origin": "https://app.example"})
    assert err.status == 404 and err.headers["access-control-expose-headers"] == "*"
