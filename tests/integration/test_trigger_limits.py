"""Trigger settings that cost money are bounded server-side; a browser cannot raise them.

`basePayload.idleTimeoutInSeconds` of 1e9 reached the worker, which then looped on `continue`
and billed around the clock; `maxAttempts` went to Step Functions as sent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from agent_sessions import launchers, store, trigger_limits
from agent_sessions.client import AgentSessions
from agent_sessions.config import reset_settings
from tests.integration.conftest import Api, create_body
from tests.support import ENV


def _create(api: Api, **config: Any) -> dict[str, Any]:
    body = create_body()
    body["triggerConfig"].update(config)
    response = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key)
    assert response.status == 201, response.body
    return dict(response.body)


def _run_payload(created: dict[str, Any]) -> dict[str, Any]:
    run = store.get_run(created["runId"])
    assert run is not None
    return dict(run.payload or {})


def _execution_input(launcher: launchers.StepFunctionsLauncher, created: dict[str, Any]) -> dict[str, Any]:
    run = store.get_run(created["runId"])
    assert run is not None and run.execution_arn
    return dict(json.loads(launcher.client.describe_execution(executionArn=run.execution_arn)["input"]))


def test_a_base_payload_idle_timeout_never_reaches_the_worker(api: Api) -> None:
    created = _create(api, basePayload={"chatId": "chat-1", "idleTimeoutInSeconds": 1e9})
    assert _run_payload(created)["idleTimeoutInSeconds"] == 30


def test_the_session_idle_timeout_is_clamped_to_the_deployment_maximum(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_IDLE_TIMEOUT_MAX_SECONDS", "600")
    reset_settings()
    created = _create(api, idleTimeoutInSeconds=3600)
    assert _run_payload(created)["idleTimeoutInSeconds"] == 600


def test_an_idle_timeout_outside_the_protocol_range_is_a_400(api: Api) -> None:
    body = create_body()
    body["triggerConfig"]["idleTimeoutInSeconds"] = 1e9
    response = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key)
    assert response.status == 400 and response.body["code"], response.body
    assert api("GET", "/api/v1/sessions/chat-1", token=ENV.secret_key).status == 404


def test_max_attempts_is_capped_by_the_deployment(aws: launchers.StepFunctionsLauncher, api: Api) -> None:
    created = _create(api, maxAttempts=10)
    assert _execution_input(aws, created)["maxAttempts"] == 3


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, 30),
        (1e9, 3600),
        (float("inf"), 30),
        (float("nan"), 30),
        ("600", 30),
        (True, 30),
        (0, 1),
        (-5, 1),
        (45, 45),
    ],
)
def test_every_reader_of_the_idle_timeout_gets_a_bounded_value(requested: Any, expected: int) -> None:
    """Runs stored before the bound (payload already holding 1e9) are bounded when read, too."""
    reset_settings()
    assert trigger_limits.idle_timeout_seconds(requested) == expected


def test_the_start_session_action_takes_task_and_trigger_config_from_the_server_only() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        return httpx.Response(
            201,
            json={
                "id": "session_x",
                "externalId": body["externalId"],
                "type": body["type"],
                "taskIdentifier": body["taskIdentifier"],
                "triggerConfig": body["triggerConfig"],
                "currentRunId": "run_x",
                "tags": [],
                "metadata": None,
                "closedAt": None,
                "closedReason": None,
                "expiresAt": None,
                "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
                "runId": "run_x",
                "publicAccessToken": "pat",
                "isCached": False,
            },
        )

    client = AgentSessions(
        ENV.secret_key, "http://server.test", http=httpx.Client(transport=httpx.MockTransport(handler))
    )
    start = client.sessions.create_start_session_action(
        "my-agent", trigger_config={"idleTimeoutInSeconds": 60}, base_payload={"plan": "server"}
    )
    start(
        {
            "chat_id": "c1",
            "task_id": "expensive-agent",
            "client_data": {"idleTimeoutInSeconds": 1e9},
            "trigger_config": {"idleTimeoutInSeconds": 1e9, "maxAttempts": 10},
            "base_payload": {"idleTimeoutInSeconds": 1e9},
        }
    )
    [body] = sent
    assert body["taskIdentifier"] == "my-agent"
    config = body["triggerConfig"]
    assert config["idleTimeoutInSeconds"] == 60 and "maxAttempts" not in config
    assert "idleTimeoutInSeconds" not in config["basePayload"]
    assert config["basePayload"]["plan"] == "server"
    assert config["basePayload"]["metadata"] == {"idleTimeoutInSeconds": 1e9}  # client data, inert
