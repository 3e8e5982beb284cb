"""The local stack as a user meets it: startup banner, OpenAPI, key persistence, Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agent_sessions.http import openapi
from agent_sessions.http.api import build_resolver
from agent_sessions.keys import ROOT_KEY_RE
from agent_sessions.local.dynamodb import EmbeddedDynamoDB
from tests.e2e.conftest import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


def test_banner_prints_url_and_a_root_shaped_dev_key(local_stack: RunningStack) -> None:
    assert local_stack.base_url.startswith("http://127.0.0.1:")
    assert ROOT_KEY_RE.match(local_stack.secret_key)


def test_openapi_document_lists_every_route(local_stack: RunningStack) -> None:
    doc = httpx.get(f"{local_stack.base_url}/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    resolver = build_resolver()
    registered = set()
    for route in resolver._static_routes + resolver._dynamic_routes:
        if route.method == "OPTIONS":
            continue
        path = route.path.replace("<", "{").replace(">", "}")
        registered.add((route.method, path))
    registered |= {
        ("GET", "/realtime/v1/sessions/{session}/{io}"),
        ("HEAD", "/realtime/v1/sessions/{session}/{io}"),
    }
    assert documented == registered
    assert doc == openapi.document(local_stack.base_url)


def test_dev_key_survives_a_restart_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    first = start_stack(tmp_path)
    assert stop_stack(first) == 0
    assert "stopped" in first.process.stdout.read()  # type: ignore[union-attr]
    second = start_stack(tmp_path)
    try:
        assert second.secret_key == first.secret_key
    finally:
        stop_stack(second)


def test_secret_key_from_the_environment_wins(tmp_path: Path) -> None:
    key = "tr_dev_" + "EnvK3yEnvK3yEnvK3yEnvK3y"
    stack = start_stack(tmp_path, AGENT_SESSIONS_SECRET_KEY=key)
    try:
        assert stack.secret_key == key
        claims = httpx.post(
            f"{stack.base_url}/api/v1/auth/jwt/claims", headers={"authorization": f"Bearer {key}"}
        )
        assert claims.status_code == 200
    finally:
        stop_stack(stack)


def test_an_existing_dynamodb_endpoint_is_used_instead_of_the_embedded_one(tmp_path: Path) -> None:
    server = EmbeddedDynamoDB()
    server.start()
    url = server.url
    try:
        stack = start_stack(tmp_path, AGENT_SESSIONS_DYNAMODB_URL=url)
        try:
            assert any(f"DynamoDB:   {url}" in line for line in stack.output)
            body = {
                "type": "chat.agent",
                "externalId": "ext-db",
                "taskIdentifier": "demo-chat",
                "triggerConfig": {"basePayload": {}},
            }
            created = httpx.post(
                f"{stack.base_url}/api/v1/sessions",
                json=body,
                headers={"authorization": f"Bearer {stack.secret_key}"},
            )
            assert created.status_code == 201
        finally:
            stop_stack(stack)
        import boto3

        tables = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1").list_tables()
        assert "agent-sessions-sessions" in tables["TableNames"]
    finally:
        server.stop()


def test_concurrent_requests_never_see_each_others_bodies(local_stack: RunningStack) -> None:
    """The buffered routes share one Powertools resolver; concurrent requests must stay apart."""
    from concurrent.futures import ThreadPoolExecutor

    auth_header = {"authorization": f"Bearer {local_stack.secret_key}"}
    body = {
        "type": "chat.agent",
        "externalId": "concurrency",
        "taskIdentifier": "demo-chat",
        "triggerConfig": {"basePayload": {}},
    }
    httpx.post(f"{local_stack.base_url}/api/v1/sessions", json=body, headers=auth_header)

    def append(i: int) -> int:
        response = httpx.post(
            f"{local_stack.base_url}/realtime/v1/sessions/concurrency/in/append",
            content=f'{{"kind":"probe","n":{i}}}',
            headers={**auth_header, "x-part-id": f"p{i}"},
        )
        return int(response.json()["seq"])

    def noise(_: int) -> int:
        return httpx.get(
            f"{local_stack.base_url}/api/v1/sessions/concurrency", headers=auth_header
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        seqs = list(pool.map(append, range(24)))
        assert set(pool.map(noise, range(24))) == {200}
    records = httpx.get(
        f"{local_stack.base_url}/realtime/v1/sessions/concurrency/in/records", headers=auth_header
    ).json()["records"]
    by_part = {r["id"]: r["data"] for r in records}
    assert sorted(seqs) == list(range(24))
    assert all(by_part[f"p{i}"] == f'{{"kind":"probe","n":{i}}}' for i in range(24))
