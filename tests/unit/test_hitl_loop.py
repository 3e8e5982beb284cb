"""The model loop pauses on client tools and approvals and settles them when resumed; the merge takes an
approval only with its approval id; regenerate cuts history where the AI SDK client cuts (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from agent_sessions.agent.merge import merge_message
from agent_sessions.agent.messages import ModelMessage
from agent_sessions.agent.models import Finish, ModelEvent, TextDelta, Tool, ToolCall, stream_text, tool
from agent_sessions.agent.models.tools import client_tool
from agent_sessions.agent.runtime import regenerate_from


class Amount(BaseModel):
    amount: int


class Question(BaseModel):
    question: str


paid: list[int] = []


@tool("Pay; amounts over 100 need approval", needs_approval=lambda args: args.amount > 100)
def pay(args: Amount) -> dict[str, int]:
    paid.append(args.amount)
    return {"paid": args.amount}


ask = client_tool("ask", "Ask the person", Question)


class Scripted:
    """Calls the tools it is given in its first step, then says how many model calls it took."""

    def __init__(self, *calls: ToolCall) -> None:
        self.script = list(calls)
        self.seen: list[list[ModelMessage]] = []

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        self.seen.append(messages)
        if self.script and len(self.seen) == 1:
            yield from self.script
            yield Finish("tool-calls")
            return
        yield TextDelta(f"call {len(self.seen)}")
        yield Finish("stop")


USER = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]


def _types(chunks: list[Any]) -> list[str]:
    return [c["type"] for c in chunks]


def test_a_client_tool_call_ends_the_turn_pending() -> None:
    model = Scripted(ToolCall("c1", "ask", {"question": "Which?"}))
    chunks = list(stream_text(model, USER, tools=[ask]))
    assert _types(chunks) == ["start-step", "tool-input-start", "tool-input-available", "finish-step"]
    assert len(model.seen) == 1, "no further model call while the person has not answered"


def test_approval_is_asked_only_when_the_policy_says_so_and_nothing_runs_unapproved() -> None:
    paid.clear()
    model = Scripted(ToolCall("c1", "pay", {"amount": 5}), ToolCall("c2", "pay", {"amount": 500}))
    chunks = list(stream_text(model, USER, tools=[pay]))
    request = next(c for c in chunks if c["type"] == "tool-approval-request")
    assert request["toolCallId"] == "c2" and request["approvalId"]
    assert paid == [5], "the small payment ran; the large one waits"
    assert "tool-output-available" in _types(chunks) and len(model.seen) == 1


def _paused(state: str, **fields: Any) -> list[dict[str, Any]]:
    part = {"type": "tool-pay", "toolCallId": "c2", "state": state, "input": {"amount": 500}, **fields}
    return [*USER, {"id": "m1", "role": "assistant", "parts": [{"type": "step-start"}, part]}]


def test_an_approved_call_runs_before_the_model_continues_and_a_denied_one_never_runs() -> None:
    paid.clear()
    model = Scripted()
    approved = _paused("approval-responded", approval={"id": "a1", "approved": True})
    chunks = list(stream_text(model, approved, tools=[pay]))
    assert chunks[0] == {"type": "tool-output-available", "toolCallId": "c2", "output": {"paid": 500}}
    assert paid == [500]
    assert model.seen[0][-1]["content"][0]["output"] == {"paid": 500}

    denied = _paused("approval-responded", approval={"id": "a1", "approved": False})
    chunks = list(stream_text(Scripted(), denied, tools=[pay]))
    assert chunks[0] == {"type": "tool-output-denied", "toolCallId": "c2"}
    assert paid == [500], "a denial runs nothing"


def test_a_resent_approval_merged_into_an_executed_call_runs_nothing() -> None:
    paid.clear()
    executed = _paused("output-available", output={"paid": 500}, approval={"id": "a1", "approved": True})
    resent = {
        "id": "m1",
        "role": "assistant",
        "parts": [
            {
                "type": "tool-pay",
                "toolCallId": "c2",
                "state": "approval-responded",
                "approval": {"id": "a1", "approved": True},
            }
        ],
    }
    merged = [executed[0], merge_message(executed[1], resent)]
    assert merged[1]["parts"][1]["state"] == "output-available"
    chunks = list(stream_text(Scripted(), merged, tools=[pay]))
    assert "tool-output-available" not in _types(chunks) and paid == []


REQUESTED = {"type": "tool-pay", "toolCallId": "c2", "state": "approval-requested", "approval": {"id": "a1"}}


@pytest.mark.parametrize(
    ("incoming", "advances"),
    [
        ({"state": "approval-responded", "approval": {"id": "a1", "approved": True}}, True),
        ({"state": "approval-responded", "approval": {"id": "a1", "approved": False, "reason": "no"}}, True),
        ({"state": "approval-responded", "approval": {"id": "other", "approved": True}}, False),
        ({"state": "approval-responded", "approval": {"id": "a1"}}, False),
        ({"state": "approval-responded"}, False),
        ({"state": "output-available", "output": {"paid": 500}}, False),
        ({"state": "output-available", "output": 1, "approval": {"id": "a1", "approved": True}}, False),
    ],
)
def test_an_approval_request_is_answered_only_by_its_own_approval_id(
    incoming: dict[str, Any], advances: bool
) -> None:
    stored = {"id": "m1", "role": "assistant", "parts": [REQUESTED]}
    slim = {"id": "m1", "role": "assistant", "parts": [{"type": "tool-pay", "toolCallId": "c2", **incoming}]}
    part = merge_message(stored, slim)["parts"][0]
    assert (part["state"] != "approval-requested") is advances
    if not advances:
        assert part == REQUESTED


def test_an_approval_for_a_call_that_asked_none_is_refused() -> None:
    stored = {
        "id": "m1",
        "role": "assistant",
        "parts": [{**REQUESTED, "state": "input-available", "approval": None}],
    }
    slim = {
        "id": "m1",
        "role": "assistant",
        "parts": [{**REQUESTED, "state": "approval-responded", "approval": {"id": "x", "approved": True}}],
    }
    assert merge_message(stored, slim)["parts"][0]["state"] == "input-available"


HISTORY = [
    {"id": "u1", "role": "user", "parts": []},
    {"id": "a1", "role": "assistant", "parts": []},
    {"id": "u2", "role": "user", "parts": []},
    {"id": "a2", "role": "assistant", "parts": []},
]


@pytest.mark.parametrize(
    ("message_id", "kept"),
    [
        ("a1", ["u1"]),  # regenerate an earlier assistant message: it and everything after go
        ("a2", ["u1", "a1", "u2"]),
        ("u2", ["u1", "a1", "u2"]),  # from a user message: everything after it
        ("u1", ["u1"]),
        (None, ["u1", "a1", "u2"]),  # no messageId: the trailing assistant message
        ("unknown", ["u1", "a1", "u2"]),
    ],
)
def test_regenerate_cuts_history_where_the_ai_sdk_client_cuts(
    message_id: str | None, kept: list[str]
) -> None:
    # the AI SDK's regenerate(): slice(0, role === "assistant" ? index : index + 1)
    assert [m["id"] for m in regenerate_from(HISTORY, message_id)] == kept


class _Out:
    def __init__(self) -> None:
        self.chunks: list[Any] = []

    def write_chunk(self, chunk: Any) -> None:
        self.chunks.append(chunk)


def test_a_continuing_turn_keeps_the_message_id_and_opens_a_step_whatever_run_yields() -> None:
    from agent_sessions.agent.messages import MessageAccumulator
    from agent_sessions.agent.output import OutputPipe
    from agent_sessions.agent.types import AbortSignal

    paused = _paused("output-available", output={"paid": 500})[1]
    out = _Out()
    accumulator = MessageAccumulator("fresh", continues=paused)
    run = [{"type": "start", "messageId": "someone-elses"}, "Done."]
    OutputPipe(out, lambda value: value).pipe(run, accumulator, AbortSignal())  # type: ignore[arg-type]
    assert [c["type"] for c in out.chunks] == [
        "start",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish",
    ]
    assert out.chunks[0]["messageId"] == "m1"
    assert accumulator.message["id"] == "m1" and len(accumulator.message["parts"]) == 4


def test_a_tool_answer_sent_mid_turn_is_a_later_turn_and_a_message_after_it_waits_behind_it() -> None:
    """The answer is queued for its own turn; a user message sent after it does not steer the
    running turn past it (docs/architecture.md, "Mid-turn input: what a turn-complete counts as
    answered"): it is queued behind, and the turns run in the order sent."""
    from collections import deque

    from agent_sessions.agent.steering import Steering
    from agent_sessions.agent.types import AbortSignal, PendingMessages
    from agent_sessions.run_context import InputRecord

    queue: deque[InputRecord] = deque()
    steering = Steering(PendingMessages(), queue)
    answer = {"id": "m1", "role": "assistant", "parts": []}
    user = {"id": "u2", "role": "user", "parts": []}
    for seq, message in ((5, answer), (6, user)):
        chunk = {"kind": "message", "payload": {"trigger": "submit-message", "message": message}}
        steering.on_input(InputRecord(seq=seq, chunk=chunk), AbortSignal())
    assert [r.seq for r in queue] == [5, 6], "the answer waits for its own turn, the message behind it"
    assert steering.take() == []


def test_every_record_read_mid_turn_gets_a_destination() -> None:
    """A steering policy that raises, or a malformed payload, must not drop the record (nor the
    records read with it): both are queued for a later turn, which answers them (as a turn, or an
    error turn). A user message steers only while nothing waits before it."""
    from collections import deque

    from agent_sessions.agent.steering import Steering
    from agent_sessions.agent.types import AbortSignal, PendingMessages
    from agent_sessions.run_context import InputRecord

    def broken(_message: object) -> bool:
        raise ValueError("policy bug")

    def user(seq: int) -> InputRecord:
        message = {"id": f"u{seq}", "role": "user", "parts": []}
        return InputRecord(
            seq, {"kind": "message", "payload": {"trigger": "submit-message", "message": message}}
        )

    queue: deque[InputRecord] = deque()
    steering = Steering(PendingMessages(should_inject=broken), queue)
    steering.on_input(user(1), AbortSignal())
    steering.on_input(InputRecord(2, {"kind": "message", "payload": "not an object"}), AbortSignal())
    assert [r.seq for r in queue] == [1, 2]

    queue.clear()
    steering = Steering(PendingMessages(), queue, replayed_through=3)
    signal = AbortSignal()
    assert steering.on_input(InputRecord(3, {"kind": "stop"}), signal) is None and not signal.aborted
    steering.on_input(user(4), signal)
    assert not queue and [m["id"] for m in steering.take()] == ["u4"], "nothing waits: it steers"
    assert steering.on_input(InputRecord(5, {"kind": "stop"}), signal) == 5 and signal.aborted
