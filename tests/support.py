"""Helpers shared by the test suites: an in-process AWS, an HTTP API event builder, call counting."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from agent_sessions import keys, store

ENV = keys.Environment("env_test", "tr_dev_" + "a1B2c3D4e5F6g7H8i9J0k1L2")
OTHER_ENV = keys.Environment("env_other", "tr_dev_" + "Z9y8X7w6V5u4T3s2R1q0P9o8")


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    raw = body if isinstance(body, str) or body is None else json.dumps(body)
    hdrs = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    if token is not None:
        hdrs["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": hdrs,
        "queryStringParameters": query,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "test",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": raw,
        "isBase64Encoded": False,
    }


def table_state() -> dict[str, list[str]]:
    """Every item of every table (sorted JSON), to prove a rejected request changed nothing."""
    client = store.connection().client
    state: dict[str, list[str]] = {}
    for model in store.MODELS:
        name = model.Meta.table_name
        items: list[str] = []
        kwargs: dict[str, Any] = {"TableName": name}
        while True:
            page = client.scan(**kwargs)
            items += [json.dumps(i, sort_keys=True) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        state[name] = sorted(items)
    return state


@dataclass
class DynamoCalls:
    """Every DynamoDB request made by any PynamoDB connection, by operation name."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.calls.append((model.name, params))

    @property
    def total(self) -> int:
        return len(self.calls)

    def by_operation(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()


def _clients() -> list[Any]:
    clients = [model._get_connection().connection.client for model in store.MODELS]
    clients.append(store.connection().client)
    return clients


@contextmanager
def count_dynamodb_calls() -> Iterator[DynamoCalls]:
    counter = DynamoCalls()
    clients = _clients()
    for client in clients:
        client.meta.events.register(
            "provide-client-params.dynamodb", counter.record, unique_id=f"count-{id(counter)}"
        )
    try:
        yield counter
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", unique_id=f"count-{id(counter)}")


@dataclass
class SseRecord:
    seq: int
    body: str
    headers: list[list[str]]

    @property
    def control(self) -> str | None:
        return next((v for k, v in self.headers if k == "trigger-control"), None)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    @property
    def chunk(self) -> Any:
        return json.loads(self.body)["data"] if self.body else None


@dataclass
class SseRead:
    status: int
    headers: dict[str, str]
    records: list[SseRecord]
    events: list[str]
    done: bool


def read_sse(
    base_url: str,
    key: str,
    token: str,
    *,
    io: str = "out",
    last_event_id: int | None = None,
    timeout_seconds: int = 10,
    until_control: str | None = "turn-complete",
    min_in_seq: int | None = None,
    max_records: int | None = None,
    extra_headers: dict[str, str] | None = None,
) -> SseRead:
    """Read an SSE v2 stream the way the transport does, stopping at a matching control record."""
    import httpx

    headers = {
        "authorization": f"Bearer {token}",
        "accept": "text/event-stream",
        "timeout-seconds": str(timeout_seconds),
        **(extra_headers or {}),
    }
    if last_event_id is not None:
        headers["last-event-id"] = str(last_event_id)
    records: list[SseRecord] = []
    events: list[str] = []
    done = False
    url = f"{base_url}/realtime/v1/sessions/{key}/{io}"
    with httpx.stream("GET", url, headers=headers, timeout=timeout_seconds + 10) as response:
        if response.status_code != 200:
            response.read()
            return SseRead(response.status_code, dict(response.headers), [], [], False)
        event = "message"
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
                events.append(event)
                if data == "[DONE]":
                    done = True
                    break
                if event == "batch":
                    for r in json.loads(data)["records"]:
                        rec = SseRecord(r["seq_num"], r["body"], r["headers"])
                        records.append(rec)
                        stop_here = (
                            rec.control == until_control
                            and until_control is not None
                            and (
                                min_in_seq is None
                                or int(rec.header("session-in-event-id") or -1) >= min_in_seq
                            )
                        )
                        if stop_here or (max_records is not None and len(records) >= max_records):
                            return SseRead(200, dict(response.headers), records, events, False)
                event = "message"
        return SseRead(200, dict(response.headers), records, events, done)


@dataclass
class ReplyLost:
    """A commit-then-fail fault: the write lands, its reply is "lost", and botocore retries it."""

    operation: str
    match: str
    times: int = 1
    fired: int = 0

    def __call__(self, response: Any, request_dict: dict[str, Any], operation: Any, **_: Any) -> int | None:
        if self.fired >= self.times or operation.name != self.operation:
            return None
        body = request_dict.get("body")
        text = body.decode() if isinstance(body, bytes) else str(body)
        status = (response or (None, {}))[1].get("ResponseMetadata", {}).get("HTTPStatusCode")
        if self.match not in text or status != 200:
            return None
        self.fired += 1
        return 0  # retry at once: the same request meets its own committed write


@contextmanager
def reply_lost(operation: str, match: str, times: int = 1) -> Iterator[ReplyLost]:
    """Make the first `times` successful `operation` requests whose body contains `match` look
    lost after they committed, so the SDK's retry sees what the first attempt wrote."""
    fault = ReplyLost(operation, match, times)
    clients = _clients()
    for client in clients:
        client.meta.events.register_first("needs-retry.dynamodb", fault, unique_id=f"lost-{id(fault)}")
    try:
        yield fault
    finally:
        for client in clients:
            client.meta.events.unregister("needs-retry.dynamodb", unique_id=f"lost-{id(fault)}")
