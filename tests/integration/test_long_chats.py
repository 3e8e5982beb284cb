"""A chat whose history passes DynamoDB's 4 MB transaction limit keeps answering, and a continuation
sees all of it (issue 8, item 6): over real HTTP on the local stack, with DynamoDB's limits enforced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent_sessions import store
from agent_sessions.agent import Turn, chat
from agent_sessions.agent.history import ChatHistory
from agent_sessions.agent.messages import text_of as message_text
from agent_sessions.local.stack import LocalStack
from tests.dynamo_limits import enforce_dynamodb_limits
from tests.integration.localstack import Chat, text_of, wait_for

BLOCK = "x" * 300_000


@chat.agent(id="t-long", idle_timeout_in_seconds=1)
def _long(turn: Turn) -> Iterator[str]:
    yield f"seen {len(turn.messages)}|"
    if message_text(turn.message) != "short":
        yield from (BLOCK, BLOCK, BLOCK)


@pytest.fixture
def limited(stack: LocalStack) -> Iterator[LocalStack]:
    with enforce_dynamodb_limits():
        yield stack


def test_a_chat_past_4_mb_keeps_its_history(limited: LocalStack) -> None:
    talk = Chat(limited, "long-1", task="t-long")
    read = None
    for i in range(5):  # ~900 KB per answer: 4.5 MB of history after the fifth
        read = talk.turn(f"turn {i}", after=read)
        assert text_of(read.records).startswith(f"seen {2 * i + 1}|")
    read = talk.turn("short", after=read)
    assert text_of(read.records) == "seen 11|", "the next turn sees the whole chat"
    run_id = talk.created["runId"]
    wait_for(lambda: store.get_run(run_id).status == "EXPIRED", timeout=8)  # type: ignore[union-attr]
    read = talk.turn("short", after=read)
    assert text_of(read.records) == "seen 13|", "a continuation reads every turn back"
    history = ChatHistory(talk.created["id"])
    wait_for(lambda: len(history.load()[0]) == 14)  # the run saves history after its turn-complete
    saved, _ = history.load()
    answers = [message_text(m) for m in saved if m["role"] == "assistant"]
    assert answers == [*(f"seen {n}|" + BLOCK * 3 for n in (1, 3, 5, 7, 9)), "seen 11|", "seen 13|"]
