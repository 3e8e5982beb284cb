"""The AWS wake path, estimated from its hops: an ESTIMATE, not a measurement (the bench has no AWS).

A wake is send -> first `text-delta` at the client on a session whose run is parked in Step
Functions (`WaitForInput`). The path, hop by hop, as the code runs it on AWS:

1. the client's `POST .../in/append` through API Gateway (HTTP API) to the warm append Lambda;
2. the append: session read, the `.in` transaction, `signal_input` (the write that takes the parked
   task token), then `SendTaskSuccess`; the response goes back through API Gateway while the rest
   runs (the client opens its SSE meanwhile, so that hop is hidden unless the SSE function is cold);
3. Step Functions: `WaitForInput` completes -> `NextCycle` (Pass) -> `CheckHistory` (Choice) ->
   `InvokeAgent` (Task: lambda:invoke);
4. the worker Lambda: warm, or a cold start (the runtime's init plus our handler's import and first
   call, which the same bench run measures in `handler_import_ms`);
5. the worker's boot and turn start, serial DynamoDB requests (counted on the local stack by
   `tests/integration/test_wake_path.py`, which fails if the path grows): run, session,
   `start_attempt`, `turn_tail`, history head and records, the `.in` poll, the budget count;
6. the first page (one transaction) and the SSE reader's next poll (every 20 ms until its first
   page) plus its Query.

Each hop is a (low, high) range in milliseconds with its basis: a documented figure where AWS
publishes one, else an assumption stated as such. The totals add the ranges, so they are bounds of
the estimate, not percentiles. A deployment's own trace (X-Ray on the append and worker, Step
Functions' execution history timestamps) replaces this table; until then it says where the time is
expected to go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# DynamoDB, per request from a Lambda in the same region.
DYNAMODB_READ_MS = (3.0, 8.0)
"""GetItem / Query of one small item or page. AWS documents "single-digit millisecond" latency at
any scale (DynamoDB FAQ; /work/shared/reference/aws-notes.md §7 [DOC]); the range is that claim,
not a measurement of ours."""
DYNAMODB_WRITE_MS = (4.0, 10.0)
"""UpdateItem of one small item: the same documented single-digit claim, a little above a read."""
DYNAMODB_TRANSACTION_MS = (8.0, 20.0)
"""TransactWriteItems of 2-3 items. ASSUMPTION (no published latency found): a transaction is two
phases, so about twice a single write."""

API_GATEWAY_HTTP_API_MS = (2.0, 10.0)
"""HTTP API's own overhead, request and response together: "99% of all requests (p99) have less
than 10 ms of additional latency" (AWS Compute Blog, "Building faster, lower cost, better APIs -
HTTP APIs now generally available", 2020)."""
SEND_TASK_SUCCESS_MS = (10.0, 30.0)
"""The append Lambda's `SendTaskSuccess` call (an AWS API round trip). ASSUMPTION: an ordinary
control-plane-free API call in-region; not measured."""
STEP_FUNCTIONS_TO_INVOKE_MS = (30.0, 150.0)
"""From the task token's success to the worker's handler starting: 3 Standard-workflow state
transitions (`WaitForInput` done, `NextCycle`, `CheckHistory`) and the `lambda:invoke` dispatch.
ASSUMPTION: AWS publishes no per-transition latency for Standard workflows and none was found
(searched); the range is wide on purpose. This is the least certain hop and the first to measure
on a deployment (the execution history's event timestamps give it to the millisecond)."""
LAMBDA_INVOKE_WARM_MS = (5.0, 20.0)
"""Lambda's own dispatch to a warm execution environment. ASSUMPTION: not published as a figure."""
LAMBDA_RUNTIME_INIT_MS = (100.0, 250.0)
"""A Python runtime's start on a cold execution environment, before our code's import. ASSUMPTION
(commonly reported range for python3.12 at 256 MB; not verified); our import is measured."""
SSE_POLL_INTERVAL_MS = 20.0
"""The SSE reader polls every 20 ms until its first page (docs/architecture.md "Speed and cost"):
a page waits half of that on average, all of it at worst."""

APPEND_REQUESTS = {"read": 1, "transaction": 1, "write": 1}
"""The append before the resume: session GetItem, `.in` TransactWriteItems, `signal_input` UpdateItem."""
WORKER_REQUESTS = {"read": 6, "transaction": 1, "write": 1}
"""The worker from its handler's start to the first page: GetItem run and session, the
`start_attempt` transaction, Query `turn_tail`, GetItem history head, Query history records,
Query `.in` (6 reads, 1 transaction), and the budget's UpdateItem. Was 8 reads before issue 10's
wake work (the first turn's second session read and the writer's head read are gone)."""
FIRST_PAGE_REQUESTS = {"transaction": 1}
"""The first page of the reply (`start` ... first `text-delta`): one TransactWriteItems."""


@dataclass(frozen=True)
class Hop:
    name: str
    low_ms: float
    high_ms: float
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "hop": self.name,
            "low_ms": round(self.low_ms, 1),
            "high_ms": round(self.high_ms, 1),
            "basis": self.basis,
        }


def _dynamodb(requests: dict[str, int]) -> tuple[float, float]:
    per = {"read": DYNAMODB_READ_MS, "write": DYNAMODB_WRITE_MS, "transaction": DYNAMODB_TRANSACTION_MS}
    return (
        sum(n * per[kind][0] for kind, n in requests.items()),
        sum(n * per[kind][1] for kind, n in requests.items()),
    )


def _count(requests: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in requests.items())


def hops() -> list[Hop]:
    """The warm wake path, in order."""
    append, worker, page = (
        _dynamodb(APPEND_REQUESTS),
        _dynamodb(WORKER_REQUESTS),
        _dynamodb(FIRST_PAGE_REQUESTS),
    )
    return [
        Hop(
            "API Gateway (HTTP API) to the append Lambda", *API_GATEWAY_HTTP_API_MS, "AWS: p99 < 10 ms added"
        ),
        Hop(f"append: DynamoDB ({_count(APPEND_REQUESTS)})", *append, "AWS: single-digit ms per request"),
        Hop("append: SendTaskSuccess", *SEND_TASK_SUCCESS_MS, "assumption"),
        Hop(
            "Step Functions: 3 transitions + lambda:invoke",
            *STEP_FUNCTIONS_TO_INVOKE_MS,
            "assumption (widest)",
        ),
        Hop("Lambda dispatch to a warm worker", *LAMBDA_INVOKE_WARM_MS, "assumption"),
        Hop(
            f"worker boot to turn start: DynamoDB ({_count(WORKER_REQUESTS)})",
            *worker,
            "counted; AWS per request",
        ),
        Hop("first page: DynamoDB (1 transaction)", *page, "counted; assumption per transaction"),
        Hop(
            "SSE reader's next poll + its Query",
            SSE_POLL_INTERVAL_MS / 2 + DYNAMODB_READ_MS[0],
            SSE_POLL_INTERVAL_MS + DYNAMODB_READ_MS[1],
            "our poll schedule; AWS per request",
        ),
    ]


def estimate(results: dict[str, Any] | None = None) -> dict[str, Any]:
    """The estimate as the bench records it: hops, the warm total and what a cold worker adds (our
    import and first call as measured in the same run's `handler_import_ms`, when present)."""
    path = hops()
    low, high = sum(h.low_ms for h in path), sum(h.high_ms for h in path)
    cold: dict[str, Any] = {
        "runtime_init_ms": {
            "low": LAMBDA_RUNTIME_INIT_MS[0],
            "high": LAMBDA_RUNTIME_INIT_MS[1],
            "basis": "assumption",
        }
    }
    imported = _worker_import_ms(results or {})
    if imported is not None:
        cold["worker_import_ms"] = {
            "measured_locally": imported,
            "basis": "handler_import_ms (this run, this machine)",
        }
        cold["cold_total_ms"] = {
            "low": round(low + LAMBDA_RUNTIME_INIT_MS[0] + imported, 1),
            "high": round(high + LAMBDA_RUNTIME_INIT_MS[1] + imported, 1),
        }
    return {
        "kind": "ESTIMATE from hop latencies (not measured on AWS)",
        "hops": [h.as_dict() for h in path],
        "warm_total_ms": {"low": round(low, 1), "high": round(high, 1)},
        "cold_worker_adds": cold,
        "note": "ranges add up as bounds, not percentiles; Step Functions' hop is the least certain: "
        "measure it from a deployment's execution history",
    }


def _worker_import_ms(results: dict[str, Any]) -> float | None:
    section = results.get("handler_import_ms")
    if not isinstance(section, dict):
        return None
    for key in ("import_plus_first_call_ms", "ms"):
        figures = section.get(key)
        if isinstance(figures, dict) and isinstance(figures.get("agent_worker"), int | float):
            return float(figures["agent_worker"])
    return None
