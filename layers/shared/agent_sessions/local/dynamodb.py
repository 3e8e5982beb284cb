"""The local stack's embedded DynamoDB endpoint: moto's server, one request at a time.

moto's backends are not safe under concurrent requests: `TransactWriteItems` deep-copies the
tables it touches and, when the transaction is cancelled, assigns the copies back, erasing what
other requests committed meanwhile; the copy itself can fail with "dictionary changed size during
iteration". `SerializedApp` therefore runs moto's WSGI app behind one lock, so every request takes
effect atomically in the order the lock admits it: the endpoint is linearizable. Request bodies
are read before the lock is taken and replies are sent after it is released, so a slow client
never holds it.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

StartResponse = Any  # the WSGI start_response callable
Environ = dict[str, Any]


class SerializedApp:
    """WSGI middleware: the wrapped app handles one request at a time, body and reply buffered."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            status, headers, reply = self.call_locked(environ)
        start_response(status, headers)
        return [reply]

    def call_locked(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the wrapped app to completion; the caller holds `lock`."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return chunks.append

        result = self.app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started[0], started[1], b"".join(chunks)


def _read_body(environ: Environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    if length > 0:
        return bytes(stream.read(length))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


class EmbeddedDynamoDB:
    """moto's server app on a threaded werkzeug server, behind `SerializedApp`.

    `start()` binds `host:port` (port 0 picks a free one) and serves on a daemon thread; `url` is
    then the endpoint to give boto3 / PynamoDB. `stop()` shuts the server down.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.host, self.port = host, port
        self.app = SerializedApp(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-dynamodb", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
