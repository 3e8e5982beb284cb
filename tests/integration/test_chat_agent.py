"""`chat.agent` on the local stack: hook order, client data, history/store/defer, upgrade, steering,
close, errors, compaction and custom agents — each over real HTTP with the agent on a run thread."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from agent_sessions import store
from agent_sessions.agent import ChatEvent, Compaction, PendingMessages, Turn, chat
from agent_sessions.agent.history import ChatHistory
from agent_sessions.agent.messages import text_of as message_text
from agent_sessions.agent.models import OfflineModel, tool
from agent_sessions.local.stack import LocalStack
from agent_sessions.worker import current_run_context
from tests.integration.localstack import Chat, text_of, wait_for
from tests.support import read_sse

events: dict[str, list[str]] = defaultdict(list)


class ClientData(BaseModel):
    user: str


def _record(name: str) -> Any:
    def hook(event: ChatEvent) -> None:
        events[event.chat_id].append(name if event.phase is None else f"{name}:{event.phase}")

    return hook


def _hooks_run(turn: Turn) -> Iterator[str]:
    events[turn.chat_id].append("run")

    def later() -> None:
        time.sleep(0.2)
        events[turn.chat_id].append("defer")

    chat.defer(later)
    yield f"hello {turn.client_data.user}"


chat.agent(
    id="t-hooks",
    run=_hooks_run,
    client_data_schema=ClientData,
    on_preload=_record("preload"),
    on_validate_messages=_record("validate"),
    hydrate_messages=_record("hydrate"),
    on_chat_start=_record("chat_start"),
    on_turn_start=_record("turn_start"),
    on_turn_complete=_record("turn_complete"),
    on_chat_suspend=_record("suspend"),
    idle_timeout_in_seconds=1,
)


def test_hooks_fire_in_the_reference_order(stack: LocalStack) -> None:
    talk = Chat(stack, "hooks-1", task="t-hooks")
    wait_for(lambda: events["hooks-1"] == ["preload"])
    first = talk.turn("a", metadata={"user": "ann"})
    assert text_of(first.records) == "hello ann"
    second = talk.turn("b", metadata={"user": "ann"}, after=first)
    assert text_of(second.records) == "hello ann"
    turn = ["validate", "hydrate", "turn_start", "run", "defer", "turn_complete"]
    wait_for(lambda: len(events["hooks-1"]) >= 14)  # on_turn_complete runs after the record is out
    assert events["hooks-1"][:14] == ["preload", "validate", "hydrate", "chat_start", *turn[2:], *turn]
    wait_for(lambda: "suspend:turn" in events["hooks-1"], timeout=5)


def test_invalid_client_data_is_a_clear_error_turn_and_the_run_survives(stack: LocalStack) -> None:
    talk = Chat(stack, "hooks-2", task="t-hooks")
    bad = talk.turn("a", metadata={"wrong": 1})
    error = next(r.chunk for r in bad.records if r.chunk and r.chunk["type"] == "error")
    assert error["errorText"].startswith("Invalid client data: user")
    assert bad.records[-1].header("public-access-token") is None, "error turns carry no fresh token"
    good = talk.turn("b", metadata={"user": "bo"}, after=bad)
    assert text_of(good.records) == "hello bo"
    assert [r["reason"] for r in talk.runs()] == ["initial"]


@chat.agent(id="t-memory", idle_timeout_in_seconds=1)
def _memory(turn: Turn) -> str:
    count = chat.store.get("count", 0) + 1
    chat.store.set("count", count)
    return f"turn {count} sees {len(turn.messages)} messages"


def _forget(event: ChatEvent) -> str:
    chat.history.truncate(0)
    chat.store.set("count", 0)
    return "forgotten"


_memory.on_action = _forget


def test_history_and_store_survive_runs_and_actions_edit_them(stack: LocalStack) -> None:
    talk = Chat(stack, "memory-1", task="t-memory")
    cursor = None
    replies = []
    for text in ("one", "two"):
        read = read_sse(
            stack.base_url, talk.chat_id, talk.token, last_event_id=cursor, min_in_seq=talk.send(text)
        )
        replies.append(text_of(read.records))
        cursor = read.records[-1].seq
    assert replies == ["turn 1 sees 1 messages", "turn 2 sees 3 messages"]
    run_id = talk.created["runId"]
    wait_for(lambda: store.get_run(run_id).status == "EXPIRED", timeout=8)  # type: ignore[union-attr]
    third = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=cursor, min_in_seq=talk.send("three")
    )
    assert text_of(third.records) == "turn 3 sees 5 messages", "a continuation run sees the whole chat"
    assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]
    forgot = read_sse(
        stack.base_url,
        talk.chat_id,
        talk.token,
        last_event_id=third.records[-1].seq,
        min_in_seq=talk.action({"op": "forget"}),
    )
    assert text_of(forgot.records) == "forgotten"
    assert forgot.records[-1].header("public-access-token") is None, "action turns carry no token"
    after = talk.turn("four", after=forgot)
    assert text_of(after.records) == "turn 1 sees 2 messages", (
        "history = the action's reply + the new message"
    )
    saved, _ = ChatHistory(talk.created["id"]).load()
    assert [message_text(m) for m in saved] == ["forgotten", "four", "turn 1 sees 2 messages"]


def _upgrade_on_request(event: ChatEvent) -> None:
    if event.metadata.get("upgrade") and not event.continuation:
        chat.request_upgrade()


@chat.agent(id="t-upgrade", on_turn_start=_upgrade_on_request)
def _upgrader(turn: Turn) -> str:
    return f"answered by {turn.run_id}"


def test_upgrade_swaps_the_run_and_the_stream_sees_both_runs_once(stack: LocalStack) -> None:
    talk = Chat(stack, "upgrade-1", task="t-upgrade")
    first = talk.turn("hi")
    assert text_of(first.records) == f"answered by {talk.created['runId']}"
    seq = talk.send("please upgrade", metadata={"upgrade": True})
    rest = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=first.records[-1].seq, min_in_seq=seq
    )
    controls = [r.control for r in rest.records if r.control]
    assert controls == ["upgrade-required", "turn-complete"]
    new_run = talk.session()["currentRunId"]
    assert new_run != talk.created["runId"] and text_of(rest.records) == f"answered by {new_run}"
    assert [r["reason"] for r in talk.runs()] == ["initial", "upgrade"]
    everything = read_sse(stack.base_url, talk.chat_id, talk.token, min_in_seq=seq)
    assert [r.seq for r in everything.records] == list(range(len(everything.records)))
    ids = [json.loads(r.body)["id"] for r in everything.records if r.body]
    assert len(ids) == len(set(ids)), "no record delivered twice"


@chat.agent(id="t-upgrade-unguarded", on_turn_start=lambda event: chat.request_upgrade())
def _always_upgrades(turn: Turn) -> str:
    return f"answered by {turn.run_id}"


def test_an_unguarded_request_upgrade_hands_a_message_over_once(stack: LocalStack) -> None:
    """`chat.request_upgrade()` called on every turn start used to hand the same message to run after
    run, forever: the run an upgrade started runs the same code and asked again."""
    talk = Chat(stack, "upgrade-unguarded", task="t-upgrade-unguarded")
    first = talk.turn("hi")
    upgraded = talk.session()["currentRunId"]
    assert text_of(first.records) == f"answered by {upgraded}"
    assert [r["reason"] for r in talk.runs()] == ["initial", "upgrade"]
    second = talk.turn("again", after=first)
    assert text_of(second.records) == f"answered by {talk.session()['currentRunId']}"
    assert [r["reason"] for r in talk.runs()] == ["initial", "upgrade", "upgrade"], (
        "a later message may upgrade again, once"
    )


class SlowInput(BaseModel):
    city: str


class SteerGate:
    """Holds the steering test's tool mid-turn until the steering message is in and the turn has read it."""

    def __init__(self) -> None:
        self.tool_running = threading.Event()
        self.steer_sent = threading.Event()
        self.steer_seq = -1


steer_gate = SteerGate()


@tool("Weather, once the steering message is in")
def get_weather(args: SlowInput) -> dict[str, str]:
    steer_gate.tool_running.set()
    assert steer_gate.steer_sent.wait(30), "the test never sent its steering message"
    ctx = current_run_context()
    assert ctx is not None
    # The turn's input watcher reads .in beside us: hold the turn open until it has consumed the message.
    wait_for(lambda: ctx.cursor >= steer_gate.steer_seq)
    return {"city": args.city, "forecast": "sunny"}


@chat.agent(id="t-steer", pending_messages=PendingMessages())
def _steerer(turn: Turn) -> Any:
    return turn.stream_text(OfflineModel(), tools=[get_weather])


def test_messages_sent_mid_turn_steer_the_running_turn(stack: LocalStack) -> None:
    talk = Chat(stack, "steer-1", task="t-steer")
    first = talk.send("what is the weather in Paris")
    assert steer_gate.tool_running.wait(30), "the turn never reached its tool"
    steer = talk.send("also say hello")
    steer_gate.steer_seq = steer
    steer_gate.steer_sent.set()
    read = read_sse(stack.base_url, talk.chat_id, talk.token, min_in_seq=first)
    kinds = [r.chunk["type"] for r in read.records if r.chunk]
    assert "data-pending-message-injected" in kinds
    assert "also say hello" in text_of(read.records)
    completes = [r for r in read.records if r.control == "turn-complete"]
    assert len(completes) == 1 and int(completes[0].header("session-in-event-id") or -1) >= steer
    time.sleep(1.0)
    tail = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=read.records[-1].seq, timeout_seconds=1
    )
    assert tail.records == [], "the steering message did not become a turn of its own"


@chat.agent(id="t-close")
def _closer(turn: Turn) -> str:
    if message_text(turn.message) == "bye":
        chat.close("user said bye")
    return "ok"


def test_the_agent_can_close_its_session(stack: LocalStack) -> None:
    talk = Chat(stack, "close-1", task="t-close")
    read = talk.turn("bye")
    done = read.records[-1]
    assert done.header("session-closed") == "true" and done.header("session-closed-reason") == "user said bye"
    tail = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=done.seq, until_control="session-closed"
    )
    assert tail.records[-1].control == "session-closed"
    wait_for(lambda: talk.session()["closedAt"] is not None)
    assert talk.session()["closedReason"] == "user said bye"
    refused = talk.http.post(
        f"/realtime/v1/sessions/{talk.chat_id}/in/append",
        content="{}",
        headers={"authorization": f"Bearer {talk.token}"},
    )
    assert refused.status_code == 409


completed: dict[str, list[Any]] = defaultdict(list)


def _note_completion(event: ChatEvent) -> None:
    completed[event.chat_id].append(type(event.error).__name__ if event.error else None)


@chat.agent(id="t-raise", on_turn_complete=_note_completion)
def _raiser(turn: Turn) -> Iterator[str]:
    yield "partial "
    if message_text(turn.message) == "fail":
        raise ValueError("kaput")
    yield "fine"


def test_a_turn_that_raises_ends_with_an_error_and_the_run_survives(stack: LocalStack) -> None:
    talk = Chat(stack, "raise-1", task="t-raise")
    failed = talk.turn("fail")
    assert any(r.chunk == {"type": "error", "errorText": "kaput"} for r in failed.records)
    assert failed.records[-1].control == "turn-complete"
    ok = talk.turn("again", after=failed)
    assert text_of(ok.records) == "partial fine"
    wait_for(lambda: completed["raise-1"] == ["ValueError", None])  # the hook runs after turn-complete
    assert [r["reason"] for r in talk.runs()] == ["initial"]


@chat.agent(
    id="t-compact",
    compaction=Compaction(
        should_compact=lambda m: len(m) > 4, summarize=lambda old: f"summary of {len(old)}", keep_last=2
    ),
)
def _compacting(turn: Turn) -> str:
    return f"{len(turn.messages)} messages, first is {turn.messages[0]['role']}"


def test_compaction_replaces_old_messages_with_a_summary(stack: LocalStack) -> None:
    talk = Chat(stack, "compact-1", task="t-compact")
    cursor = None
    replies = []
    for text in ("a", "b", "c", "d"):
        read = read_sse(
            stack.base_url, talk.chat_id, talk.token, last_event_id=cursor, min_in_seq=talk.send(text)
        )
        replies.append(text_of(read.records))
        cursor = read.records[-1].seq
        if text == "c":
            assert any(r.chunk and r.chunk["type"] == "data-compaction" for r in read.records)
    assert replies == [
        "1 messages, first is user",
        "3 messages, first is user",
        "5 messages, first is user",
        "4 messages, first is system",
    ]


@chat.agent(id="t-end")
def _ender(turn: Turn) -> str:
    chat.end_run()
    return "ending"


def test_end_run_exits_and_the_next_message_continues(stack: LocalStack) -> None:
    talk = Chat(stack, "end-1", task="t-end")
    first = talk.turn("x")
    wait_for(lambda: store.get_run(talk.created["runId"]).status == "COMPLETED")  # type: ignore[union-attr]
    second = talk.turn("y", after=first)
    assert text_of(second.records) == "ending"
    assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]


@chat.custom_agent("t-custom")
def _custom(payload: dict[str, Any]) -> Any:
    session = chat.create_session(payload)
    for turn in session.turns():
        turn.write({"type": "start"})
        turn.write({"type": "text-start", "id": "t"})
        turn.write({"type": "text-delta", "id": "t", "delta": turn.text.upper()})
        turn.write({"type": "text-end", "id": "t"})
        turn.write({"type": "finish"})
        turn.complete()
    return session


def test_a_custom_agent_writes_its_own_loop(stack: LocalStack) -> None:
    talk = Chat(stack, "custom-1", task="t-custom")
    read = talk.turn("shout")
    assert text_of(read.records) == "SHOUT"


async def _async_turn_start(event: ChatEvent) -> None:
    chat.store.set("async-hook", True)


@chat.agent(id="t-async", on_turn_start=_async_turn_start)
async def _async_run(turn: Turn) -> Any:
    async def words() -> Any:
        for word in ("async", " works", f" {chat.store.get('async-hook')}"):
            yield word

    return words()


def test_async_run_and_async_hooks(stack: LocalStack) -> None:
    talk = Chat(stack, "async-1", task="t-async")
    read = talk.turn("go")
    assert text_of(read.records) == "async works True"
