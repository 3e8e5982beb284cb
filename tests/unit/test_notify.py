"""In-process notification of appends (notify.py): a poller in the same process wakes at once.

Each test sets the pollers' safety interval to an hour, so a reader, an agent's wait for input or
an in-turn watcher that was not woken by the notification would still be asleep when the test
gives up: the figures are in `make bench`, these only prove the wake-up reaches each poller.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from agent_sessions import notify, streams
from agent_sessions.agent import input_watcher
from agent_sessions.agent.input_watcher import InputWatcher
from agent_sessions.agent.types import AbortSignal
from agent_sessions.config import reset_settings
from agent_sessions.http import stream
from agent_sessions.run_context import InputRecord, RunContext

HOUR = 3600.0


@pytest.fixture
def push(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AGENT_SESSIONS_PUSH_IN_PROCESS", "true")
    for name in (
        "SSE_POLL_MIN_SECONDS",
        "SSE_POLL_MAX_SECONDS",
        "INPUT_POLL_SECONDS",
        "PUSH_SAFETY_POLL_SECONDS",
    ):
        monkeypatch.setenv(f"AGENT_SESSIONS_{name}", str(HOUR))
    reset_settings()
    yield
    reset_settings()


def test_a_notification_between_the_arm_and_the_sleep_is_not_lost(push: None) -> None:
    with notify.listen("s", "out") as listener:
        listener.arm()
        notify.appended("s", "out")  # lands after the poller's read, before it sleeps
        assert listener.sleep(HOUR) is True
        listener.arm()
        assert listener.sleep(0.0) is False  # re-armed: the old notification is forgotten


def test_only_the_named_log_wakes_and_closed_listeners_are_forgotten(push: None) -> None:
    with notify.listen("s", "out") as out, notify.listen("s", "in") as inn:
        notify.appended("s", "in")
        notify.appended("other", "out")
        assert inn.sleep(0.0) and not out.sleep(0.0)
    assert notify._listeners == {}


def test_without_push_in_process_nothing_is_notified() -> None:
    """The AWS path (and the bench's poll-only figures): pollers keep their own schedules."""
    with notify.listen("s", "in") as listener:
        notify.appended("s", "in")
        assert not listener.sleep(0.0)


def test_wake_all_ends_every_sleep() -> None:
    with notify.listen("a", "out") as a, notify.listen("b", "in") as b:
        notify.wake_all()
        assert a.sleep(HOUR) and b.sleep(HOUR)


def test_an_sse_reader_reads_when_an_append_is_notified(push: None, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[streams.store.StoredRecord] = []
    polled = threading.Semaphore(0)

    def read_after(session_id: str, io: str, cursor: int, **_: Any) -> list[streams.store.StoredRecord]:
        polled.release()
        return [r for r in log if r.seq > cursor]

    monkeypatch.setattr(streams, "read_after", read_after)
    frames = stream.follow("session_x", "out", -1, timeout_seconds=HOUR)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(next(f for f in frames if f.startswith(b"id:"))))
    reader.start()
    assert polled.acquire(timeout=10)  # its first read found nothing: it sleeps for the hour
    log.append(streams.store.StoredRecord(0, 0, streams.envelope({"type": "text-delta"}), []))
    notify.appended("session_x", "out")
    reader.join(10)
    frames.close()
    assert not reader.is_alive() and got and got[0].startswith(b"id: 0")


def test_an_agent_waiting_for_input_reads_when_an_append_is_notified(push: None) -> None:
    polls: list[int] = []
    found = [InputRecord(4, {"kind": "message"})]

    def poll_input(**_: Any) -> list[InputRecord]:
        polls.append(1)
        return found if len(polls) > 1 else []

    ctx = SimpleNamespace(
        session_id="session_x",
        run_id="run_x",
        heartbeat=SimpleNamespace(superseded=threading.Event()),
        poll_input=poll_input,
        near_deadline=lambda: False,
        _backoff=streams.PollBackoff(HOUR, HOUR),
        _push=True,
        _safety_poll=HOUR,
    )
    ctx._poll_interval = lambda: RunContext._poll_interval(ctx)  # type: ignore[arg-type]
    result: list[list[InputRecord]] = []
    waiter = threading.Thread(target=lambda: result.append(RunContext.wait_input(ctx, HOUR)))  # type: ignore[arg-type]
    waiter.start()
    while not polls:
        threading.Event().wait(0.01)
    notify.appended("session_x", "in")
    waiter.join(10)
    assert not waiter.is_alive() and result == [found]


def test_the_in_turn_watcher_reads_when_an_append_is_notified(
    push: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(input_watcher, "watch_delays", lambda: itertools.repeat(HOUR))
    polled = threading.Event()
    ctx = SimpleNamespace(
        session_id="session_x",
        run_id="run_x",
        poll_input=lambda **_: polled.set() or [InputRecord(9, {"kind": "stop"})],
    )
    seen: list[int] = []
    watcher = InputWatcher(ctx, AbortSignal(), lambda record, _signal: seen.append(record.seq))  # type: ignore[arg-type]
    watcher.start()
    try:
        for _ in range(100):  # the watcher registers on its own thread
            notify.appended("session_x", "in")
            if polled.wait(0.1):
                break
        assert polled.is_set() and seen[:1] == [9]
    finally:
        watcher.stop()
