"""Handlers log structured lines with ids, emit metrics, and never log a credential."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from agent_sessions.http.api import append_router, start_router
from agent_sessions.lambda_entry import http_handler
from tests.integration.conftest import create_body
from tests.support import ENV, http_event


class _Context:
    function_name = "append"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:append"
    aws_request_id = "req-1"


def test_handlers_log_ids_and_metrics_but_never_tokens(
    aws: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    logging.getLogger("agent-sessions").setLevel(logging.DEBUG)
    create = http_handler(start_router)
    append = http_handler(append_router)
    created = json.loads(
        create(http_event("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key), _Context())[
            "body"
        ]
    )
    pat = created["publicAccessToken"]
    response = append(
        http_event("POST", "/realtime/v1/sessions/chat-1/in/append", body="x", token=pat), _Context()
    )
    assert response["statusCode"] == 200
    out = capsys.readouterr().out
    assert ENV.secret_key not in out and pat not in out
    metrics = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    names = {m["Name"] for doc in metrics for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"SessionsCreated", "Appends", "RunsStarted_initial"} <= names
