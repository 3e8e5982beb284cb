"""Chat history on DynamoDB (moto, with DynamoDB's size limits enforced): a turn writes only itself,
whatever the chat's length; a chat past 4 MB keeps working; saves are idempotent and fenced; old
whole-history snapshots migrate (issue 8, item 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import TransactWriteError

from agent_sessions import store
from agent_sessions.agent.history import LEGACY_SNAPSHOT, ChatHistory
from tests.dynamo_limits import _clients, enforce_dynamodb_limits, metering
from tests.faults import ERROR_FAULTS, WRITE_OPERATIONS, Fault, FaultProxy, RandomFaults, Rule

SID = "session_history"


@pytest.fixture
def limits(aws: Any) -> Iterator[None]:
    with enforce_dynamodb_limits():
        yield


def user(i: int, text: str = "") -> dict[str, Any]:
    return {"id": f"u{i}", "role": "user", "parts": [{"type": "text", "text": text or f"question {i}"}]}


def assistant(i: int, output: str = "") -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": f"answer {i}", "state": "done"}]
    if output:
        parts.append(
            {
                "type": "tool-fetch",
                "toolCallId": f"c{i}",
                "state": "output-available",
                "input": {},
                "output": output,
            }
        )
    return {"id": f"a{i}", "role": "assistant", "parts": parts}


def chat_turns(history: ChatHistory, messages: list[dict[str, Any]], turns: range, output: str = "") -> None:
    for i in turns:
        messages += [user(i), assistant(i, output)]
        history.save(messages, {"turns": i + 1})


def test_a_chat_past_4_mb_keeps_saving_and_reads_back_intact(limits: None) -> None:
    big = "é" * 450_000  # 900 KB of UTF-8 per tool output: more than two items' worth
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    chat_turns(history, messages, range(6), output=big)
    assert len(json.dumps(messages, ensure_ascii=False).encode()) > 5_000_000
    chat_turns(history, messages, range(6, 7), output=big)
    assert ChatHistory(SID).load() == (messages, {"turns": 7})


def test_the_old_whole_history_blob_breaks_at_4_mb(limits: None) -> None:
    """The limits hook is real: the format this replaces could not save such a chat."""
    with pytest.raises(TransactWriteError) as refused:
        store.put_blob(SID, "chat", "x" * 4_500_000)
    assert "4 MB" in str(refused.value.cause)


def test_writes_per_turn_do_not_grow_with_the_chat(limits: None) -> None:
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    with metering() as meter:
        chat_turns(history, messages, range(1))
        first = meter.take()
        chat_turns(history, messages, range(1, 199))
        meter.take()
        chat_turns(history, messages, range(199, 200))
        last = meter.take()
    same = ("requests", "items", "units")
    assert [first[k] for k in same] == [last[k] for k in same], "turn 200 writes what turn 1 wrote"
    assert last["bytes"] - first["bytes"] < 50, "but for longer ids and positions"
    assert last["requests"] == 1 and last["items"] == 2, "one transaction: the record and the head"
    reloaded = ChatHistory(SID)
    assert reloaded.load() == (messages, {"turns": 200})
    with metering() as meter:
        assert reloaded.save(messages, {"turns": 200}) is False
    assert meter.take()["requests"] == 0, "an unchanged history writes nothing"


def test_compaction_rebases_at_the_cost_of_what_it_keeps_and_drops_the_old_records(limits: None) -> None:
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    chat_turns(history, messages, range(50))
    summary = {"id": "summary", "role": "system", "parts": [{"type": "text", "text": "so far"}]}
    compacted = [summary, *messages[-4:]]
    with metering() as meter:
        history.save(compacted, {"turns": 50})
        by_operation = dict(meter.units_by_operation)
    assert by_operation["TransactWriteItems"] < 10, "the rebase writes the summary and the kept messages"
    assert by_operation["BatchWriteItem"] == 50, "then deletes each old record once (1 unit each)"
    assert ChatHistory(SID).load() == (compacted, {"turns": 50})
    left = list(store.StreamItem.query(f"{SID}#history"))
    assert [int(item.seq) for item in left] == [50], "records before the rebase are deleted"


def _lose_reply_of(operation: str, times: int = 1) -> Any:
    """An after-call hook: the request landed, then the caller gets a 500 (the reply was lost)."""
    remaining = [times]

    def hook(model: Any, **_: Any) -> None:
        if model.name == operation and remaining[0] > 0:
            remaining[0] -= 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "reply lost"}}, operation)

    return hook


@pytest.mark.parametrize("operation", ["TransactWriteItems", "BatchWriteItem"])
def test_a_save_whose_reply_was_lost_lands_once(limits: None, operation: str) -> None:
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    chat_turns(history, messages, range(2))
    hook = _lose_reply_of(operation)
    clients = _clients()
    for client in clients:
        client.meta.events.register("after-call.dynamodb", hook, unique_id="lose-reply")
    try:
        chat_turns(history, messages, range(2, 3), output="o" * 500_000)  # big enough for chunk puts
    finally:
        for client in clients:
            client.meta.events.unregister("after-call.dynamodb", unique_id="lose-reply")
    chat_turns(history, messages, range(3, 4))
    assert ChatHistory(SID).load() == (messages, {"turns": 4})
    head = store.read_history_head(SID)
    assert head is not None and (head.base, head.next) == (0, 4), "one record per save, none repeated"


def test_a_superseded_writer_cannot_overwrite_the_current_one(limits: None) -> None:
    messages: list[dict[str, Any]] = []
    chat_turns(ChatHistory(SID), messages, range(2))
    current, stale = ChatHistory(SID), ChatHistory(SID)
    current.load()
    stale.load()
    current.save([*messages, user(10)], {"turns": 3})
    with pytest.raises(store.HistoryConflict):
        stale.save([*messages, user(20)], {"turns": 3})
    assert ChatHistory(SID).load() == ([*messages, user(10)], {"turns": 3})


def test_a_chat_saved_as_one_blob_migrates_on_its_next_save(limits: None) -> None:
    old = [user(0), assistant(0)]
    store.put_blob(SID, LEGACY_SNAPSHOT, json.dumps({"v": 1, "messages": old, "store": {"n": 1}}))
    history = ChatHistory(SID)
    assert history.load() == (old, {"n": 1})
    history.save([*old, user(1)], {"n": 2})
    assert store.get_blob(SID, LEGACY_SNAPSHOT) is None, "the old blob is gone once migrated"
    assert ChatHistory(SID).load() == ([*old, user(1)], {"n": 2})


def _writes_history(fragment: str) -> Any:
    return lambda body: fragment in json.dumps(body.get("TransactItems") or body.get("RequestItems") or {})


@pytest.mark.parametrize("fault", ERROR_FAULTS)
@pytest.mark.parametrize(
    ("operation", "fragment"),
    [("TransactWriteItems", "#history#head"), ("BatchWriteItem", "#history#blob")],
    ids=["record", "chunks"],
)
def test_every_fault_on_a_save_through_the_proxy_lands_it_once(
    faulty_dynamodb: FaultProxy, fault: Fault, operation: str, fragment: str
) -> None:
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    chat_turns(history, messages, range(2))
    faulty_dynamodb.add(Rule(fault, operation=operation, where=_writes_history(fragment)))
    chat_turns(history, messages, range(2, 3), output="o" * 500_000)
    assert faulty_dynamodb.injected(fault), "the fault was injected"
    with faulty_dynamodb.paused():
        assert ChatHistory(SID).load() == (messages, {"turns": 3})
        head = store.read_history_head(SID)
    assert head is not None and head.next == 3, "one record per save, none repeated"


def test_thirty_saves_under_random_write_faults_lose_and_repeat_nothing(faulty_dynamodb: FaultProxy) -> None:
    faulty_dynamodb.set_random(RandomFaults(rate=0.3, seed=8, operations=WRITE_OPERATIONS))
    history = ChatHistory(SID)
    history.load()
    messages: list[dict[str, Any]] = []
    for i in range(30):
        chat_turns(history, messages, range(i, i + 1), output="o" * 400_000 if i % 10 == 5 else "")
    assert len(faulty_dynamodb.injected()) >= 10
    with faulty_dynamodb.paused():
        assert ChatHistory(SID).load() == (messages, {"turns": 30})
        head = store.read_history_head(SID)
    assert head is not None and (head.base, head.next) == (0, 30)
