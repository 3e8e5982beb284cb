"""Human in the loop on the local stack (issue 11, items 1 and 2), with the `hitl` example agent: a client
tool's answer and an approval continue the SAME assistant message — in the same run, after a suspend
and in a continuation run — an approved tool runs once even when the approval is resent, and a denied
one never runs."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions import store
from agent_sessions.agent import chat
from agent_sessions.agent.history import ChatHistory
from agent_sessions.local.stack import LocalStack
from examples import hitl_agent
from tests.integration.localstack import Chat, text_of, wait_for
from tests.support import SseRead, read_sse

# the example agent with a short warm wait, so a test reaches the suspend in a fraction of a second,
# and with a long one, so "warm" means warm however loaded the machine is
chat.agent(id="t-hitl", run=hitl_agent.hitl.run, idle_timeout_in_seconds=0.2)
chat.agent(id="t-hitl-warm", run=hitl_agent.hitl.run, idle_timeout_in_seconds=60)


def _chunks(read: SseRead) -> list[dict[str, Any]]:
    return [r.chunk for r in read.records if isinstance(r.chunk, dict) and "type" in r.chunk]


def _one(read: SseRead, kind: str) -> dict[str, Any]:
    found = [c for c in _chunks(read) if c["type"] == kind]
    assert len(found) == 1, (kind, _chunks(read))
    return found[0]


def _answer(talk: Chat, after: SseRead, message_id: str, part: dict[str, Any]) -> SseRead:
    """What `addToolOutput` / `addToolApprovalResponse` + `sendAutomaticallyWhen` append: the slim message."""
    slim = {"id": message_id, "role": "assistant", "parts": [part]}
    seq = talk.append(
        {"kind": "message", "payload": {"chatId": talk.chat_id, "trigger": "submit-message", "message": slim}}
    )
    return read_sse(
        talk.stack.base_url, talk.chat_id, talk.token, last_event_id=after.records[-1].seq, min_in_seq=seq
    )


def _history(talk: Chat) -> list[dict[str, Any]]:
    return ChatHistory(talk.created["id"]).load()[0]


def _ask(talk: Chat) -> tuple[SseRead, str, dict[str, Any]]:
    asked = talk.turn("Plan a weekend away")
    message_id = _one(asked, "start")["messageId"]
    call = _one(asked, "tool-input-available")
    assert call["toolName"] == "ask_user" and call["input"] == hitl_agent.QUESTION
    assert not [c for c in _chunks(asked) if c["type"].startswith("tool-output")], "the call stays pending"
    return asked, message_id, call


def _pick(call: dict[str, Any], label: str) -> dict[str, Any]:
    output = {"optionId": label.lower(), "label": label}
    return {
        "type": "tool-ask_user",
        "toolCallId": call["toolCallId"],
        "state": "output-available",
        "output": output,
    }


def _saved_texts(talk: Chat) -> int:
    history = _history(talk)
    return sum(p["type"] == "text" for m in history[1:2] for p in m["parts"])


def _assert_one_message_answered(talk: Chat, message_id: str, label: str) -> None:
    # The history save follows the turn-complete the test just read: wait for it to land.
    wait_for(lambda: _saved_texts(talk) >= 2)
    history = _history(talk)
    assert [m["role"] for m in history] == ["user", "assistant"], "the answer continues the same message"
    message = history[1]
    assert message["id"] == message_id
    texts = [p["text"] for p in message["parts"] if p["type"] == "text"]
    assert texts == ["Let me ask you first.", f"You picked {label}."]
    tool = next(p for p in message["parts"] if p["type"] == "tool-ask_user")
    assert tool["state"] == "output-available" and tool["input"] == hitl_agent.QUESTION
    assert tool["output"]["label"] == label


@pytest.mark.parametrize("pause", ["warm", "suspended", "expired"])
def test_a_client_tool_answer_continues_the_same_assistant_message(stack: LocalStack, pause: str) -> None:
    talk = Chat(stack, f"hitl-ask-{pause}", task="t-hitl-warm" if pause == "warm" else "t-hitl")
    asked, message_id, call = _ask(talk)
    run_id = talk.created["runId"]
    if pause == "suspended":
        wait_for(lambda: store.get_run(run_id).status == "WAITING")  # type: ignore[union-attr]
    elif pause == "expired":
        wait_for(lambda: store.get_run(run_id).status == "EXPIRED", timeout=8)  # type: ignore[union-attr]
    answered = _answer(talk, asked, message_id, _pick(call, "Rome"))
    assert _one(answered, "start")["messageId"] == message_id, "the client keeps appending to its message"
    assert text_of(answered.records) == "You picked Rome."
    assert [c["type"] for c in _chunks(answered)][:2] == ["start", "start-step"], (
        "a new step, so lastAssistantMessageIsCompleteWithToolCalls does not resend"
    )
    _assert_one_message_answered(talk, message_id, "Rome")
    reasons = [r["reason"] for r in talk.runs()]
    assert reasons == (["initial", "continuation"] if pause == "expired" else ["initial"])


def _request_approval(talk: Chat) -> tuple[SseRead, str, dict[str, Any], dict[str, Any]]:
    asked = talk.turn("email bob@example.com about lunch")
    message_id = _one(asked, "start")["messageId"]
    call = _one(asked, "tool-input-available")
    assert call["toolName"] == "send_email" and call["input"] == {"to": "bob@example.com", "subject": "lunch"}
    request = _one(asked, "tool-approval-request")
    assert request["toolCallId"] == call["toolCallId"]
    assert not [c for c in _chunks(asked) if c["type"].startswith("tool-output")], "nothing runs unapproved"
    return asked, message_id, call, request


def _approval(call: dict[str, Any], request: dict[str, Any], approved: bool) -> dict[str, Any]:
    return {
        "type": "tool-send_email",
        "toolCallId": call["toolCallId"],
        "state": "approval-responded",
        "approval": {"id": request["approvalId"], "approved": approved},
    }


def _sent(talk: Chat) -> list[Any]:
    return list(ChatHistory(talk.created["id"]).load()[1].get("sent", []))


@pytest.mark.parametrize("pause", ["warm", "expired"])
def test_an_approved_tool_runs_once_even_when_the_approval_is_resent(stack: LocalStack, pause: str) -> None:
    talk = Chat(stack, f"hitl-approve-{pause}", task="t-hitl-warm" if pause == "warm" else "t-hitl")
    asked, message_id, call, request = _request_approval(talk)
    if pause == "expired":
        run_id = talk.created["runId"]
        wait_for(lambda: store.get_run(run_id).status == "EXPIRED", timeout=8)  # type: ignore[union-attr]
    approved = _answer(talk, asked, message_id, _approval(call, request, True))
    assert _one(approved, "start")["messageId"] == message_id
    output = _one(approved, "tool-output-available")
    assert output["toolCallId"] == call["toolCallId"] and output["output"]["count"] == 1
    assert text_of(approved.records) == "Email #1 sent to bob@example.com."
    # The history save (the chat store the tool wrote) follows the turn-complete just read.
    wait_for(lambda: bool(_sent(talk)))
    assert _sent(talk) == [{"to": "bob@example.com", "subject": "lunch"}]

    again = _answer(talk, approved, message_id, _approval(call, request, True))
    assert not [c for c in _chunks(again) if c["type"] == "tool-output-available"], "not run a second time"
    assert len(_sent(talk)) == 1
    history = _history(talk)
    assert [m["id"] for m in history] == [history[0]["id"], message_id]
    part = next(p for p in history[1]["parts"] if p["type"] == "tool-send_email")
    assert part["state"] == "output-available" and part["approval"]["approved"] is True


def test_a_denied_tool_never_runs_and_the_model_is_told(stack: LocalStack) -> None:
    talk = Chat(stack, "hitl-deny", task="t-hitl")
    asked, message_id, call, request = _request_approval(talk)
    denied = _answer(talk, asked, message_id, _approval(call, request, False))
    assert _one(denied, "tool-output-denied")["toolCallId"] == call["toolCallId"]
    assert not [c for c in _chunks(denied) if c["type"] == "tool-output-available"]
    assert text_of(denied.records) == "I did not send the email."
    assert _sent(talk) == []
    part = next(p for p in _history(talk)[1]["parts"] if p["type"] == "tool-send_email")
    assert part["state"] == "output-denied"


def test_an_approval_with_another_approval_id_or_a_forged_output_runs_nothing(stack: LocalStack) -> None:
    talk = Chat(stack, "hitl-forged", task="t-hitl")
    asked, message_id, call, _ = _request_approval(talk)
    forged = _approval(call, {"approvalId": "approval_guessed"}, True)
    after = _answer(talk, asked, message_id, forged)
    assert not [c for c in _chunks(after) if c["type"] == "tool-output-available"]
    output = {"type": "tool-send_email", "toolCallId": call["toolCallId"], "state": "output-available"}
    after = _answer(talk, after, message_id, {**output, "output": {"status": "sent"}})
    assert not [c for c in _chunks(after) if c["type"] == "tool-output-available"]
    assert _sent(talk) == []
    part = next(p for p in _history(talk)[1]["parts"] if p.get("toolCallId") == call["toolCallId"])
    assert part["state"] == "approval-requested", "only the matching approval answers the request"
