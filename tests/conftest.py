"""Test-wide environment (fake AWS credentials, quiet Powertools, set before any AWS import) and the
`faulty_dynamodb` fixture: the store behind a fault-injecting proxy (tests/faults.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentSessionsTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
for name in ("AGENT_SESSIONS_SECRET_KEY", "AGENT_SESSIONS_DYNAMODB_URL", "AGENT_SESSIONS_KEYS_SECRET_NAME"):
    os.environ.pop(name, None)

import moto  # noqa: E402,F401  (must precede boto3 client creation so clients are intercepted)

from tests.faults import FaultProxy  # noqa: E402

# ---------------------------------------------------------------- DynamoDB with injected faults


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One linearizable moto server (the local stack's endpoint) for the test session; each
    `faulty_store` module gets its own tables on it."""
    from agent_sessions.local.dynamodb import EmbeddedDynamoDB

    server = EmbeddedDynamoDB()
    server.start()
    yield server.url
    server.stop()


class RecordingLauncher:
    """A launcher that only records: store-level fault tests need no running agent."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.resumed: list[str] = []

    def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
        self.started.append(run_id)
        return None

    def resume(self, task_token: str) -> None:
        self.resumed.append(task_token)


@pytest.fixture
def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore keeps retrying as configured, but waits 1/100 of its backoff (throttling waits seconds)."""
    from botocore.retries.standard import ExponentialBackoff

    original = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff, "delay_amount", lambda self, context: original(self, context) / 100
    )


@pytest.fixture(scope="module")
def faulty_store(moto_endpoint: str) -> Iterator[FaultProxy]:
    """Per test module: a `FaultProxy` in front of the embedded endpoint and table names for it.

    Module-scoped because pointing the store somewhere builds new botocore clients (about 1 s);
    `faulty_dynamodb` empties the tables before each test instead.
    """
    from agent_sessions import store
    from agent_sessions.config import reset_settings

    proxy = FaultProxy(moto_endpoint).start()
    suffix = uuid.uuid4().hex[:8]
    overrides = {
        "AGENT_SESSIONS_DYNAMODB_URL": proxy.url,
        "AGENT_SESSIONS_SESSIONS_TABLE": f"sessions-{suffix}",
        "AGENT_SESSIONS_RUNS_TABLE": f"runs-{suffix}",
        "AGENT_SESSIONS_STREAMS_TABLE": f"streams-{suffix}",
    }
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield proxy
    finally:
        proxy.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()
        store.configure()


def _fresh_tables(proxy: FaultProxy) -> None:
    """Point the store at `proxy` (unless it already is) and leave its tables existing and empty.

    Another fixture may have pointed the store elsewhere, and `mock_aws` (the `aws` fixture) resets
    moto's backends, the embedded server's included; both are repaired here.
    """
    from agent_sessions import store
    from agent_sessions.config import get_settings, reset_settings

    if store.StreamItem.Meta.host != proxy.url or get_settings().dynamodb_url != proxy.url:
        reset_settings()
        store.configure()
    with proxy.paused():
        for model in store.MODELS:
            if not model.exists():
                model.create_table(wait=False)  # moto's tables are ACTIVE at once; wait=True sleeps 2 s
                continue
            with model.batch_write() as batch:
                for item in model.scan(consistent_read=True):
                    batch.delete(item)


@pytest.fixture
def faulty_dynamodb(faulty_store: FaultProxy, fast_botocore_backoff: None) -> Iterator[FaultProxy]:
    """The store behind a fault-injecting proxy (tests/faults.py): empty tables, no faults planned yet.

    Add faults with `faulty_dynamodb.add(Rule(...))` or `.set_random(RandomFaults(...))`;
    `with faulty_dynamodb.paused():` sets up or verifies without faults. The key store holds
    `tests.support.ENV`; the launcher only records starts (`RecordingLauncher`).
    """
    from agent_sessions import keys, launchers
    from tests.support import ENV, OTHER_ENV

    faulty_store.clear()
    _fresh_tables(faulty_store)
    keys.set_key_store(keys.StaticKeyStore([ENV, OTHER_ENV]))
    launchers.set_launcher(RecordingLauncher())
    try:
        yield faulty_store
    finally:
        faulty_store.clear()
        launchers.set_launcher(None)
        keys.set_key_store(None)
