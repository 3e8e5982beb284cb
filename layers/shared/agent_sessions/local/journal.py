"""The embedded DynamoDB's durability: a write-ahead journal of the requests that changed it.

Every successful mutating DynamoDB request is appended to `dynamodb.jsonl` as one JSON line and
fsynced before its reply leaves the server (the caller holds the endpoint's lock, so the journal's
order is the order the requests took effect). Replaying the file in order on an empty backend
rebuilds exactly the committed state: a request that failed changed nothing and is not written,
and a torn last line (the process died mid-write) is a request whose reply was never sent.

The file is compacted by rewriting it as the shortest replay of the current state (each table's
schema requests, then one `PutItem` per item) into a temporary file that is fsynced and renamed
over the journal: a crash at any point leaves either the old journal or the new one, and both
replay to the same state.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_sessions.observability import logger

JOURNAL_NAME = "dynamodb.jsonl"
COMPACT_MIN_BYTES = 1024 * 1024

# Requests that never change a table: not journaled.
READ_ONLY = frozenset(
    {
        "BatchGetItem",
        "DescribeBackup",
        "DescribeContinuousBackups",
        "DescribeContributorInsights",
        "DescribeEndpoints",
        "DescribeExport",
        "DescribeGlobalTable",
        "DescribeGlobalTableSettings",
        "DescribeImport",
        "DescribeKinesisStreamingDestination",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTableReplicaAutoScaling",
        "DescribeTimeToLive",
        "GetItem",
        "GetResourcePolicy",
        "ListBackups",
        "ListContributorInsights",
        "ListExports",
        "ListGlobalTables",
        "ListImports",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
# Requests that change items: folded into the snapshot's `PutItem`s when compacting. Every other
# mutating request is about a table (its schema, TTL, tags) and is kept, in order, per table.
ITEM_WRITES = frozenset(
    {
        "BatchExecuteStatement",
        "BatchWriteItem",
        "DeleteItem",
        "ExecuteStatement",
        "ExecuteTransaction",
        "PutItem",
        "TransactWriteItems",
        "UpdateItem",
    }
)


class JournalInUse(RuntimeError):
    """Another process serves from the same state directory."""


@dataclass(frozen=True)
class Entry:
    """One DynamoDB request: `op` ("PutItem"), the signing `region` and `access_key` (which pick
    moto's backend) and the JSON `body`."""

    op: str
    region: str
    access_key: str
    body: dict[str, Any]

    def to_line(self) -> bytes:
        fields = {"op": self.op, "region": self.region, "key": self.access_key, "body": self.body}
        return json.dumps(fields, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Entry:
        fields = json.loads(line)
        return cls(fields["op"], fields["region"], fields["key"], fields["body"])

    @property
    def table(self) -> tuple[str, str, str] | None:
        """(access key, region, table name) of a table-level request, if it names one."""
        name = self.body.get("TableName")
        if not name and isinstance(self.body.get("ResourceArn"), str):
            name = self.body["ResourceArn"].rpartition(":table/")[2].split("/")[0] or None
        return (self.access_key, self.region, str(name)) if name else None


# Runs one request against the backend: (entry) -> (HTTP status, parsed JSON reply).
Execute = Callable[[Entry], tuple[int, dict[str, Any]]]


@dataclass
class Journal:
    """The journal file of one state directory. Not thread-safe: the endpoint's lock guards it."""

    path: Path
    compact_min_bytes: int = COMPACT_MIN_BYTES
    _file: Any = None
    _tables: dict[tuple[str, str, str], list[Entry]] = field(default_factory=dict)
    _untabled: list[Entry] = field(default_factory=list)
    _compact_at: int = 0
    _lock: Any = None

    @classmethod
    def in_dir(cls, state_dir: Path, **kwargs: Any) -> Journal:
        return cls(state_dir / JOURNAL_NAME, **kwargs)

    @staticmethod
    def records(op: str) -> bool:
        """Whether a successful request of this kind is journaled."""
        return op not in READ_ONLY

    def replay(self, execute: Execute) -> int:
        """Apply every journaled request in order through `execute`; returns how many.

        A torn last line is cut off. A request that fails on replay is logged and skipped (it
        cannot happen unless the file was edited by hand). Opens the journal for appending.
        Call `acquire()` first. Raises RuntimeError on a corrupt line before the end.
        """
        assert self._lock is not None, "acquire() first"
        count, good_end = 0, 0
        for entry, end in self._read():
            status, reply = execute(entry)
            if status >= 300:
                logger.warning("journal entry failed on replay", extra={"op": entry.op, "reply": reply})
            self._remember(entry)
            count, good_end = count + 1, end
        with open(self.path, "ab") as file:
            if file.tell() != good_end:
                file.truncate(good_end)
                os.fsync(file.fileno())
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open until close()
        self._set_base(good_end)
        return count

    def _read(self) -> Iterator[tuple[Entry, int]]:
        if not self.path.exists():
            return
        offset = 0
        with open(self.path, "rb") as file:
            lines = file.readlines()
        for index, line in enumerate(lines):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no newline")
                entry = Entry.from_line(line)
            except (ValueError, KeyError, TypeError) as exc:
                if index == len(lines) - 1:
                    logger.warning("ignoring a torn last journal line", extra={"path": str(self.path)})
                    return
                raise RuntimeError(f"{self.path} is corrupt at line {index + 1}: {exc}") from exc
            offset += len(line)
            yield entry, offset

    def append(self, entry: Entry) -> None:
        """Write and fsync one successful request. Raises OSError if the disk refuses it."""
        self._file.write(entry.to_line())
        self._file.flush()
        os.fsync(self._file.fileno())
        self._remember(entry)

    def should_compact(self) -> bool:
        """The journal doubled since it was last compacted (and passed `compact_min_bytes`)."""
        return bool(self._file) and self._file.tell() >= self._compact_at

    @property
    def size(self) -> int:
        """Bytes in the open journal."""
        return int(self._file.tell()) if self._file else 0

    def _set_base(self, size: int) -> None:
        self._compact_at = max(self.compact_min_bytes, 2 * size)

    def compact(self, scan: Callable[[tuple[str, str, str]], Iterator[dict[str, Any]]]) -> None:
        """Rewrite the journal as the current state; `scan(table)` yields every item of a table."""
        temporary = self.path.with_suffix(".compacting")
        with open(temporary, "wb") as out:
            for entry in self._untabled:
                out.write(entry.to_line())
            for table, entries in self._tables.items():
                for entry in entries:
                    out.write(entry.to_line())
                key, region, name = table
                for item in scan(table):
                    out.write(Entry("PutItem", region, key, {"TableName": name, "Item": item}).to_line())
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)
        self._file.close()
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open until close()
        self._set_base(size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            self._lock.close()  # releases the flock (as the kernel does when the process dies)
            self._lock = None

    def acquire(self) -> None:
        """Take the state directory for this process until `close()`.

        Raises JournalInUse when another endpoint holds it (two appending to one file would each
        miss the other's writes).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.with_suffix(".lock"), "ab")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise JournalInUse(
                f"{self.path} is in use by another local stack; stop it or choose another "
                "AGENT_SESSIONS_STATE_DIR"
            ) from None

    def _remember(self, entry: Entry) -> None:
        """Keep the table-level requests a compaction must write before the items."""
        if entry.op in ITEM_WRITES:
            return
        table = entry.table
        if table is None:
            self._untabled.append(entry)
        elif entry.op == "CreateTable":
            self._tables[table] = [entry]
        elif entry.op == "DeleteTable":
            self._tables.pop(table, None)
        elif table in self._tables:
            self._tables[table].append(entry)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
