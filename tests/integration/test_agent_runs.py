"""Runs on the local stack over real HTTP: the demo agent, suspend/resume, expiry, stop, retries."""

from __future__ import annotations

import json
import time

from agent_sessions import auth, runs, store, worker
from agent_sessions.demo_chat import reply_for
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import Chat, run_status, text_of, wait_for
from tests.support import read_sse

_crashes: dict[str, int] = {}


@worker.agent("crash-once")
def crash_once(ctx: worker.RunContext) -> worker.Outcome:
    """Fails the first attempt of the session's first run, then answers like demo-chat."""
    if _crashes.setdefault(ctx.session_id, 0) == 0:
        _crashes[ctx.session_id] = 1
        raise RuntimeError("boom")
    from agent_sessions.demo_chat import demo_chat

    return demo_chat(ctx)


def test_a_turn_streams_deltas_and_ends_with_a_correlated_turn_complete(stack: LocalStack) -> None:
    chat = Chat(stack, "turn-1")
    started = time.monotonic()
    seq = chat.send("hello there")
    read = read_sse(stack.base_url, chat.chat_id, chat.token, min_in_seq=seq)
    elapsed = time.monotonic() - started
    deltas = [r for r in read.records if r.chunk and r.chunk.get("type") == "text-delta"]
    assert len(deltas) >= 8 and elapsed >= 0.5
    assert "hello there" in text_of(read.records)
    types = [r.chunk["type"] for r in read.records if r.chunk]
    assert types[:3] == ["start", "start-step", "text-start"] and types[-3:] == [
        "text-end",
        "finish-step",
        "finish",
    ]
    done = read.records[-1]
    assert done.control == "turn-complete" and done.body == ""
    assert int(done.header("session-in-event-id") or -1) >= seq
    fresh = auth.authenticate(done.header("public-access-token") or "")
    assert {"write:sessions:turn-1", "read:sessions:turn-1"} <= set(fresh.claims["scopes"])
    assert [r.seq for r in read.records] == list(range(len(read.records)))
    assert len({json.loads(r.body)["id"] for r in read.records if r.body}) == len(
        [r for r in read.records if r.body]
    )


def test_second_turn_resumes_from_last_event_id_without_replay(stack: LocalStack) -> None:
    chat = Chat(stack, "turn-2")
    first = chat.turn("one")
    cursor = first.records[-1].seq
    second = read_sse(
        stack.base_url, chat.chat_id, chat.token, last_event_id=cursor, min_in_seq=chat.send("two")
    )
    assert second.records[0].seq == cursor + 1
    assert "two" in text_of(second.records) and "one" not in text_of(second.records)


def test_reconnect_mid_turn_loses_and_repeats_nothing(stack: LocalStack) -> None:
    chat = Chat(stack, "reconnect")
    seq = chat.send("a fairly long message to stream")
    seen: list[int] = []
    cursor: int | None = None
    for _ in range(50):
        part = read_sse(
            stack.base_url, chat.chat_id, chat.token, last_event_id=cursor, min_in_seq=seq, max_records=3
        )
        seen += [r.seq for r in part.records]
        cursor = seen[-1] if seen else None
        if part.records and part.records[-1].control == "turn-complete":
            break
    assert seen == list(range(len(seen))) and len(seen) > 10


def test_settled_peek_closes_at_once_with_the_header(stack: LocalStack) -> None:
    chat = Chat(stack, "settled")
    first = chat.turn("hi")
    started = time.monotonic()
    peek = read_sse(
        stack.base_url,
        chat.chat_id,
        chat.token,
        last_event_id=first.records[-1].seq,
        extra_headers={"x-peek-settled": "1"},
        timeout_seconds=30,
    )
    assert peek.headers.get("x-session-settled") == "true" and peek.done and peek.records == []
    assert time.monotonic() - started < 5


def test_long_poll_window_ends_with_done_and_pings_while_idle(stack: LocalStack) -> None:
    chat = Chat(stack, "idle-window")
    read = read_sse(stack.base_url, chat.chat_id, chat.token, timeout_seconds=1)
    assert read.done and read.records == [] and read.headers["x-stream-version"] == "v2"


def test_stop_ends_the_turn_early_and_the_next_turn_is_clean(stack: LocalStack) -> None:
    chat = Chat(stack, "stopper")
    seq = chat.send("please write a very long answer")
    read_sse(stack.base_url, chat.chat_id, chat.token, until_control=None, max_records=5)
    stop_seq = chat.stop()
    stopped = read_sse(stack.base_url, chat.chat_id, chat.token, min_in_seq=seq)
    assert int(stopped.records[-1].header("session-in-event-id") or -1) >= stop_seq
    full = len(reply_for("please write a very long answer"))
    assert len([r for r in stopped.records if r.chunk and r.chunk.get("type") == "text-delta"]) < full
    after = chat.turn("again", after=stopped)
    assert "again" in text_of(after.records)


def test_idle_run_suspends_and_the_next_append_resumes_it(stack: LocalStack) -> None:
    chat = Chat(stack, "suspender", idleTimeoutInSeconds=1)
    first = chat.turn("one")
    run_id = chat.created["runId"]
    wait_for(lambda: run_status(run_id) == runs.WAITING, timeout=5)
    assert store.get_run(run_id).task_token  # type: ignore[union-attr]
    second = chat.turn("two", after=first)
    assert "two" in text_of(second.records)
    assert [r["reason"] for r in chat.runs()] == ["initial"]
    assert chat.session()["currentRunId"] == run_id


def test_suspend_timeout_expires_the_run_and_the_next_append_continues(stack: LocalStack) -> None:
    chat = Chat(stack, "expirer", idleTimeoutInSeconds=1)
    first = chat.turn("one")
    run_id = chat.created["runId"]
    wait_for(lambda: run_status(run_id) == runs.EXPIRED, timeout=8)
    second = chat.turn("two", after=first)
    assert "two" in text_of(second.records) and "one" not in text_of(second.records)
    assert [r["reason"] for r in chat.runs()] == ["initial", "continuation"]
    assert chat.session()["currentRunId"] != run_id


def test_a_crashing_attempt_is_retried_up_to_max_attempts(stack: LocalStack) -> None:
    chat = Chat(stack, "crashy", task="crash-once", maxAttempts=2)
    read = chat.turn("survive")
    assert "survive" in text_of(read.records)
    assert store.get_run(chat.created["runId"]).attempt == 1  # type: ignore[union-attr]


def test_exhausted_attempts_fail_the_run_and_the_next_append_continues(stack: LocalStack) -> None:
    chat = Chat(stack, "crashy-once-only", task="crash-once", maxAttempts=1)
    run_id = chat.created["runId"]
    wait_for(lambda: run_status(run_id) == runs.FAILED, timeout=5)
    read = chat.turn("after failure")
    assert "after failure" in text_of(read.records)
    failure = next(r for r in read.records if r.chunk and r.chunk["type"] == "error")
    assert failure.chunk["errorText"] == "The agent run failed: RuntimeError: boom", (
        "the failure is visible on .out"
    )
    assert [r["reason"] for r in chat.runs()] == ["initial", "continuation"]


def test_external_close_ends_the_run_and_readers(stack: LocalStack) -> None:
    chat = Chat(stack, "closer", idleTimeoutInSeconds=1)
    first = chat.turn("hi")
    closed = chat.http.post(
        f"/api/v1/sessions/{chat.chat_id}/close", json={"reason": "bye"}, headers=chat.secret
    )
    assert closed.status_code == 200
    tail = read_sse(
        stack.base_url,
        chat.chat_id,
        chat.token,
        last_event_id=first.records[-1].seq,
        until_control="session-closed",
    )
    assert tail.records[-1].header("session-closed-reason") == "bye"
    run_id = chat.created["runId"]
    wait_for(lambda: run_status(run_id) == runs.COMPLETED, timeout=5)
    refused = chat.http.post(
        f"/realtime/v1/sessions/{chat.chat_id}/in/append",
        content="x",
        headers={"authorization": f"Bearer {chat.token}"},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "session_closed"


def test_messages_sent_mid_turn_become_later_turns_in_order(stack: LocalStack) -> None:
    chat = Chat(stack, "queue")
    a = chat.send("first")
    b = chat.send("second")
    read = read_sse(stack.base_url, chat.chat_id, chat.token, min_in_seq=b)
    completes = [r for r in read.records if r.control == "turn-complete"]
    assert [int(r.header("session-in-event-id") or -1) for r in completes] == [a, b]
    text = text_of(read.records)
    assert text.index("first") < text.index("second")
