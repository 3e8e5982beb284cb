"""A client tool's answer, resent slim by the 4.8.3 transport, keeps the assistant message whole (issue 8,
item 3): the next model call, in the same run and in a continuation, sees the text and the tool input."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from agent_sessions import store
from agent_sessions.agent import ChatEvent, Turn, chat
from agent_sessions.agent.messages import ModelMessage, text_of
from agent_sessions.agent.models.base import Finish, ModelEvent, TextDelta
from agent_sessions.agent.models.tools import Tool
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import Chat, wait_for
from tests.support import read_sse

seen: dict[str, list[list[ModelMessage]]] = defaultdict(list)
QUESTION = {"question": "Which city?"}


class RecordingModel:
    def __init__(self, chat_id: str) -> None:
        self.chat_id = chat_id

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        seen[self.chat_id].append(copy.deepcopy(messages))
        yield TextDelta("noted")
        yield Finish("stop")


@chat.agent(id="t-client-tool", idle_timeout_in_seconds=1)
def _client_tool(turn: Turn) -> Any:
    if text_of(turn.messages[-1]) == "plan a trip":
        return [
            {"type": "start-step"},
            {"type": "text-start", "id": "t1"},
            {"type": "text-delta", "id": "t1", "delta": "I need to know one thing."},
            {"type": "text-end", "id": "t1"},
            {"type": "tool-input-start", "toolCallId": "call-1", "toolName": "askUser"},
            {
                "type": "tool-input-available",
                "toolCallId": "call-1",
                "toolName": "askUser",
                "input": QUESTION,
            },
            {"type": "finish-step"},
        ]
    return turn.stream_text(RecordingModel(turn.chat_id))


def _assistant_call(messages: list[ModelMessage]) -> dict[str, Any]:
    assistant = next(m for m in messages if m["role"] == "assistant")
    return {c["type"]: c for c in assistant["content"]}


def test_a_slim_tool_answer_keeps_the_text_and_the_tool_input(stack: LocalStack) -> None:
    talk = Chat(stack, "tool-answer-1", task="t-client-tool")
    first = talk.turn("plan a trip")
    message_id = next(r.chunk["messageId"] for r in first.records if r.chunk and r.chunk["type"] == "start")
    slim = {
        "id": message_id,
        "role": "assistant",
        "parts": [
            {"type": "tool-askUser", "toolCallId": "call-1", "state": "output-available", "output": "Paris"}
        ],
    }
    seq = talk.append(
        {"kind": "message", "payload": {"chatId": talk.chat_id, "trigger": "submit-message", "message": slim}}
    )
    answered = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=first.records[-1].seq, min_in_seq=seq
    )
    calls = _assistant_call(seen[talk.chat_id][-1])
    assert calls["text"]["text"] == "I need to know one thing."
    assert calls["tool-call"]["input"] == QUESTION, "the model sees the tool input the slim copy lacked"
    tool_results = [m for m in seen[talk.chat_id][-1] if m["role"] == "tool"]
    assert tool_results[0]["content"][0]["output"] == "Paris"

    run_id = talk.created["runId"]
    wait_for(lambda: store.get_run(run_id).status == "EXPIRED", timeout=8)  # type: ignore[union-attr]
    talk.turn("and then?", after=answered)
    calls = _assistant_call(seen[talk.chat_id][-1])
    assert calls["tool-call"]["input"] == QUESTION, (
        "a continuation reads the merged message back from storage"
    )
    assert calls["text"]["text"] == "I need to know one thing."


database: dict[str, list[dict[str, Any]]] = defaultdict(list)


def _hydrate_from_database(event: ChatEvent) -> list[dict[str, Any]]:
    stored = database[event.chat_id]
    if event.message is not None and event.message.get("role") == "user":
        stored.append(event.message)
    return [dict(m) for m in stored]


def _persist_answer(event: ChatEvent) -> None:
    if event.response is not None and event.response["parts"]:
        database[event.chat_id].append(event.response)


chat.agent(
    id="t-client-tool-hydrated",
    run=_client_tool.run,
    hydrate_messages=_hydrate_from_database,
    on_turn_complete=_persist_answer,
    idle_timeout_in_seconds=1,
)


def test_a_slim_tool_answer_is_merged_into_a_hydrated_history(stack: LocalStack) -> None:
    """With `hydrate_messages` the hook's copy is the history; the tool answer still lands on it."""
    talk = Chat(stack, "tool-answer-2", task="t-client-tool-hydrated")
    first = talk.turn("plan a trip")
    message_id = next(r.chunk["messageId"] for r in first.records if r.chunk and r.chunk["type"] == "start")
    wait_for(lambda: len(database[talk.chat_id]) == 2)  # on_turn_complete runs after turn-complete
    slim = {
        "id": message_id,
        "role": "assistant",
        "parts": [
            {"type": "tool-askUser", "toolCallId": "call-1", "state": "output-available", "output": "Rome"}
        ],
    }
    seq = talk.append(
        {"kind": "message", "payload": {"chatId": talk.chat_id, "trigger": "submit-message", "message": slim}}
    )
    read_sse(stack.base_url, talk.chat_id, talk.token, last_event_id=first.records[-1].seq, min_in_seq=seq)
    calls = _assistant_call(seen[talk.chat_id][-1])
    assert calls["tool-call"]["input"] == QUESTION
    assert calls["text"]["text"] == "I need to know one thing."
    assert [m["content"][0]["output"] for m in seen[talk.chat_id][-1] if m["role"] == "tool"] == ["Rome"]
    assert len(seen[talk.chat_id][-1]) == 3, "user, assistant, tool result: the slim copy is not appended"
