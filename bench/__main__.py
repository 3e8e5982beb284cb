"""`make bench`: speed and cost on the local stack, printed and written to bench/results/latest.json.

Measures send -> first text-delta at the client on a warm run beside a direct-SSE baseline, the same
on a suspended run (beside the AWS wake path estimated from its hops: bench/wake_estimate.py),
DynamoDB requests and units of a 20- and a 1,000-chunk turn, 10/50/100 concurrent chats, and turns
the counts into dollars (bench/cost.py) checked against issue 10's goals (bench/goals.py). Also
measures append latency, agent-write -> client-receive latency, the peak memory of one SSE
connection over near-limit records (bounded frames beside the old count-only batches),
records-endpoint response sizes, the work of a list filter that matches nothing, the DynamoDB write units a
history save costs at turn 1 and turn 200 (beside the whole-history blob it replaced) and the cold
import time of every Lambda handler. Numbers are for this machine and moto, not AWS: compare runs
with each other, not with production (write units are counted from the requests, as DynamoDB bills
them, so those do carry over).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from agent_sessions import store, streams
from agent_sessions.agent.history import ChatHistory
from agent_sessions.config import get_settings
from agent_sessions.local.stack import LocalStack
from bench import agents as _agents  # noqa: F401  (registers bench-20 and bench-1000)
from bench import cost, goals, imports, scenarios, storage, wake_estimate
from bench.stats import DynamoCounter, summary_ms
from tests.dynamo_limits import TRANSACTION_BYTES, WriteMeter, metering

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_chat(http: httpx.Client, secret: str, chat_id: str) -> str:
    body = {
        "type": "chat.agent",
        "externalId": chat_id,
        "taskIdentifier": "demo-chat",
        "triggerConfig": {"basePayload": {"chatId": chat_id, "trigger": "preload"}},
    }
    return str(
        http.post("/api/v1/sessions", json=body, headers={"authorization": f"Bearer {secret}"}).json()["id"]
    )


def bench_append(
    http: httpx.Client, secret: str, n: int = 200, chat: str = "bench-append"
) -> dict[str, float]:
    create_chat(http, secret, chat)
    headers = {"authorization": f"Bearer {secret}"}
    times = []
    for i in range(n):
        started = time.perf_counter()
        response = http.post(
            f"/realtime/v1/sessions/{chat}/in/append",
            content='{"kind":"stop"}',
            headers={**headers, "x-part-id": f"b{i}"},
        )
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return summary_ms(times)


def fill_local_store(records: int = 10_000, per_page: int = 10, sessions: int = 10) -> float:
    """Write `records` `.out` records (pages of `per_page`, over `sessions` logs); returns seconds."""
    body = streams.envelope({"type": "text-delta", "id": "t", "delta": "filler " * 20})
    started = time.perf_counter()
    for page in range(records // per_page):
        streams.append_records(f"session_benchfill{page % sessions:04d}", "out", [(body, [])] * per_page)
    return round(time.perf_counter() - started, 1)


def bench_append_throughput(stack: LocalStack, per_client: int = 60) -> dict[str, Any]:
    """`.out` appends per second through the bridge's resolver lock and the embedded DynamoDB's lock,
    from one client and from eight at once (each on its own session, so no head contention, and no
    agent turn triggered): with both locks, eight clients cannot go much faster than one."""
    results: dict[str, Any] = {}
    headers = {"authorization": f"Bearer {stack.secret_key}"}
    for clients in (1, 8):
        chats = [f"bench-throughput-{clients}-{c}" for c in range(clients)]
        with httpx.Client(base_url=stack.base_url, timeout=60) as http:
            for chat in chats:
                create_chat(http, stack.secret_key, chat)

        def send(chat: str) -> None:
            with httpx.Client(base_url=stack.base_url, timeout=60) as http:
                for i in range(per_client):
                    response = http.post(
                        f"/realtime/v1/sessions/{chat}/out/append",
                        content='{"type":"data-bench"}',
                        headers={**headers, "x-part-id": f"t{i}"},
                    )
                    assert response.status_code == 200

        threads = [threading.Thread(target=send, args=(chat,)) for chat in chats]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        results[f"clients_{clients}"] = {
            "appends": clients * per_client,
            "appends_per_second": round(clients * per_client / elapsed, 1),
        }
    return results


def delivery_before(stack: LocalStack, http: httpx.Client) -> dict[str, float]:
    with scenarios.settings(scenarios.BEFORE_ISSUE_10):
        return bench_delivery(stack, http, chat="bench-delivery-before")


def delivery_poll_only(stack: LocalStack, http: httpx.Client) -> dict[str, float]:
    with scenarios.settings(scenarios.POLL_ONLY):
        return bench_delivery(stack, http, chat="bench-delivery-poll-only")


def delivery_by_window(stack: LocalStack, http: httpx.Client) -> dict[str, Any]:
    """Write -> receive at 50/s with shorter coalescing windows than the default, on the local
    stack: what the latency goal would need, and the page writes (priced per streaming second in
    `cost.coalescing_window_per_streaming_second`) it would cost."""
    results: dict[str, Any] = {}
    for window in (0.025, 0.1, 0.25):
        with scenarios.settings({"AGENT_SESSIONS_OUT_COALESCE_WINDOW_SECONDS": str(window)}):
            measured = bench_delivery(stack, http, chat=f"bench-delivery-window-{window:g}")
        results[f"{window:g}s"] = {k: measured[k] for k in ("p50", "p99", "out_writes")}
    return results


def idle_wake_penalty(samples: int = 5) -> dict[str, Any]:
    """Loopback TCP round trip between two threads of one process after the process sat idle for a
    while, against one right after: on a VM whose idle vCPUs sleep, every hop of a request (client,
    HTTP server, worker thread, DynamoDB endpoint) pays this after a quiet spell, which is why the
    local stack's first token is slower when nothing polls (README, "Latency and cost")."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(16):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    results: dict[str, Any] = {}
    with socket.create_connection(server.getsockname()) as client:
        for idle in (0.01, 0.5, 2.0):
            first, again = [], []
            for _ in range(samples):
                time.sleep(idle)
                for into in (first, again):
                    started = time.perf_counter()
                    client.sendall(b"x")
                    client.recv(16)
                    into.append(time.perf_counter() - started)
            results[f"after_{idle:g}s_idle"] = {
                "first": summary_ms(first)["p50"],
                "next": summary_ms(again)["p50"],
            }
    server.close()
    return results


def bench_journal_cost(n: int = 300) -> dict[str, float]:
    """PutItem per second on the embedded DynamoDB alone, in memory vs. journaled (one fsync each)."""
    import boto3

    from agent_sessions.local.dynamodb import EmbeddedDynamoDB

    results = {}
    with tempfile.TemporaryDirectory() as state:
        for name, state_dir in (("in_memory", None), ("journaled", Path(state))):
            endpoint = EmbeddedDynamoDB(state_dir=state_dir)
            endpoint.start()
            try:
                db = boto3.client(
                    "dynamodb",
                    endpoint_url=endpoint.url,
                    region_name="us-east-1",
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                )
                db.create_table(
                    TableName=f"bench-{name}",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                started = time.perf_counter()
                for i in range(n):
                    db.put_item(TableName=f"bench-{name}", Item={"pk": {"S": str(i)}, "v": {"S": "x" * 200}})
                results[f"{name}_puts_per_second"] = round(n / (time.perf_counter() - started), 1)
            finally:
                endpoint.stop()
    return results


def bench_delivery(
    stack: LocalStack, http: httpx.Client, n: int = 200, rate: float = 50.0, chat: str = "bench-delivery"
) -> dict[str, float]:
    session_id = create_chat(http, stack.secret_key, chat)
    latencies: list[float] = []
    ready = threading.Event()

    def read() -> None:
        headers = {"authorization": f"Bearer {stack.secret_key}", "timeout-seconds": "60"}
        with httpx.stream(
            "GET", f"{stack.base_url}/realtime/v1/sessions/{chat}/out", headers=headers, timeout=90
        ) as response:
            ready.set()
            for line in response.iter_lines():
                if not line.startswith("data:") or "records" not in line:
                    continue
                now = time.time()
                for record in json.loads(line[5:])["records"]:
                    latencies.append(now - json.loads(record["body"])["data"]["sentAt"])
                if len(latencies) >= n:
                    return

    reader = threading.Thread(target=read)
    reader.start()
    ready.wait(10)
    writer = streams.OutWriter(session_id)
    start = time.monotonic()
    for i in range(n):
        writer.write_chunk({"type": "data-bench", "sentAt": time.time(), "i": i})
        time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    writer.close()
    reader.join(30)
    return {**summary_ms(latencies), "chunks_per_second": rate, "out_writes": writer.writes}


def _history_turn(i: int) -> list[dict[str, Any]]:
    """A typical turn: a short question; an answer of ~1.5 KB of text and one tool call (~1 KB out)."""
    answer = f"Answer {i}: " + "lorem ipsum dolor sit amet " * 55
    return [
        {"id": f"u{i}", "role": "user", "parts": [{"type": "text", "text": f"Question {i}: what next?"}]},
        {
            "id": f"a{i}",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {
                    "type": "tool-search",
                    "toolCallId": f"call_{i}",
                    "state": "output-available",
                    "input": {"query": f"topic {i}"},
                    "output": {"results": ["result text " * 8 for _ in range(10)]},
                },
                {"type": "text", "text": answer, "state": "done"},
            ],
        },
    ]


def bench_history(turns: int = 200) -> dict[str, Any]:
    """Write cost of saving a chat's history after each turn: records (now) vs the whole-history blob.

    Same conversation, same process, same meter: `units` are the write units DynamoDB bills (1 per
    started KB of each item, doubled in a transaction), `items`/`bytes` what the requests carried.
    """
    history = ChatHistory("bench-history")
    history.load()
    messages: list[dict[str, Any]] = []
    chat_store: dict[str, Any] = {}
    records: dict[int, dict[str, int]] = {}
    blob: dict[int, dict[str, int]] = {}
    meter: WriteMeter
    with metering() as meter:
        for t in range(1, turns + 1):
            messages.extend(_history_turn(t))
            chat_store["turns"] = t
            meter.take()
            history.save(messages, chat_store, cursor=2 * t)
            records[t] = meter.take()
            snapshot = {
                "v": 1,
                "savedAt": 0,
                "messages": messages,
                "store": chat_store,
                "lastInEventId": 2 * t,
            }
            store.put_blob("bench-history-blob", "chat", json.dumps(snapshot, separators=(",", ":")))
            blob[t] = meter.take()
    per_turn = blob[turns]["bytes"] / turns
    return {
        "turn": {"messages": 2, "bytes": records[turns]["bytes"]},
        "records_per_turn": {"turn_1": records[1], f"turn_{turns}": records[turns]},
        "whole_blob_baseline": {"turn_1": blob[1], f"turn_{turns}": blob[turns]},
        "units_ratio_at_last_turn": round(blob[turns]["units"] / records[turns]["units"], 1),
        "baseline_fails_after_turn": int(TRANSACTION_BYTES // per_turn),
        "note": "units = DynamoDB write units billed; the baseline is the pre-history format (one "
        "transaction rewriting the whole history), which DynamoDB refuses past 4 MB",
    }


def bench_sse_memory(http: httpx.Client, secret: str, n: int = 40) -> dict[str, Any]:
    """Peak memory of one SSE connection draining `n` near-limit (about 1 MiB, emoji) records,
    with today's byte-bounded frames and with the old count-only batching (200 records a frame)."""
    session_id = create_chat(http, secret, "bench-sse-memory")
    delta = "😀" * ((1024 * 1024 - 200) // 4)
    for i in range(n):
        body = streams.envelope({"type": "text-delta", "id": f"t{i}", "delta": delta})
        streams.check_record_size(body)
        streams.append_records(session_id, "out", [(body, [])])
    runs = {}
    for label, mode in (("bounded", str(get_settings().read_max_bytes)), ("unbounded_baseline", "unbounded")):
        out = subprocess.run(
            [sys.executable, "-m", "bench.sse_memory", session_id, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        measured = json.loads(out.stdout.strip().splitlines()[-1])
        measured["peak_mib"] = round(measured.pop("peak_bytes") / 2**20, 1)
        measured["largest_frame_mib"] = round(measured.pop("largest_frame_bytes") / 2**20, 2)
        runs[label] = measured
    return {
        "records": n,
        "record_utf8_bytes": len(
            streams.envelope({"type": "text-delta", "id": "t0", "delta": delta}).encode()
        ),
        "frame_budget_bytes": get_settings().read_max_bytes,
        **runs,
        "note": "tracemalloc peak of the reader process (Python allocations); the baseline is the "
        "old count-only batching with today's UTF-8 encoding (the old \\u-escaped frames were larger)",
    }


def bench_records_endpoint(
    http: httpx.Client, secret: str, n: int = 80, size: int = 100_000
) -> dict[str, Any]:
    """`GET …/out/records` over `n` records of `size` bytes: response sizes, bounded and as one response."""
    session_id = create_chat(http, secret, "bench-records")
    for i in range(n):
        body = streams.envelope({"type": "text-delta", "id": f"t{i}", "delta": "x" * size})
        streams.append_records(session_id, "out", [(body, [])])
    sizes: list[int] = []
    after: str | None = None
    while True:
        response = http.get(
            "/realtime/v1/sessions/bench-records/out/records",
            params={"afterEventId": after} if after is not None else None,
            headers={"authorization": f"Bearer {secret}"},
        )
        sizes.append(len(response.content))
        after = response.json().get("nextAfterEventId")
        if after is None:
            break
    return {
        "records": n,
        "record_bytes": size,
        "requests": len(sizes),
        "largest_response_bytes": max(sizes),
        "unbounded_baseline_response_bytes": sum(sizes),
        "lambda_response_limit_bytes": 6_000_000,
    }


def bench_list_filter_nothing(http: httpx.Client, secret: str, counter: DynamoCounter) -> dict[str, Any]:
    """`GET /api/v1/sessions?filter[type]=<none>` over every session the bench created (and 600 more)."""
    at = store.now()
    for i in range(600):
        sid = f"session_benchlist{i:04d}"
        when = at + timedelta(milliseconds=i)
        store.insert_session(
            store.SessionModel(
                store.session_pk(get_settings().environment_id, sid),
                kind="session",
                session_id=sid,
                env_id=get_settings().environment_id,
                type="chat.agent",
                task_identifier="demo-chat",
                created_at=when,
                updated_at=when,
                list_env=get_settings().environment_id,
                list_key=f"{when.isoformat()}#{sid}",
            ),
            None,
        )
    queries: list[int] = []
    read = 0
    after: str | None = None
    while True:
        before = counter.snapshot()
        params = {"filter[type]": "no-such-type", **({"page[after]": after} if after else {})}
        response = http.get("/api/v1/sessions", params=params, headers={"authorization": f"Bearer {secret}"})
        spent = counter.snapshot() - before
        queries.append(spent["Query:by_env_created"])
        read += spent["Query:by_env_created:items"]
        after = response.json()["pagination"].get("next")
        if after is None:
            break
    return {
        "sessions_read": read,
        "requests_to_the_end": len(queries),
        "max_queries_per_request": max(queries),
        "sessions_read_per_request_max": get_settings().list_max_examined,
        "unbounded_baseline": f"one request, {-(-read // 40)} queries (40 items each at page[size]=20)",
    }


def bench_run_lifecycle(stack: LocalStack, counter: DynamoCounter) -> dict[str, Any]:
    """What liveness costs: the recovery sweep with nothing to do, and taking over one dead claim.

    The stack's own sweep thread is stopped first so only these passes are counted; the heartbeat
    is computed from the settings (one UpdateItem every lease/3 while a run is EXECUTING).
    """
    from agent_sessions import recovery, runs, sessions

    if stack.sweeper is not None:
        stack.sweeper.stop()
        stack.sweeper = None
    assert stack.launcher is not None
    before = counter.snapshot()
    recovery.sweep(stack.launcher)
    empty = counter.snapshot() - before
    http = httpx.Client(base_url=stack.base_url, timeout=30)
    create_chat(http, stack.secret_key, "bench-dead-claim")
    session = sessions.resolve(get_settings().environment_id, "bench-dead-claim")
    time.sleep(1.0)
    stuck = "run_benchdeadclaim000000000000"
    store.create_run(  # claimed, then the process died before the launch: its grace long over
        run_id=stuck,
        session_id=session.session_id,
        session_pk=session.pk,
        payload=runs.build_payload(session, session.current_run_id),
        reason="continuation",
        previous_run_id=session.current_run_id,
        lease_until=store.epoch() - 3600,
    )
    store.swap_current_run(session.pk, session.current_run_id, int(session.current_run_version), stuck)
    before = counter.snapshot()
    report = recovery.sweep(stack.launcher)
    recovered = counter.snapshot() - before
    lease = get_settings().run_lease_seconds
    return {
        "sweep_with_nothing_expired": dict(empty),
        "sweep_taking_over_one_dead_claim": {
            **dict(recovered),
            "found": report.found,
            "continued": report.continued,
            "note": "a claim whose process died before the launch; no input left unanswered",
        },
        "heartbeat_updates_per_minute_per_executing_run": round(60 / (lease / 3), 1),
        "heartbeat_index_writes_per_renewal": 2,
        "append_to_live_run_requests": 3,
    }


def guarded(results: dict[str, Any], name: str, measure: Callable[[], Any]) -> None:
    """Run one measurement into `results[name]`; a failure is recorded there, the rest still runs.
    Its wall time goes to `results["section_seconds"]` (the whole bench should take minutes)."""
    started = time.perf_counter()
    try:
        results[name] = measure()
    except Exception as exc:
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name} failed: {exc!r}", file=sys.stderr)
    finally:
        elapsed = round(time.perf_counter() - started, 1)
        results.setdefault("section_seconds", {})[name] = elapsed
        print(f"bench: {name} took {elapsed} s", file=sys.stderr, flush=True)


def first_token_before(base: str, secret: str) -> dict[str, Any]:
    with scenarios.settings(scenarios.BEFORE_ISSUE_10):
        return scenarios.first_token(base, secret, free_port(), chat_id="bench-first-token-before")


def first_token_poll_only(base: str, secret: str) -> dict[str, Any]:
    """The AWS path's hops on the local stack: no in-process notification, poll schedules only."""
    with scenarios.settings(scenarios.POLL_ONLY):
        return scenarios.first_token(base, secret, free_port(), chat_id="bench-first-token-poll-only")


def append_filled(http: httpx.Client, secret: str) -> dict[str, Any]:
    unfilled = bench_append(http, secret, 100, chat="bench-append-unfilled")
    filled_in = fill_local_store()
    return {
        "before": unfilled,
        "after_10000_records": bench_append(http, secret, 100, chat="bench-append-filled"),
        "fill_seconds": filled_in,
        "note": "before: the stack holds only the earlier scenarios' records (a few hundred)",
    }


def main() -> int:
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "backend": "moto server, one request at a time, journaled",
        },
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(
            port=free_port(),
            state_dir=Path(state),
            environ={"AGENT_SESSIONS_AGENT_MODULES": json.dumps(["bench.agents"])},
        )
        stack.start_in_background()
        try:
            counter = DynamoCounter()
            base, secret = stack.base_url, stack.secret_key
            # First, on a quiet stack: nothing else polling while these are timed.
            guarded(
                results, "send_to_first_token_before_issue_10_ms", lambda: first_token_before(base, secret)
            )
            guarded(
                results, "send_to_first_token_ms", lambda: scenarios.first_token(base, secret, free_port())
            )
            guarded(results, "send_to_first_token_poll_only_ms", lambda: first_token_poll_only(base, secret))
            guarded(results, "wake_from_suspended_ms", lambda: scenarios.wake(base, secret))
            guarded(
                results,
                "dynamodb_requests_per_turn",
                lambda: scenarios.requests_per_turn(base, secret, counter.snapshot),
            )
            with httpx.Client(base_url=stack.base_url, timeout=120) as http:
                sections: list[tuple[str, Callable[[], Any]]] = [
                    ("append_latency_before_vs_after_10000_records_ms", lambda: append_filled(http, secret)),
                    ("append_latency_ms", lambda: bench_append(http, secret)),
                    ("local_append_throughput", lambda: bench_append_throughput(stack)),
                    ("agent_write_to_client_receive_ms", lambda: bench_delivery(stack, http)),
                    (
                        "agent_write_to_client_receive_poll_only_ms",
                        lambda: delivery_poll_only(stack, http),
                    ),
                    ("agent_write_to_client_receive_by_window_ms", lambda: delivery_by_window(stack, http)),
                    (
                        "agent_write_to_client_receive_before_issue_10_ms",
                        lambda: delivery_before(stack, http),
                    ),
                    ("history_write_per_turn", bench_history),
                    ("handler_import_ms", imports.handler_imports),
                    ("sse_memory_per_connection", lambda: bench_sse_memory(http, secret)),
                    ("records_endpoint_80x100kb", lambda: bench_records_endpoint(http, secret)),
                    (
                        "list_sessions_filter_matching_nothing",
                        lambda: bench_list_filter_nothing(http, secret, counter),
                    ),
                    ("run_liveness", lambda: bench_run_lifecycle(stack, counter)),
                ]
                for name, measure in sections:
                    guarded(results, name, measure)
            # Beside the measured local wake: the AWS path from its hops (an estimate; see the module).
            guarded(results, "wake_aws_estimate_ms", lambda: wake_estimate.estimate(results))
            guarded(results, "bounded_storage", storage.bounded_storage)  # retention: counts, not timings
            # Last: the concurrent chats leave many warm runs polling behind them.
            guarded(results, "concurrent_chats", lambda: scenarios.concurrency(base, secret))
            results["load_average_at_end"] = os.getloadavg()
            results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        finally:
            stack.stop()
    # After the stack: a journaled endpoint empties moto's (process-wide) DynamoDB backend at start.
    guarded(results, "local_dynamodb", bench_journal_cost)
    guarded(results, "idle_wake_penalty_ms", idle_wake_penalty)
    guarded(results, "cost", lambda: cost.per_thousand_turns(results))
    results["goals"] = goals.check(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if "error" not in results["cost"]:
        print(cost.table(results["cost"]))
    for row in results["goals"]:
        print(f"{'met ' if row['met'] else 'MISS'}  {row['figure']}: {row['measured']} (goal {row['goal']})")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
