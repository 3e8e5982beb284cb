"""The client guide's examples run as written against the local stack."""

from __future__ import annotations

import importlib
import sys

import jwt
import pytest
from fastapi.testclient import TestClient

from agent_sessions.local.stack import LocalStack
from examples import weather_agent  # noqa: F401  (the script talks to the "weather" agent)


@pytest.fixture
def configured(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    monkeypatch.setenv("AGENT_SESSIONS_URL", stack.base_url)
    monkeypatch.setenv("AGENT_SESSIONS_SECRET_KEY", stack.secret_key)
    for name in ("examples.fastapi_backend", "examples.agent_chat_script"):
        sys.modules.pop(name, None)
    return stack


def test_fastapi_backend_starts_sessions_and_mints_tokens(configured: LocalStack) -> None:
    backend = importlib.import_module("examples.fastapi_backend")
    with TestClient(backend.app) as http:
        started = http.post(
            "/chat/start",
            json={"chatId": "fastapi-1", "clientData": {"userId": "forged"}},
            headers={"x-user-id": "u-42"},
        ).json()
        assert started["sessionId"].startswith("session_")
        token = http.post("/chat/token", json={"chatId": "fastapi-1"}).json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["scopes"] == ["read:sessions:fastapi-1", "write:sessions:fastapi-1"]
    session = backend.client.sessions.retrieve("fastapi-1")
    assert session.trigger_config["basePayload"]["metadata"] == {"userId": "u-42"}  # type: ignore[index]


def test_agent_chat_script(configured: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    script = importlib.import_module("examples.agent_chat_script")
    second = script.main("What is the weather in Paris?")
    assert "sunny, 21°C" in capsys.readouterr().out
    assert "snow, -3°C" in second
