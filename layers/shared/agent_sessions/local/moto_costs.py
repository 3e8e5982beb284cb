"""Make moto's DynamoDB cost what DynamoDB's does, so the local stack does not slow down as it fills.

Two of moto's operations cost the size of the whole table where DynamoDB's cost the size of what
they touch, so every append of a well-used local stack paid for every record ever written:

* `Query` on a table lists every item of the table, sorts them, then keeps one partition
  (`Table.all_items`); DynamoDB reads one partition, from the sort key onwards.
* `TransactWriteItems` deep-copies every table it touches first, to restore them if the
  transaction is cancelled; DynamoDB changes only the items it names.

`install()` patches both, process-wide and once: a base-table `Query` lists only the items of its
partition (still sorted by sort key, so moto's own range conditions, paging and limits apply
unchanged), and a transaction backs up only the items it names (deep copies, restored in reverse
order when moto raises). moto's whole-table backup is skipped (its "restore" then assigns each
table to itself). What moto answers is unchanged; only the work per request is bounded.
"""

from __future__ import annotations

import copy
import sys
import threading
from types import SimpleNamespace
from typing import Any

_query_partition = threading.local()
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Patch moto's DynamoDB backend (idempotent; moto's module-level state is process-wide)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _patch_query()
        _patch_transactions()
        _installed = True


def _patch_query() -> None:
    from moto.dynamodb.models.table import Table

    original_all_items = Table.all_items
    original_query = Table.query

    def all_items(self: Any) -> list[Any]:
        hint = getattr(_query_partition, "value", None)
        if hint is not None and hint[0] is self:
            partition = self.items.get(hint[1])  # .get: the defaultdict must not grow
            items = sorted(partition.values(), key=lambda item: item.range_key) if partition else []
        else:
            items = original_all_items(self)
        return items

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or self.range_key_attr is None:
            return original_query(self, hash_key, *args, **kwargs)
        previous = getattr(_query_partition, "value", None)
        _query_partition.value = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_partition.value = previous

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _patch_transactions() -> None:
    from moto.dynamodb.models import DynamoDBBackend, Table
    from moto.dynamodb.models.dynamo_type import DynamoType

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            return value  # the transaction backs up the items it names instead
        return copy.deepcopy(value, memo)

    # moto's models module uses `copy.deepcopy` for the table backup and for an item's old image.
    sys.modules["moto.dynamodb.models"].copy = SimpleNamespace(deepcopy=deepcopy)  # type: ignore[attr-defined]

    original = DynamoDBBackend.transact_write_items

    def key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
        attrs = op.get("Item") if op_type == "Put" else op.get("Key")
        if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            return None  # moto refuses it with its own validation error
        range_attr = table.range_key_attr
        if range_attr is not None and range_attr not in attrs:
            return None
        hash_value = DynamoType(attrs[table.hash_key_attr])
        return hash_value, DynamoType(attrs[range_attr]) if range_attr is not None else None

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            key = key_of(table, op_type, op) if table is not None else None
            if key is None:
                continue
            hash_value, range_value = key
            current = _lookup(table, hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(current)))
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(saved):
                _restore(table, hash_value, range_value, item)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _lookup(table: Any, hash_value: Any, range_value: Any) -> Any:
    if range_value is None:
        return table.items.get(hash_value)
    partition = table.items.get(hash_value)
    return partition.get(range_value) if partition else None


def _restore(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    if item is None:
        partition = table.items.get(hash_value)
        if partition is not None:
            partition.pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item
