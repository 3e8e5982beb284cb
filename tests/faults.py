"""A fault-injecting DynamoDB proxy: the same faults for unit tests, the campaign and `make chaos`.

`FaultProxy` is a small threaded HTTP server on 127.0.0.1 (port 0) that forwards every request to a
DynamoDB endpoint (moto's server in tests) and, per request, may instead

* fail it **before** forwarding, with the error body DynamoDB really sends:
  `before_write` (500 `InternalServerError`), `throttle` (400 `ThrottlingException`), `throughput`
  (400 `ProvisionedThroughputExceededException`), `conflict` (400 `TransactionCanceledException` with a
  `TransactionConflict` reason for a transaction, `TransactionConflictException` for a single write);
* forward it and then fail the **reply** (`after_write_reply_lost`: the write landed, the caller gets
  a 500 `InternalServerError`, so botocore's own retry resends a request that already committed);
* `delay` it before forwarding.

Which request fails is a parameter, never a sleep: a `Rule` picks the Nth request matching an
operation (from `X-Amz-Target`) and a predicate on the JSON body; `RandomFaults` fails a seeded
fraction for campaigns. Every request is recorded (`proxy.seen`), so a test can assert what was
injected. Typical use, through the `faulty_dynamodb` fixture in `tests/conftest.py`:

    @pytest.mark.parametrize("fault", WRITE_FAULTS)
    def test_out_page_is_written_once(faulty_dynamodb: FaultProxy, fault: Fault) -> None:
        faulty_dynamodb.add(Rule(fault, operation="TransactWriteItems", where=puts_to("#out")))
        ...  # exercise the code; then assert on the store and on faulty_dynamodb.injected()

botocore's standard retry mode (what PynamoDB configures: 4 attempts) resends after 500,
`ThrottlingException` and `ProvisionedThroughputExceededException`; it does not resend a
`TransactionCanceledException`, which the application sees.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Body = dict[str, Any]
Predicate = Callable[[Body], bool]

_PREFIX = "com.amazonaws.dynamodb.v20120810#"
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


class Fault(StrEnum):
    BEFORE_WRITE = "before_write"
    AFTER_WRITE_REPLY_LOST = "after_write_reply_lost"
    THROTTLE = "throttle"
    THROUGHPUT = "throughput"
    CONFLICT = "conflict"
    DELAY = "delay"


ERROR_FAULTS = (
    Fault.BEFORE_WRITE,
    Fault.AFTER_WRITE_REPLY_LOST,
    Fault.THROTTLE,
    Fault.THROUGHPUT,
    Fault.CONFLICT,
)
"""Every fault that makes a request fail (all but `delay`)."""


def error_reply(fault: Fault, body: Body | None = None, operation: str = "") -> tuple[int, Body]:
    """(status, JSON body) DynamoDB answers for `fault`; `body` sizes a transaction's reasons."""
    if fault in (Fault.BEFORE_WRITE, Fault.AFTER_WRITE_REPLY_LOST):
        return 500, {"__type": _PREFIX + "InternalServerError", "message": "Internal server error"}
    if fault is Fault.THROTTLE:
        return 400, {
            "__type": _PREFIX + "ThrottlingException",
            "message": "Rate of requests exceeds the allowed throughput.",
        }
    if fault is Fault.THROUGHPUT:
        return 400, {
            "__type": _PREFIX + "ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API.",
        }
    if fault is Fault.CONFLICT:
        if operation != "TransactWriteItems":
            return 400, {
                "__type": _PREFIX + "TransactionConflictException",
                "message": "Transaction is ongoing for the item",
            }
        count = max(1, len((body or {}).get("TransactItems", [])))
        reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(count)]
        reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        codes = ", ".join(r["Code"] for r in reasons)
        return 400, {
            "__type": _PREFIX + "TransactionCanceledException",
            "CancellationReasons": reasons,
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]",
        }
    raise ValueError(f"{fault} is not an error fault")


# ---------------------------------------------------------------- choosing the request


def operation_of(headers: Any) -> str:
    target = headers.get("X-Amz-Target") or ""
    return str(target).rpartition(".")[2]


def puts_to(fragment: str) -> Predicate:
    """Matches a request that writes an item whose `pk` contains `fragment` (e.g. `"#out"`, `"#in"`)."""
    needle = fragment

    def match(body: Body) -> bool:
        return needle in json.dumps(body.get("TransactItems") or body.get("Item") or body.get("Key") or {})

    return match


@dataclass
class Rule:
    """Inject `fault` into the `nth` (1-based) request matching `operation` and `where`, `times` in a row.

    A proxy consults its rules in order and the first that takes a request decides it; later rules
    neither see nor count that request."""

    fault: Fault
    operation: str | None = None
    where: Predicate | None = None
    nth: int = 1
    times: int = 1
    delay: float = 0.0
    matched: int = 0
    fired: int = 0

    def take(self, operation: str, body: Body) -> bool:
        if self.operation is not None and operation != self.operation:
            return False
        if self.where is not None and not self.where(body):
            return False
        self.matched += 1
        if self.matched >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


@dataclass
class RandomFaults:
    """Fail `rate` of the requests (of `operations`, if given) with a fault drawn from `faults`.

    Seeded, so a campaign's sequence of decisions is reproducible for a given request order.
    `delay_rate` of the remaining requests wait up to `max_delay` seconds first.
    """

    rate: float
    seed: int = 0
    faults: tuple[Fault, ...] = ERROR_FAULTS
    delay_rate: float = 0.0
    max_delay: float = 0.05
    operations: frozenset[str] | None = None
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def choose(self, operation: str) -> tuple[Fault | None, float]:
        if self.operations is not None and operation not in self.operations:
            return None, 0.0
        roll = self.rng.random()
        if roll < self.rate:
            fault = self.rng.choice(self.faults)
            if fault is Fault.CONFLICT and operation not in WRITE_OPERATIONS:
                fault = Fault.BEFORE_WRITE  # reads never conflict with a transaction
            return fault, 0.0
        if self.rng.random() < self.delay_rate:
            return Fault.DELAY, self.rng.random() * self.max_delay
        return None, 0.0


@dataclass(frozen=True)
class Seen:
    """One request through the proxy: its operation, the fault injected (if any), the status answered."""

    operation: str
    fault: Fault | None
    status: int
    body: Body


# ---------------------------------------------------------------- the proxy


class FaultProxy:
    """Forwards DynamoDB requests to `upstream`, injecting faults per `Rule`s or `RandomFaults`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.rules: list[Rule] = []
        self.random: RandomFaults | None = None
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- plan

    def add(self, *rules: Rule) -> FaultProxy:
        with self._lock:
            self.rules.extend(rules)
        return self

    def set_random(self, faults: RandomFaults | None) -> FaultProxy:
        with self._lock:
            self.random = faults
        return self

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.random = None
            self.seen.clear()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No faults inside the block (set-up and verification reads); the plan resumes after."""
        with self._lock:
            rules, chaos = self.rules, self.random
            self.rules, self.random = [], None
        try:
            yield
        finally:
            with self._lock:
                self.rules, self.random = rules, chaos

    # -- what happened

    def injected(self, fault: Fault | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.fault is not None and (fault is None or s.fault is fault)]

    def counts(self) -> Counter[str]:
        """Requests by operation, and injected faults by name."""
        with self._lock:
            counts = Counter(s.operation for s in self.seen)
            counts.update(f"fault:{s.fault}" for s in self.seen if s.fault is not None)
        return counts

    # -- per request

    def _decide(self, operation: str, body: Body) -> tuple[Fault | None, float]:
        with self._lock:
            for rule in self.rules:
                if rule.take(operation, body):
                    return rule.fault, rule.delay
            if self.random is not None:
                return self.random.choose(operation)
        return None, 0.0

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def forward(
        self, method: str, path: str, headers: dict[str, str], payload: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=60)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length) if length else b""
            operation = operation_of(self.headers)
            try:
                body: Body = json.loads(payload) if payload else {}
            except ValueError:
                body = {}
            fault, delay = proxy._decide(operation, body) if operation else (None, 0.0)
            if fault is Fault.DELAY:
                time.sleep(delay)
            if fault not in (None, Fault.DELAY, Fault.AFTER_WRITE_REPLY_LOST):
                assert fault is not None
                status, error = error_reply(fault, body, operation)
                proxy._record(Seen(operation, fault, status, body))
                self._reply_json(status, error)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            status, reply_headers, reply = proxy.forward(self.command, self.path, headers, payload)
            if fault is Fault.AFTER_WRITE_REPLY_LOST:
                status, error = error_reply(fault)
                proxy._record(Seen(operation, fault, status, body))
                self._reply_json(status, error)
                return
            proxy._record(Seen(operation, fault if fault is Fault.DELAY else None, status, body))
            self.send_response(status)
            for name, value in reply_headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def _reply_json(self, status: int, error: Body) -> None:
            raw = json.dumps(error).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", uuid.uuid4().hex.upper())
            self.send_header("x-amz-crc32", str(zlib.crc32(raw)))
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler
