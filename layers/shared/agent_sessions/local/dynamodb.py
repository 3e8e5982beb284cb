"""The local stack's embedded DynamoDB endpoint: moto's server, one request at a time.

moto's backends are not safe under concurrent requests: `TransactWriteItems` deep-copies the
tables it touches and, when the transaction is cancelled, assigns the copies back, erasing what
other requests committed meanwhile; the copy itself can fail with "dictionary changed size during
iteration". `SerializedApp` therefore runs moto's WSGI app behind one lock, so every request takes
effect atomically in the order the lock admits it: the endpoint is linearizable. Request bodies
are read before the lock is taken and replies are sent after it is released, so a slow client
never holds it.

Given a state directory, the endpoint is also durable (`journal.py`): every successful mutating
request is journaled and fsynced under the same lock before its reply is sent, and a start on the
same directory replays the journal, so the data survives a restart or a SIGKILL.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import EnvironBuilder

from agent_sessions.local import moto_costs
from agent_sessions.local.journal import Entry, Journal
from agent_sessions.observability import logger

StartResponse = Any  # the WSGI start_response callable
Environ = dict[str, Any]


# Called under the lock after the wrapped app answered (environ, request body, HTTP status); if it
# raises, the reply is replaced by a 500 and the endpoint refuses every later request.
Commit = Callable[[Environ, bytes, int], None]


class SerializedApp:
    """WSGI middleware: the wrapped app handles one request at a time, body and reply buffered.

    `commit`, if given, runs under the lock before the reply is released (the journal's hook). A
    commit that fails stops the endpoint (every request then answers 500): the backend holds a
    change the journal lacks, and answering on would hide the loss until the next restart.
    """

    def __init__(self, app: Any, commit: Commit | None = None) -> None:
        self.app = app
        self.commit = commit
        self.lock = threading.Lock()
        self.failed: BaseException | None = None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            if self.failed is not None:
                status, headers, reply = _internal_error(f"the local DynamoDB stopped: {self.failed}")
            else:
                status, headers, reply = self.call_locked(environ)
                if self.commit is not None:
                    try:
                        self.commit(environ, body, int(status.split()[0]))
                    except Exception as exc:
                        logger.exception("the local DynamoDB could not journal a write; stopping")
                        self.failed = exc
                        status, headers, reply = _internal_error(f"journal write failed: {exc}")
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


def _internal_error(message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": message}
    headers = [("Content-Type", "application/x-amz-json-1.0")]
    return "500 Internal Server Error", headers, json.dumps(body).encode()


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


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d+/([^/,\s]+)/")
_TARGET_PREFIX = "DynamoDB_20120810."
_SCAN_PAGE = 500
COMPACT_AFTER_REPLAY_BYTES = 256 * 1024


def request_entry(environ: Environ, body: bytes) -> Entry | None:
    """The journal entry of a DynamoDB request (None for any other service or a malformed one)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not target.startswith(_TARGET_PREFIX) or credential is None:
        return None
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return Entry(target.removeprefix(_TARGET_PREFIX), credential.group(2), credential.group(1), parsed)


def entry_environ(entry: Entry) -> Environ:
    """A WSGI environ that sends `entry` to moto as boto3 would (moto reads region and account
    from the signature's credential scope and does not verify the signature)."""
    headers = {
        "X-Amz-Target": _TARGET_PREFIX + entry.op,
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={entry.access_key}/20200101/{entry.region}/dynamodb/aws4_request, "
            "SignedHeaders=host;x-amz-target, Signature=0"
        ),
    }
    data = json.dumps(entry.body).encode()
    builder = EnvironBuilder(method="POST", path="/", headers=list(headers.items()), data=data)
    return dict(builder.get_environ())


class EmbeddedDynamoDB:
    """moto's server app on a threaded werkzeug server, behind `SerializedApp`.

    `start()` binds `host:port` (port 0 picks a free one) and serves on a daemon thread; `url` is
    then the endpoint to give boto3 / PynamoDB. `stop()` shuts the server down.

    With `state_dir`, the data lives in `state_dir/dynamodb.jsonl` (see `journal.py`): `start()`
    takes the directory, empties moto's DynamoDB backend (it is process-wide: one durable endpoint
    per process), replays the journal and compacts it if it is long. Without, the data lives in memory only.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state_dir: Path | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto_costs.install()  # a request costs what it touches, not the size of its table
        self.host, self.port = host, port
        self.journal = Journal.in_dir(state_dir) if state_dir is not None else None
        commit = self._journal_write if self.journal is not None else None
        self.app = SerializedApp(DomainDispatcherApplication(create_backend_app), commit)
        self.replayed = 0
        self.expired = 0
        """Items whose TTL had passed, left out by the compactions since start (see `_compact`)."""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def data_path(self) -> Path | None:
        """The journal file that holds the data, or None when the data lives in memory only."""
        return self.journal.path if self.journal is not None else None

    def start(self) -> None:
        """Replay the journal (if any), then serve.

        Raises JournalInUse if another process serves from the same state directory, RuntimeError
        on a corrupt journal.
        """
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        if self.journal is not None:
            self.journal.acquire()
            _reset_moto_dynamodb()
            with self.app.lock:
                self.replayed = self.journal.replay(self._execute)
                if self.journal.size >= COMPACT_AFTER_REPLAY_BYTES:
                    self._compact()  # the next start replays one put per item
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
        if self.journal is not None:
            with self.app.lock:
                self.journal.close()

    def _journal_write(self, environ: Environ, body: bytes, status: int) -> None:
        assert self.journal is not None
        if status >= 300:
            return  # a refused request changed nothing
        entry = request_entry(environ, body)
        if entry is None or not Journal.records(entry.op):
            return
        self.journal.append(entry)
        if self.journal.should_compact():
            self._compact()

    def _execute(self, entry: Entry) -> tuple[int, dict[str, Any]]:
        """Run one request against moto directly; the caller holds the lock."""
        status, _, reply = self.app.call_locked(entry_environ(entry))
        return int(status.split()[0]), json.loads(reply or b"{}")

    def _compact(self) -> None:
        """Rewrite the journal as the current state, leaving out items whose TTL has passed, and
        delete those from moto too (moto never expires items; DynamoDB deletes them in the
        background, so a local stack that honours TTL at compaction behaves as one that is late)."""
        assert self.journal is not None
        expired: list[tuple[tuple[str, str, str], dict[str, Any]]] = []
        self.journal.compact(lambda table: self._live_items(table, expired))
        for (access_key, region, name), key in expired:
            self._execute(Entry("DeleteItem", region, access_key, {"TableName": name, "Key": key}))
        self.expired += len(expired)

    def _live_items(
        self, table: tuple[str, str, str], expired: list[tuple[tuple[str, str, str], dict[str, Any]]]
    ) -> Iterator[dict[str, Any]]:
        ttl = self._ttl_attribute(table)
        keys = self._key_attributes(table) if ttl else []
        now = time.time()
        for item in self._scan(table):
            value = item.get(ttl or "", {}).get("N") if ttl else None
            if value is not None and float(value) < now:
                expired.append((table, {k: item[k] for k in keys}))
                continue
            yield item

    def _ttl_attribute(self, table: tuple[str, str, str]) -> str | None:
        access_key, region, name = table
        status, reply = self._execute(Entry("DescribeTimeToLive", region, access_key, {"TableName": name}))
        spec = reply.get("TimeToLiveDescription", {}) if status < 300 else {}
        return spec.get("AttributeName") if spec.get("TimeToLiveStatus") == "ENABLED" else None

    def _key_attributes(self, table: tuple[str, str, str]) -> list[str]:
        access_key, region, name = table
        status, reply = self._execute(Entry("DescribeTable", region, access_key, {"TableName": name}))
        if status >= 300:
            raise RuntimeError(f"cannot describe table {name} to compact the journal: {reply}")
        return [key["AttributeName"] for key in reply["Table"]["KeySchema"]]

    def _scan(self, table: tuple[str, str, str]) -> Iterator[dict[str, Any]]:
        access_key, region, name = table
        start: dict[str, Any] | None = None
        while True:
            body: dict[str, Any] = {"TableName": name, "ConsistentRead": True, "Limit": _SCAN_PAGE}
            if start is not None:
                body["ExclusiveStartKey"] = start
            status, reply = self._execute(Entry("Scan", region, access_key, body))
            if status >= 300:
                raise RuntimeError(f"cannot read table {name} to compact the journal: {reply}")
            yield from reply.get("Items", [])
            start = reply.get("LastEvaluatedKey")
            if not start:
                return


def _reset_moto_dynamodb() -> None:
    from moto.dynamodb.models import dynamodb_backends

    for account in dynamodb_backends.values():
        account.reset()
