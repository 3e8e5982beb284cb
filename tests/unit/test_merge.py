"""A resent UI message merges into the stored one part by part (issue 8, item 3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_sessions.agent.merge import merge_message

TEXT = {"type": "text", "text": "Let me ask you.", "state": "done"}
REASONING = {"type": "reasoning", "text": "The user wants a city.", "state": "done"}
ASK = {"type": "tool-askUser", "toolCallId": "c1", "state": "input-available", "input": {"q": "Which city?"}}
SEND = {
    "type": "tool-sendEmail",
    "toolCallId": "c2",
    "state": "approval-requested",
    "input": {"to": "a@b.c"},
    "approval": {"id": "ap1"},
}


def stored(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "m1", "role": "assistant", "parts": [{"type": "step-start"}, REASONING, TEXT, *parts]}


def slim(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "m1", "role": "assistant", "parts": list(parts)}


CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "slim resend after addToolOutput keeps text, reasoning and input",
        stored(ASK),
        slim({"type": "tool-askUser", "toolCallId": "c1", "state": "output-available", "output": "Paris"}),
        stored({**ASK, "state": "output-available", "output": "Paris"}),
    ),
    (
        "slim resend of a tool error",
        stored(ASK),
        slim({"type": "tool-askUser", "toolCallId": "c1", "state": "output-error", "errorText": "no"}),
        stored({**ASK, "state": "output-error", "errorText": "no"}),
    ),
    (
        "approval response merges into the requested approval",
        stored(SEND),
        slim(
            {
                "type": "tool-sendEmail",
                "toolCallId": "c2",
                "state": "approval-responded",
                "approval": {"id": "ap1", "approved": True, "reason": "ok"},
            }
        ),
        stored(
            {
                **SEND,
                "state": "approval-responded",
                "approval": {"id": "ap1", "approved": True, "reason": "ok"},
            }
        ),
    ),
    (
        "dynamic tool with its toolName",
        stored(
            {
                "type": "dynamic-tool",
                "toolName": "x",
                "toolCallId": "d1",
                "state": "input-available",
                "input": 1,
            }
        ),
        slim(
            {
                "type": "dynamic-tool",
                "toolName": "x",
                "toolCallId": "d1",
                "state": "output-available",
                "output": 2,
            }
        ),
        stored(
            {
                "type": "dynamic-tool",
                "toolName": "x",
                "toolCallId": "d1",
                "state": "output-available",
                "input": 1,
                "output": 2,
            }
        ),
    ),
    ("resend of an unchanged message is a no-op", stored(ASK), stored(ASK), stored(ASK)),
    (
        "a part only the incoming copy has is appended",
        stored(ASK),
        slim(ASK, {"type": "data-note", "id": "n1", "data": {"k": 1}}),
        stored(ASK, {"type": "data-note", "id": "n1", "data": {"k": 1}}),
    ),
    (
        "a new tool call is appended",
        stored(ASK),
        slim({"type": "tool-askUser", "toolCallId": "c9", "state": "input-available", "input": {"q": "?"}}),
        stored(
            ASK, {"type": "tool-askUser", "toolCallId": "c9", "state": "input-available", "input": {"q": "?"}}
        ),
    ),
    (
        "a stale state does not regress a resolved tool",
        stored({**ASK, "state": "output-available", "output": "Paris"}),
        slim(
            {"type": "tool-askUser", "toolCallId": "c1", "state": "input-available", "input": {"q": "other"}}
        ),
        stored({**ASK, "state": "output-available", "output": "Paris"}),
    ),
    (
        "one final state does not replace another",
        stored({**ASK, "state": "output-available", "output": "Paris"}),
        slim({"type": "tool-askUser", "toolCallId": "c1", "state": "output-error", "errorText": "late"}),
        stored({**ASK, "state": "output-available", "output": "Paris"}),
    ),
    (
        "stored text is not rewritten by the client",
        stored(ASK),
        slim({"type": "step-start"}, {**REASONING, "text": "edited"}, {**TEXT, "text": "edited"}),
        stored(ASK),
    ),
    (
        "a tool input missing from the stored part is filled in",
        stored({**ASK, "input": None}),
        slim({**ASK, "state": "output-available", "output": "Paris"}),
        stored({**ASK, "state": "output-available", "output": "Paris"}),
    ),
]


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_merge_message(existing: dict[str, Any], incoming: dict[str, Any], expected: dict[str, Any]) -> None:
    before = (copy.deepcopy(existing), copy.deepcopy(incoming))
    assert merge_message(existing, incoming) == expected
    assert (existing, incoming) == before, "merge does not mutate its arguments"


def test_metadata_merges_key_by_key() -> None:
    merged = merge_message({**stored(ASK), "metadata": {"a": 1, "b": 1}}, {**slim(), "metadata": {"b": 2}})
    assert merged["metadata"] == {"a": 1, "b": 2}
