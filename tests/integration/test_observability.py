"""Handlers log structured lines with ids, emit metrics, and never log a credential."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from agent_sessions import streams
from agent_sessions.agents import Outcome, agent
from agent_sessions.http.realtime_app import create_app
from agent_sessions.keys import StaticKeyStore, set_key_store
from agent_sessions.lambda_entry import http_handler, worker_handler
from agent_sessions.run_context import RunContext
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
    create = http_handler("start")
    append = http_handler("append")
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


# ---------------------------------------------------------------- metrics the dashboard and alarms read


class _WorkerContext(_Context):
    function_name = "agent-worker"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 15 * 60_000


def _emitted(out: str) -> dict[str, list[float]]:
    """Metric name -> values, from the EMF lines Powertools printed."""
    values: dict[str, list[float]] = {}
    for line in out.splitlines():
        if line.startswith('{"_aws"'):
            doc = json.loads(line)
            assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "AgentSessions"
            assert doc["service"] == "agent-sessions"
            for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = doc[metric["Name"]]
                values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


def _answer_once(ctx: RunContext) -> Outcome:
    (record,) = ctx.poll_input()
    ctx.begin_turn(record.seq)
    ctx.out.write_chunk({"type": "text-delta", "id": "t", "delta": "hi"})
    ctx.complete_turn(record.seq)
    return "done"


def _boom(ctx: RunContext) -> Outcome:
    raise RuntimeError("boom")


agent("t-metrics-once")(_answer_once)
agent("t-metrics-boom")(_boom)


def _session_with_message(api: Any, chat_id: str, task: str, **trigger_config: Any) -> dict[str, Any]:
    body = create_body(chat_id, task=task)
    body["triggerConfig"].update(trigger_config)
    created: dict[str, Any] = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key).body
    message = {"kind": "message", "payload": {"chatId": chat_id, "trigger": "submit-message"}}
    api(
        "POST",
        f"/realtime/v1/sessions/{chat_id}/in/append",
        body=json.dumps(message),
        token=created["publicAccessToken"],
    )
    return created


@pytest.fixture
def emf(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> pytest.CaptureFixture[str]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    set_key_store(StaticKeyStore([ENV]))
    capsys.readouterr()
    return capsys


def test_a_turn_emits_time_to_first_chunk_from_the_input_append(
    api: Any, emf: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _session_with_message(api, "ttfc", "t-metrics-once")
    (appended,) = streams.read_after(created["id"], "in", -1)
    # The worker commits the first chunk 1,234 ms after the append (clock injected, no sleep).
    monkeypatch.setattr(streams, "now_ms", lambda: appended.timestamp + 1234)
    emf.readouterr()

    handler = worker_handler()
    assert handler({"runId": created["runId"], "attempt": 0}, _WorkerContext()) == {"status": "done"}

    values = _emitted(emf.readouterr().out)
    assert values["TimeToFirstChunk"] == [1234]
    assert sum(values["RecordsWritten"]) == 2  # the chunk and the turn-complete
    assert sum(values["OutPagesWritten"]) >= 1
    (gb_seconds,) = values["WorkerGbSeconds"]
    assert 0 < gb_seconds < 60  # 1 GB x the invocation's wall seconds


def test_a_run_that_fails_for_good_emits_runs_failed_and_each_attempt_attempts_failed(
    api: Any, emf: pytest.CaptureFixture[str]
) -> None:
    created = _session_with_message(api, "boom", "t-metrics-boom", maxAttempts=2)
    handler = worker_handler()
    for attempt in (0, 1):
        emf.readouterr()
        with pytest.raises(RuntimeError, match="boom"):
            handler({"runId": created["runId"], "attempt": attempt}, _WorkerContext())
        values = _emitted(emf.readouterr().out)
        assert values["AttemptsFailed"] == [1]
        assert values.get("RunsFailed") == ([1] if attempt == 1 else None)
        assert len(values["WorkerGbSeconds"]) == 1, "a failed invocation is billed too"


def test_the_function_url_app_publishes_its_metrics_after_each_request(
    api: Any, emf: pytest.CaptureFixture[str]
) -> None:
    created = api("POST", "/api/v1/sessions", body=create_body("url-metrics"), token=ENV.secret_key).body
    emf.readouterr()
    with TestClient(create_app()) as client:
        response = client.post(
            "/realtime/v1/sessions/url-metrics/in/append",
            content="x",
            headers={"authorization": f"Bearer {created['publicAccessToken']}"},
        )
        assert response.status_code == 200
        assert _emitted(emf.readouterr().out)["Appends"] == [1]
