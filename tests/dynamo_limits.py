"""DynamoDB's size limits, which moto does not enforce, as a botocore event hook; and write metering.

`enforce_dynamodb_limits()` refuses, as DynamoDB does with a `ValidationException`, any item over
400 KB and any `TransactWriteItems` over 100 items or 4 MB in all (sizes as DynamoDB counts them:
UTF-8 bytes of attribute names and values). `WriteMeter` records every item a write request carries
and the write units DynamoDB would bill for it (1 per started KB of each item, doubled inside a
transaction).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from agent_sessions import store

ITEM_LIMIT = 400 * 1024
TRANSACTION_BYTES = 4 * 1024 * 1024
TRANSACTION_ITEMS = 100


def value_bytes(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "N"):
        return len(str(inner).encode())
    if kind == "B":
        return len(inner)
    if kind in ("SS", "NS"):
        return sum(len(str(v).encode()) for v in inner)
    if kind == "L":
        return 3 + sum(value_bytes(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(v) + 1 for k, v in inner.items())
    return 1


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def written_items(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The items (or keys plus update values) a write request carries."""
    if operation == "PutItem":
        return [params["Item"]]
    if operation in ("UpdateItem", "DeleteItem"):
        return [{**params["Key"], **params.get("ExpressionAttributeValues", {})}]
    if operation == "BatchWriteItem":
        items = []
        for requests in params["RequestItems"].values():
            for request in requests:
                if "PutRequest" in request:
                    items.append(request["PutRequest"]["Item"])
                else:
                    items.append(request["DeleteRequest"]["Key"])
        return items
    if operation == "TransactWriteItems":
        items = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            if kind == "Put":
                items.append(body["Item"])
            elif kind != "ConditionCheck":
                items.append({**body["Key"], **body.get("ExpressionAttributeValues", {})})
        return items
    return []


def _refuse(operation: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": message}}, operation)


def _check(model: Any, params: dict[str, Any], **_: Any) -> None:
    items = written_items(model.name, params)
    for item in items:
        if item_bytes(item) > ITEM_LIMIT:
            raise _refuse(model.name, "Item size has exceeded the maximum allowed size")
    if model.name == "TransactWriteItems":
        if len(params["TransactItems"]) > TRANSACTION_ITEMS:
            raise _refuse(model.name, "Member must have length less than or equal to 100")
        if sum(item_bytes(i) for i in items) > TRANSACTION_BYTES:
            raise _refuse(model.name, "Transaction request cannot be larger than 4 MB")


def _clients() -> list[Any]:
    return [model._get_connection().connection.client for model in store.MODELS] + [store.connection().client]


@contextmanager
def enforce_dynamodb_limits() -> Iterator[None]:
    clients = _clients()
    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb", _check, unique_id="dynamodb-limits")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", unique_id="dynamodb-limits")


WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@dataclass
class WriteMeter:
    """Write requests, items and billed write units seen while `metering()` is active."""

    requests: int = 0
    items: int = 0
    bytes: int = 0
    units: int = 0
    units_by_operation: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name not in WRITES:
            return
        items = written_items(model.name, params)
        factor = 2 if model.name == "TransactWriteItems" else 1
        units = factor * sum(max(1, math.ceil(item_bytes(i) / 1024)) for i in items)
        with self.lock:
            self.requests += 1
            self.items += len(items)
            self.bytes += sum(item_bytes(i) for i in items)
            self.units += units
            self.units_by_operation[model.name] += units

    def take(self) -> dict[str, int]:
        """The counts so far, then zero them."""
        with self.lock:
            counts = {
                "requests": self.requests,
                "items": self.items,
                "bytes": self.bytes,
                "units": self.units,
            }
            self.requests = self.items = self.bytes = self.units = 0
        return counts


@contextmanager
def metering() -> Iterator[WriteMeter]:
    meter = WriteMeter()
    clients = _clients()
    for client in clients:
        client.meta.events.register(
            "provide-client-params.dynamodb", meter.record, unique_id=f"meter-{id(meter)}"
        )
    try:
        yield meter
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", unique_id=f"meter-{id(meter)}")
