"""The embedded DynamoDB's journal: what a restart on the same state directory brings back.

Each test runs the endpoint in this process, writes through boto3 over HTTP, stops or abandons
the endpoint, and starts a new one on the same directory. (A real SIGKILL of the local stack is in
tests/e2e/test_local_persistence.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from agent_sessions.local import dynamodb
from agent_sessions.local.dynamodb import EmbeddedDynamoDB
from agent_sessions.local.journal import JOURNAL_NAME, JournalInUse

TABLE = "journal-test"


def client(endpoint: EmbeddedDynamoDB) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[EmbeddedDynamoDB]]:
    """Endpoints started by a test, stopped at its end if the test left them running."""
    endpoints: list[EmbeddedDynamoDB] = []
    yield endpoints
    for endpoint in endpoints:
        if endpoint._server is not None:
            endpoint.stop()


def start(state_dir: Path, started: list[EmbeddedDynamoDB], **journal: Any) -> tuple[EmbeddedDynamoDB, Any]:
    endpoint = EmbeddedDynamoDB(state_dir=state_dir)
    for name, value in journal.items():
        setattr(endpoint.journal, name, value)
    endpoint.start()
    started.append(endpoint)
    return endpoint, client(endpoint)


def abandon(endpoint: EmbeddedDynamoDB) -> None:
    """What a SIGKILL leaves: the server gone, the journal as written, no compaction."""
    assert endpoint._server is not None and endpoint.journal is not None
    endpoint._server.shutdown()
    endpoint._server.server_close()
    endpoint._server = None
    endpoint.journal.close()


def create_table(db: Any) -> None:
    db.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    db.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )


def items(db: Any) -> dict[str, dict[str, Any]]:
    found = db.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in found}


def write_history(db: Any) -> None:
    """Puts, a counter bumped three times, a delete, a transaction, and refused writes in between."""
    create_table(db)
    for i in range(5):
        db.put_item(TableName=TABLE, Item={"pk": {"S": f"item-{i}"}, "n": {"N": str(i)}})
    for _ in range(3):
        db.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "counter"}},
            UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    db.delete_item(TableName=TABLE, Key={"pk": {"S": "item-4"}})
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        db.put_item(
            TableName=TABLE,
            Item={"pk": {"S": "item-0"}, "n": {"N": "99"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "tx-a"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "tx-b"}}}},
        ]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "tx-c"}}}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {"pk": {"S": "tx-a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )


EXPECTED_KEYS = {"item-0", "item-1", "item-2", "item-3", "counter", "tx-a", "tx-b"}


@pytest.mark.parametrize("ending", ["stop", "kill"])
def test_a_restart_brings_back_exactly_the_committed_state(
    tmp_path: Path, started: list[EmbeddedDynamoDB], ending: str
) -> None:
    first, db = start(tmp_path, started)
    write_history(db)
    before = items(db)
    assert set(before) == EXPECTED_KEYS
    if ending == "stop":
        first.stop()
    else:
        abandon(first)

    _, db = start(tmp_path, started)
    assert items(db) == before
    assert before["counter"]["hits"] == {"N": "3"}, "the counter was bumped exactly three times"
    ttl = db.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_a_torn_last_line_is_dropped_and_writing_goes_on(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    first, db = start(tmp_path, started)
    create_table(db)
    db.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}})
    abandon(first)
    journal = tmp_path / JOURNAL_NAME
    with open(journal, "ab") as file:
        file.write(b'{"op":"PutItem","region":"us-east-1","key":"testing","body":{"TableName":"jour')

    second, db = start(tmp_path, started)
    assert set(items(db)) == {"kept"}
    db.put_item(TableName=TABLE, Item={"pk": {"S": "after"}})
    abandon(second)

    _, db = start(tmp_path, started)
    assert set(items(db)) == {"kept", "after"}


def test_a_corrupt_line_before_the_end_refuses_to_start(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    first, db = start(tmp_path, started)
    create_table(db)
    db.put_item(TableName=TABLE, Item={"pk": {"S": "a"}})
    abandon(first)
    journal = tmp_path / JOURNAL_NAME
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b"not json\n" + b"".join(lines[1:]))
    with pytest.raises(RuntimeError, match="corrupt at line 2"):
        EmbeddedDynamoDB(state_dir=tmp_path).start()


def test_compaction_keeps_the_state_and_bounds_the_journal(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    first, db = start(tmp_path, started, compact_min_bytes=4096)
    create_table(db)
    journal = tmp_path / JOURNAL_NAME
    sizes = []
    for round_ in range(40):
        for i in range(5):
            db.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "round": {"N": str(round_)}})
        sizes.append(journal.stat().st_size)
    assert max(sizes) < 2 * 4096 + 1024, "the journal was compacted as it grew"
    assert min(sizes[5:]) < sizes[4], "a compaction shrank it"
    before = items(db)
    abandon(first)  # no compaction at stop: the compacted journal plus later writes replay

    _, db = start(tmp_path, started)
    assert items(db) == before
    assert {item["round"]["N"] for item in before.values()} == {"39"}
    assert db.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_a_crash_during_compaction_leaves_the_old_journal(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    first, db = start(tmp_path, started)
    create_table(db)
    db.put_item(TableName=TABLE, Item={"pk": {"S": "a"}})
    abandon(first)
    (tmp_path / JOURNAL_NAME).with_suffix(".compacting").write_bytes(b'{"op":"PutItem"')  # half written

    _, db = start(tmp_path, started)
    assert set(items(db)) == {"a"}


def test_a_write_the_journal_cannot_keep_stops_the_endpoint(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    endpoint, db = start(tmp_path, started)
    create_table(db)
    assert endpoint.journal is not None

    def full_disk(entry: Any) -> None:
        raise OSError(28, "No space left on device")

    endpoint.journal.append = full_disk  # type: ignore[method-assign]
    with pytest.raises(ClientError, match="journal write failed"):
        db.put_item(TableName=TABLE, Item={"pk": {"S": "unjournaled"}})
    with pytest.raises(ClientError, match="stopped"):
        db.get_item(TableName=TABLE, Key={"pk": {"S": "unjournaled"}})


def test_a_second_endpoint_on_the_same_directory_is_refused_until_the_first_stops(
    tmp_path: Path, started: list[EmbeddedDynamoDB]
) -> None:
    first, db = start(tmp_path, started)
    create_table(db)
    with pytest.raises(JournalInUse, match="in use by another local stack"):
        EmbeddedDynamoDB(state_dir=tmp_path).start()
    first.stop()
    _, db = start(tmp_path, started)
    assert db.describe_table(TableName=TABLE)["Table"]["TableName"] == TABLE


def test_a_long_journal_is_compacted_after_its_replay(
    tmp_path: Path, started: list[EmbeddedDynamoDB], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, db = start(tmp_path, started)
    write_history(db)
    before = items(db)
    abandon(first)
    monkeypatch.setattr(dynamodb, "COMPACT_AFTER_REPLAY_BYTES", 1)

    second, db = start(tmp_path, started)
    assert second.replayed > len(before)
    ops = [json.loads(line)["op"] for line in (tmp_path / JOURNAL_NAME).read_bytes().splitlines()]
    assert ops == ["CreateTable", "UpdateTimeToLive"] + ["PutItem"] * len(before)
    assert items(db) == before
    abandon(second)

    _, db = start(tmp_path, started)
    assert items(db) == before


def test_compaction_honours_ttl_and_a_trim_survives_a_restart(
    tmp_path: Path, started: list[EmbeddedDynamoDB], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto never expires items: the local stack drops those whose TTL passed when it compacts
    (DynamoDB deletes them in the background, late), live and in the journal; deleted items (an
    `.out` trim) stay deleted across a restart."""
    first, db = start(tmp_path, started)
    create_table(db)
    db.put_item(TableName=TABLE, Item={"pk": {"S": "expired"}, "expires_at": {"N": "1000"}})
    db.put_item(TableName=TABLE, Item={"pk": {"S": "later"}, "expires_at": {"N": "99999999999"}})
    db.put_item(TableName=TABLE, Item={"pk": {"S": "no-ttl"}})
    db.put_item(TableName=TABLE, Item={"pk": {"S": "trimmed"}})
    db.delete_item(TableName=TABLE, Key={"pk": {"S": "trimmed"}})
    abandon(first)
    monkeypatch.setattr(dynamodb, "COMPACT_AFTER_REPLAY_BYTES", 1)

    second, db = start(tmp_path, started)
    assert second.expired == 1
    assert set(items(db)) == {"later", "no-ttl"}, "expired on the live endpoint too"
    abandon(second)
    _, db = start(tmp_path, started)
    assert set(items(db)) == {"later", "no-ttl"}
