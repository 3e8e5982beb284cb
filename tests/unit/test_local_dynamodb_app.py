"""`SerializedApp`: the wrapped WSGI app runs under the lock, on a body read beforehand."""

from __future__ import annotations

import io
from typing import Any

import pytest

from agent_sessions.local.dynamodb import SerializedApp


class OneShotStream(io.BytesIO):
    """A socket-like body: it can be read once; reading it again is a bug."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        assert self.reads == 1, "the body was read from the socket twice"
        return super().read(size)


def call(app: SerializedApp, body: bytes) -> tuple[str, bytes]:
    started: list[str] = []
    environ = {"wsgi.input": OneShotStream(body), "CONTENT_LENGTH": str(len(body))}
    reply = b"".join(app(environ, lambda status, headers: started.append(status)))
    return started[0], reply


def test_the_wrapped_app_runs_under_the_lock_and_its_reply_is_sent_after() -> None:
    seen: dict[str, Any] = {}

    def inner(environ: dict[str, Any], start_response: Any) -> Any:
        seen["locked"] = app.lock.locked()
        seen["body"] = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Type", "application/json")])

        def chunks() -> Any:
            seen["locked_while_streaming"] = app.lock.locked()
            yield b'{"ok":'
            yield b"true}"

        return chunks()

    app = SerializedApp(inner)
    status, reply = call(app, b'{"TableName":"t"}')
    assert (status, reply) == ("200 OK", b'{"ok":true}')
    assert seen == {"locked": True, "body": b'{"TableName":"t"}', "locked_while_streaming": True}
    assert not app.lock.locked()


def test_a_failing_app_releases_the_lock() -> None:
    def inner(environ: dict[str, Any], start_response: Any) -> Any:
        raise RuntimeError("boom")

    app = SerializedApp(inner)
    with pytest.raises(RuntimeError):
        call(app, b"{}")
    assert not app.lock.locked()
