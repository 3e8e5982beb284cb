"""A malformed `.in` message (a client bug, or a browser holding the session's write token) is answered
with an `error` + `turn-complete` and never enters history: the chat keeps answering afterwards.

Before: a message whose `parts` was not a list (or a message that was not an object) was stored in
history, and every later turn of that chat failed with an `error` chunk, in this run and every
continuation: one append bricked the chat for good.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions.demo_chat import reply_for
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import Chat, text_of
from tests.support import read_sse

MALFORMED: dict[str, Any] = {
    "message-is-a-string": "hi",
    "parts-is-a-string": {"id": "m-bad", "role": "user", "parts": "hi"},
    "a-part-is-a-number": {"id": "m-bad", "role": "user", "parts": [5]},
    "a-part-without-type": {"id": "m-bad", "role": "user", "parts": [{"text": "hi"}]},
    "text-part-text-not-a-string": {"id": "m-bad", "role": "user", "parts": [{"type": "text", "text": 5}]},
    "no-id": {"role": "user", "parts": [{"type": "text", "text": "hi"}]},
    "unknown-role": {"id": "m-bad", "role": "wizard", "parts": [{"type": "text", "text": "hi"}]},
}


@pytest.mark.parametrize("payload", ["x", 1.5, [1]])
def test_a_payload_that_is_not_an_object_is_answered_without_failing_the_run(
    stack: LocalStack, payload: Any
) -> None:
    """Before: `payload.get` raised in the run's dispatch, the whole run failed and a continuation
    had to be launched for the next message (a browser could make every run fail)."""
    talk = Chat(stack, f"bad-payload-{type(payload).__name__}", idleTimeoutInSeconds=1)
    first = talk.turn("hello")
    bad = talk.append({"kind": "message", "payload": payload})
    refused = read_sse(
        stack.base_url, talk.chat_id, talk.token, last_event_id=first.records[-1].seq, min_in_seq=bad
    )
    assert "error" in [r.chunk["type"] for r in refused.records if r.chunk]
    assert refused.records[-1].header("session-in-event-id") == str(bad)
    after = talk.turn("still there?", after=refused)
    assert text_of(after.records) == "".join(reply_for("still there?"))
    assert len(talk.runs()) == 1, "the run that met the bad payload kept answering"


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_message_is_refused_by_its_turn_and_the_chat_keeps_answering(
    stack: LocalStack, name: str
) -> None:
    talk = Chat(stack, f"malformed-{name}", idleTimeoutInSeconds=1)
    bad = talk.append(
        {
            "kind": "message",
            "payload": {"chatId": talk.chat_id, "trigger": "submit-message", "message": MALFORMED[name]},
        }
    )
    refused = read_sse(stack.base_url, talk.chat_id, talk.token, min_in_seq=bad)
    chunks = [r.chunk["type"] for r in refused.records if r.chunk]
    assert "error" in chunks and refused.records[-1].control == "turn-complete"
    assert refused.records[-1].header("session-in-event-id") == str(bad)
    first = talk.turn("hello after a bad message", after=refused)
    assert text_of(first.records) == "".join(reply_for("hello after a bad message"))
    second = talk.turn("and again", after=first)
    assert text_of(second.records) == "".join(reply_for("and again"))
