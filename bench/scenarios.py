"""The user-facing latency scenarios of `make bench`, on the local stack through its HTTP API.

Each returns a JSON-ready dict; times are milliseconds (`summary_ms`), counts are DynamoDB requests
as the store's boto3 clients sent them (every poll included).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from agent_sessions.config import reset_settings
from bench.latency import ChatClient, DirectServer, direct_first_token, think_times, wait_for_status
from bench.stats import READ_UNITS, READS, WRITE_BYTES, WRITE_UNITS, by_source, requests_only, summary_ms


def _client(base_url: str, secret: str, chat_id: str, **options: Any) -> tuple[httpx.Client, ChatClient]:
    """A created chat and the HTTP client (the caller closes it) it speaks through."""
    http = httpx.Client(base_url=base_url, timeout=90)
    chat = ChatClient(base_url, secret, chat_id, **options)
    chat.create(http)
    return http, chat


BEFORE_ISSUE_10 = {
    "AGENT_SESSIONS_PUSH_IN_PROCESS": "false",
    "AGENT_SESSIONS_INPUT_POLL_SECONDS": "0.03",
    "AGENT_SESSIONS_INPUT_POLL_HOT_SECONDS": "0",
    "AGENT_SESSIONS_SSE_POLL_MIN_SECONDS": "0.03",
    "AGENT_SESSIONS_SSE_POLL_HOT_SECONDS": "0",
    "AGENT_SESSIONS_OUT_COALESCE_FIRST_SECONDS": "0.1",
    "AGENT_SESSIONS_OUT_COALESCE_WINDOW_SECONDS": "0.1",
}
"""The poll and coalescing settings as they were before issue 10 (back-off from 30 ms to 1 s at
once, every page after the first a full window later, no in-process notification), to measure
before/after in one run."""

POLL_ONLY = {"AGENT_SESSIONS_PUSH_IN_PROCESS": "false"}
"""The AWS path on the local stack: no in-process notification (there the append, the run and
the readers are separate Lambda processes), today's poll schedules alone. The requests per turn,
which the cost model prices, are counted this way."""


@contextmanager
def settings(overrides: dict[str, str]) -> Iterator[None]:
    """Environment overrides for everything that reads the settings meanwhile (new runs, new SSE
    connections, new writers); the previous values come back after."""
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    reset_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings()


def first_token(
    base_url: str, secret: str, direct_port: int, turns: int = 20, chat_id: str = "bench-first-token"
) -> dict[str, Any]:
    """Warm run: demo-chat, one warm-up turn, then `turns` sends after seeded pauses of 0.3 to 3 s
    (a reader's and an agent's back-off meet a send in every phase). The direct-SSE baseline
    serves the same model on the same HTTP stack, `turns` times, in the same run."""
    http, chat = _client(base_url, secret, chat_id)
    try:
        chat.send(http, "warm up")
        timings = []
        for pause in think_times(turns, 0.3, 3.0):
            time.sleep(pause)
            timings.append(chat.send(http, "hello there"))
    finally:
        http.close()
    direct = []
    with DirectServer(direct_port) as server, httpx.Client(base_url=server.url, timeout=30) as plain:
        direct_first_token(plain, "warm up")
        for _ in range(turns):
            direct.append(direct_first_token(plain, "hello there"))
    durable = summary_ms([t.first_token for t in timings])
    baseline = summary_ms(direct)
    return {
        "durable": durable,
        "direct_sse_baseline": baseline,
        "added_p50": round(durable["p50"] - baseline["p50"], 2),
        "added_p99": round(durable["p99"] - baseline["p99"], 2),
        "turn_complete": summary_ms([t.complete for t in timings]),
        "note": "from before the .in append to the first text-delta in an SSE frame at the client",
    }


def wake(base_url: str, secret: str, samples: int = 5) -> dict[str, Any]:
    """Suspended run: idle timeout 1 s, wait until the run is WAITING (parked), then send."""
    http, chat = _client(base_url, secret, "bench-wake", trigger_config={"idleTimeoutInSeconds": 1})
    timings = []
    try:
        chat.send(http, "warm up")
        for _ in range(samples):
            wait_for_status(chat.session_id, "WAITING")
            time.sleep(0.2)
            timings.append(chat.send(http, "wake up"))
    finally:
        http.close()
    return {
        "first_token": summary_ms([t.first_token for t in timings]),
        "note": "local launcher: resume sets an event, the same thread re-invokes the worker",
    }


def requests_per_turn(
    base_url: str, secret: str, requests: Callable[[], Counter[str]], idle_seconds: float = 10.0
) -> dict[str, Any]:
    """DynamoDB requests of one warm turn of 20 and of 1,000 text deltas (50 a second), from the
    send to the client reading turn-complete: the append, the agent's polls and writes, the SSE
    reader's polls. Then the agent's idle polls over `idle_seconds` with no reader. Counted on
    the AWS path (`POLL_ONLY`): the local stack's notifications would hide the polls AWS pays."""
    with settings(POLL_ONLY):
        return _requests_per_turn(base_url, secret, requests, idle_seconds)


def _requests_per_turn(
    base_url: str, secret: str, requests: Callable[[], Counter[str]], idle_seconds: float
) -> dict[str, Any]:
    results: dict[str, Any] = {"path": "AWS poll schedules (no in-process notification)"}
    for n in (20, 1000):
        http, chat = _client(base_url, secret, f"bench-requests-{n}", task=f"bench-{n}")
        try:
            chat.send(http, "warm up")
            time.sleep(1.0)
            before = requests()
            timing = chat.send(http, "count me")
            spent = requests() - before
            if n == 20:
                before = requests()
                time.sleep(idle_seconds)
                idle = requests() - before
                polls = sum(requests_only(idle).values())
                results["idle_agent_requests_per_second"] = round(polls / idle_seconds, 2)
        finally:
            http.close()
        background = by_source(spent).pop("recovery_sweep", {})
        for operation, count in background.items():  # on a schedule, whatever the turns (not per turn)
            spent[operation] -= count
        by_operation = requests_only(spent)
        results[f"turn_{n}_chunks"] = {
            "requests": sum(by_operation.values()),
            "reads": sum(v for k, v in by_operation.items() if k in READS),
            "writes": sum(v for k, v in by_operation.items() if k not in READS),
            "read_units": spent[READ_UNITS],
            "write_units": spent[WRITE_UNITS],
            "write_bytes": spent[WRITE_BYTES],
            "by_operation": by_operation,
            "by_source": {k: v for k, v in by_source(spent).items() if k != "recovery_sweep"},
            "not_counted_recovery_sweep": background,
            "turn_seconds": round(timing.complete, 3),
        }
    return results


def concurrency(
    base_url: str, secret: str, levels: tuple[int, ...] = (10, 50, 100), turns: int = 3, budget: float = 60.0
) -> dict[str, Any]:
    """`n` chats at once, each sending `turns` messages to demo-chat after seeded pauses; a level
    gets `budget` seconds, and a turn still unanswered then counts as failed (`unfinished`)."""
    results: dict[str, Any] = {}
    for n in levels:
        results[f"chats_{n}"] = _concurrent(base_url, secret, n, turns, budget)
        time.sleep(2.0)
    return results


def _concurrent(base_url: str, secret: str, n: int, turns: int, budget: float) -> dict[str, Any]:
    clients = [_client(base_url, secret, f"bench-conc-{n}-{i}") for i in range(n)]
    first: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def drive(http: httpx.Client, chat: ChatClient, seed: int) -> None:
        try:
            for pause in think_times(turns, 0.2, 2.0, seed=seed):
                if stop.wait(pause):
                    return
                timing = chat.send(http, "hello there")
                with lock:
                    first.append(timing.first_token)
        except Exception as exc:
            with lock:
                errors[type(exc).__name__] += 1
        finally:
            http.close()

    threads = [
        threading.Thread(target=drive, args=(h, c, i), daemon=True) for i, (h, c) in enumerate(clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    with lock:
        done, failed = list(first), dict(errors)
    unfinished = n * turns - len(done) - sum(failed.values())
    return {
        "first_token": summary_ms(done) if done else None,
        "turns_ok": len(done),
        "turns_failed": sum(failed.values()) + unfinished,
        "error_kinds": {**failed, **({"unfinished": unfinished} if unfinished else {})},
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
