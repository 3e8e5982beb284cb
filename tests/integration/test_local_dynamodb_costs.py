"""The local DynamoDB does not slow down as it fills: the work of one append or one Query is the
items it touches, whatever else the table holds (moto alone copied and sorted the whole table).

Work is counted, not timed: items moto lists to answer a Query and items of whole-table copies a
transaction makes, on an empty table and after 1,000 items in other partitions.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto.dynamodb.models.table import Table

FILLER = 1_000


@pytest.fixture
def table(moto_endpoint: str) -> Iterator[Any]:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"costs-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "seq", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield SimpleNamespace(client=client, name=name)
    client.delete_table(TableName=name)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counters of moto's work: items listed by `Table.all_items` (what a Query sorts and
    filters) and items in whole-table copies (what a transaction backs up)."""
    counts = {"listed": 0, "copied": 0}
    all_items = Table.all_items

    def counted_all_items(self: Any) -> list[Any]:
        items = all_items(self)
        counts["listed"] += len(items)
        return items

    models = sys.modules["moto.dynamodb.models"]
    copier = models.copy

    def deepcopy(value: Any, memo: Any = None) -> Any:
        result = copier.deepcopy(value, memo)
        if isinstance(value, Table) and result is not value:
            counts["copied"] += sum(len(p) if isinstance(p, dict) else 1 for p in value.items.values())
        return result

    monkeypatch.setattr(Table, "all_items", counted_all_items)
    monkeypatch.setattr(models, "copy", SimpleNamespace(deepcopy=deepcopy))
    return counts


def _append(table: Any, pk: str, seq: int) -> None:
    """An append as the store makes it: the page and the head's move, in one transaction."""
    table.client.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table.name,
                    "Item": {"pk": {"S": pk}, "seq": {"N": str(seq)}, "records": {"S": "x" * 200}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": table.name,
                    "Key": {"pk": {"S": f"{pk}#head"}, "seq": {"N": "0"}},
                    "UpdateExpression": "SET next_seq = :n",
                    "ExpressionAttributeValues": {":n": {"N": str(seq + 1)}},
                }
            },
        ]
    )


def _read_tail(table: Any, pk: str) -> list[dict[str, Any]]:
    reply = table.client.query(
        TableName=table.name,
        KeyConditionExpression="pk = :pk AND seq > :after",
        ExpressionAttributeValues={":pk": {"S": pk}, ":after": {"N": "-1"}},
        ConsistentRead=True,
    )
    return list(reply["Items"])


def _work_of_one_turn(table: Any, work: dict[str, int], pk: str) -> dict[str, int]:
    before = dict(work)
    for seq in range(3):
        _append(table, pk, seq)
        _read_tail(table, pk)
    return {name: work[name] - before[name] for name in work}


def test_append_and_query_work_does_not_grow_with_the_table(table: Any, work: dict[str, int]) -> None:
    fresh = _work_of_one_turn(table, work, "fresh")
    for start in range(0, FILLER, 25):
        table.client.batch_write_item(
            RequestItems={
                table.name: [
                    {"PutRequest": {"Item": {"pk": {"S": f"other-{i % 40}"}, "seq": {"N": str(i)}}}}
                    for i in range(start, start + 25)
                ]
            }
        )
    filled = _work_of_one_turn(table, work, "filled")

    assert filled == fresh, f"work per append grew with the table: {fresh} when empty, {filled} when full"
    assert filled["copied"] == 0
    assert filled["listed"] <= 1 + 2 + 3, "a Query lists more than its own partition"


def test_a_cancelled_transaction_undoes_only_its_own_writes(table: Any) -> None:
    """The put that preceded a failed condition in the same transaction is undone; an item the
    transaction did not name (written before it) stays."""
    _append(table, "kept", 0)
    with pytest.raises(table.client.exceptions.TransactionCanceledException):
        table.client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table.name, "Item": {"pk": {"S": "undone"}, "seq": {"N": "0"}}}},
                {
                    "Update": {
                        "TableName": table.name,
                        "Key": {"pk": {"S": "kept#head"}, "seq": {"N": "0"}},
                        "UpdateExpression": "SET next_seq = :n",
                        "ConditionExpression": "next_seq = :wrong",
                        "ExpressionAttributeValues": {":n": {"N": "9"}, ":wrong": {"N": "7"}},
                    }
                },
            ]
        )
    assert _read_tail(table, "undone") == []
    assert [item["seq"]["N"] for item in _read_tail(table, "kept")] == ["0"]
    head = table.client.get_item(
        TableName=table.name, Key={"pk": {"S": "kept#head"}, "seq": {"N": "0"}}, ConsistentRead=True
    )
    assert head["Item"]["next_seq"] == {"N": "1"}
