from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from agent_sessions import keys, launchers, store
from agent_sessions.config import reset_settings
from agent_sessions.http.api import build_resolver
from agent_sessions.http.paths import canonical_path
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import SUSPEND_TIMEOUT, free_port
from tests.support import ENV, OTHER_ENV, http_event

PASS_ASL = json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}})


def serialize_in_process_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process moto answers each request on the caller's thread, and its backends are not
    safe under concurrent requests (a cancelled transaction restores stale copies of its tables):
    serve one request at a time, as the local stack's endpoint does. Reentrant, for moto services
    that call others."""
    lock = threading.RLock()
    handle = BotocoreStubber.__call__

    def serialized(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        with lock:
            return handle(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", serialized)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[launchers.StepFunctionsLauncher]:
    """moto in-process, one request at a time: the three tables, two environments, and a Step
    Functions launcher."""
    monkeypatch.delenv("AGENT_SESSIONS_DYNAMODB_URL", raising=False)
    serialize_in_process_moto(monkeypatch)
    with mock_aws():
        reset_settings()
        store.configure()
        store.create_tables()
        keys.set_key_store(keys.StaticKeyStore([ENV, OTHER_ENV]))
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="agent-run", definition=PASS_ASL, roleArn="arn:aws:iam::123456789012:role/sfn"
        )["stateMachineArn"]
        launcher = launchers.StepFunctionsLauncher(arn, client=sfn)
        launchers.set_launcher(launcher)
        yield launcher
        launchers.set_launcher(None)
        keys.set_key_store(None)


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: Any


class Api:
    def __init__(self) -> None:
        self.resolver = build_resolver()

    def __call__(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        """Call a route as the Function URL bridge does: `path` percent-encoded as a client sends it."""
        return self.wrap(self.resolver.resolve(http_event(method, canonical_path(path), **kwargs), None))

    @staticmethod
    def wrap(result: dict[str, Any]) -> ApiResponse:
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return ApiResponse(result["statusCode"], {k.lower(): v for k, v in result["headers"].items()}, body)


@pytest.fixture
def api(aws: Any) -> Api:
    return Api()


def create_body(chat_id: str | None = "chat-1", task: str = "demo-chat", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "chat.agent",
        "taskIdentifier": task,
        "triggerConfig": {"basePayload": {"chatId": chat_id, "trigger": "preload", "messages": []}},
        **extra,
    }
    if chat_id is not None:
        body["externalId"] = chat_id
    return body


@pytest.fixture
def created(api: Api) -> dict[str, Any]:
    response = api("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key)
    assert response.status == 201, response.body
    return dict(response.body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack per test module: moto server, real HTTP, agents on threads."""
    local = LocalStack(
        port=free_port(),
        state_dir=Path(tmp_path_factory.mktemp("state")),
        secret_key="tr_dev_" + "L0calT3stK3y0000000000aa",
        suspend_timeout_seconds=SUSPEND_TIMEOUT,
    )
    local.start_in_background()
    local.launcher.retry_delay = 0.1  # type: ignore[union-attr]
    yield local
    local.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """`advance(seconds)` moves the store's clock (`store.epoch`: every lease, window and age
    decision) forward; real time keeps running underneath."""
    offset = [0.0]
    real = store.epoch
    monkeypatch.setattr(store, "epoch", lambda: real() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance
