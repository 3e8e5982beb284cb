"""Percentiles and the DynamoDB request counter every bench scenario shares."""

from __future__ import annotations

import math
import statistics
import threading
from collections import Counter
from typing import Any

from agent_sessions import store
from tests.dynamo_limits import item_bytes, written_items

READS = {"GetItem", "Query", "BatchGetItem", "TransactGetItems", "Scan"}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 2),
        "p99": round(percentile(ms, 99), 2),
        "mean": round(statistics.fmean(ms), 2),
    }


WRITE_UNITS = "units:write"
READ_UNITS = "units:read"
WRITE_BYTES = "bytes:write"


def requests_only(counts: Counter[str]) -> dict[str, int]:
    """The per-operation request counts of a `DynamoCounter` snapshot (no index, source or unit keys)."""
    return {k: v for k, v in sorted(counts.items()) if ":" not in k}


SOURCE = "source:"
"""Prefix of the per-source keys: `source:<who>:<operation>` (see `source_of`)."""

_SOURCES = (
    ("out-writer-", "agent_out_writer"),
    ("turn-input-watcher", "agent_in_turn_input_watcher"),
    ("heartbeat-", "agent_heartbeat"),
    ("run-", "agent_run_thread"),
    ("recovery-sweep", "recovery_sweep"),
)


def source_of(thread_name: str) -> str:
    """Who sent a request, from the sending thread's name: the agent run's threads (its writer,
    its in-turn `.in` watcher, its heartbeat, the run thread: boot, `.in` waits, turn-complete,
    history), the recovery sweep, or `http` (the server's worker threads: appends, SSE polls)."""
    return next((source for prefix, source in _SOURCES if thread_name.startswith(prefix)), "http")


def by_source(counts: Counter[str]) -> dict[str, dict[str, int]]:
    """`{source: {operation: requests}}` of a `DynamoCounter` snapshot."""
    out: dict[str, dict[str, int]] = {}
    for key, value in sorted(counts.items()):
        if key.startswith(SOURCE) and value:
            source, operation = key[len(SOURCE) :].split(":", 1)
            out.setdefault(source, {})[operation] = value
    return out


class DynamoCounter:
    """Every DynamoDB request the process sends, by operation, with the units DynamoDB would bill.

    Write units as `tests.dynamo_limits.WriteMeter` counts them (1 per started KB of each item,
    doubled in a transaction); read units from the items each read returned (1 unit per started
    4 KB of the response's items, at least 1 per request; half that for an eventually consistent read).
    """

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()
        self.lock = threading.Lock()
        for client in [m._get_connection().connection.client for m in store.MODELS] + [
            store.connection().client
        ]:
            client.meta.events.register("provide-client-params.dynamodb", self._record)
            client.meta.events.register("after-call.dynamodb", self._read_units)

    def _read_units(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.name not in READS:
            return
        items = parsed.get("Items") or ([parsed["Item"]] if parsed.get("Item") else [])
        size = sum(item_bytes(item) for item in items)
        units = max(1, math.ceil(size / 4096)) * (1.0 if context.get("consistent_read") else 0.5)
        with self.lock:
            self.ops[READ_UNITS] += units  # type: ignore[assignment]

    def _record(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["consistent_read"] = bool(params.get("ConsistentRead"))
        items = written_items(model.name, params)
        factor = 2 if model.name == "TransactWriteItems" else 1
        units = factor * sum(max(1, math.ceil(item_bytes(i) / 1024)) for i in items)
        with self.lock:
            self.ops[WRITE_UNITS] += units
            self.ops[WRITE_BYTES] += sum(item_bytes(i) for i in items)
            self.ops[model.name] += 1
            self.ops[f"{SOURCE}{source_of(threading.current_thread().name)}:{model.name}"] += 1
            if params.get("IndexName"):  # told apart from the agents' and readers' log queries
                self.ops[f"{model.name}:{params['IndexName']}"] += 1
                self.ops[f"{model.name}:{params['IndexName']}:items"] += int(params.get("Limit") or 0)

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.ops)
