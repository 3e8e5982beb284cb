"""Start and stop the local stack: DynamoDB endpoint, tables, key, launcher, HTTP server."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from agent_sessions import keys, launchers, store
from agent_sessions.client.discovery import write_local_base_url
from agent_sessions.config import get_settings, reset_settings
from agent_sessions.http import stream
from agent_sessions.local.dynamodb import EmbeddedDynamoDB
from agent_sessions.local.launcher import LocalLauncher
from agent_sessions.local.server import create_app
from agent_sessions.recovery import SweepThread

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "AgentSessions",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def dev_secret_key(state_dir: Path) -> str:
    """`AGENT_SESSIONS_SECRET_KEY`, else the key generated on first start and kept in `state_dir`."""
    explicit = os.environ.get("AGENT_SESSIONS_SECRET_KEY")
    if explicit:
        return explicit
    path = state_dir / "secret-key"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = keys.generate_root_key("dev")
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


class _Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Open SSE responses would hold the graceful-shutdown window to its end; ended, they
        # finish with `[DONE]` within a poll and their connections close.
        stream.end_readers()
        await super().shutdown(sockets)


class LocalStack:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8787,
        dynamodb_url: str | None = None,
        secret_key: str | None = None,
        state_dir: Path | None = None,
        suspend_timeout_seconds: float | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.dynamodb_url = dynamodb_url or os.environ.get("AGENT_SESSIONS_DYNAMODB_URL")
        self.state_dir = state_dir or Path(os.environ.get("AGENT_SESSIONS_STATE_DIR", ".agent-sessions"))
        self.secret_key = secret_key or dev_secret_key(self.state_dir)
        self.suspend_timeout_seconds = suspend_timeout_seconds
        self.environ = environ or {}
        self._dynamodb: EmbeddedDynamoDB | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.launcher: LocalLauncher | None = None
        self.sweeper: SweepThread | None = None
        self._saved_environ: dict[str, str | None] = {}

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def data_path(self) -> Path | None:
        """Where the embedded DynamoDB keeps its data (None with an external endpoint)."""
        return self._dynamodb.data_path if self._dynamodb is not None else None

    def prepare(self) -> None:
        """Everything but the HTTP server: endpoint, settings, tables, keys, launcher."""
        self._saved_environ = {name: os.environ.get(name) for name in _FAKE_AWS}
        for name, value in _FAKE_AWS.items():
            os.environ.setdefault(name, value)
        if not self.dynamodb_url:
            self._dynamodb = EmbeddedDynamoDB(state_dir=self.state_dir)
            self._dynamodb.start()
            self.dynamodb_url = self._dynamodb.url
        overrides = {
            # appends, runs and readers all live in this process: they wake each other (notify.py)
            "AGENT_SESSIONS_PUSH_IN_PROCESS": os.environ.get("AGENT_SESSIONS_PUSH_IN_PROCESS", "true"),
            **self.environ,
            "AGENT_SESSIONS_DYNAMODB_URL": self.dynamodb_url,
            "AGENT_SESSIONS_SECRET_KEY": self.secret_key,
            "AGENT_SESSIONS_LAUNCHER": "local",
            "AGENT_SESSIONS_CHECK_TASKS": "true",
        }
        self._saved_environ |= {
            name: os.environ.get(name) for name in overrides if name not in self._saved_environ
        }
        os.environ.update(overrides)
        reset_settings()
        store.configure()
        store.create_tables()
        keys.set_key_store(
            keys.StaticKeyStore([keys.Environment(get_settings().environment_id, self.secret_key)])
        )
        self.launcher = LocalLauncher(suspend_timeout_seconds=self.suspend_timeout_seconds)
        launchers.set_launcher(self.launcher)
        self.sweeper = SweepThread(self.launcher)
        self.sweeper.start()

    def _make_server(self) -> uvicorn.Server:
        config = uvicorn.Config(
            create_app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
            lifespan="off",
        )
        return _Server(config)

    def serve_forever(self, on_ready: Callable[[LocalStack], None] | None = None) -> None:
        self.prepare()
        write_local_base_url(self.state_dir, self.base_url)
        if on_ready is not None:
            on_ready(self)
        self._server = self._make_server()
        try:
            self._server.run()
        finally:
            self.stop()

    def start_in_background(self) -> None:
        self.prepare()
        self._server = self._make_server()
        self._thread = threading.Thread(target=self._server.run, name="local-http", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("local HTTP server failed to start")
            threading.Event().wait(0.02)
        write_local_base_url(self.state_dir, self.base_url)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        stream.close_readers()
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        if self.launcher is not None:
            self.launcher.shutdown()
            self.launcher = None
        if self._dynamodb is not None:
            self._dynamodb.stop()
            self._dynamodb = None
            self.dynamodb_url = None
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ = {}
        reset_settings()
