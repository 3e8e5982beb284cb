"""Typed UI-message chunks and parts (issue 11, item 4): one TypedDict per AI SDK 6 chunk type, a typo
is a mypy error, and the accumulator folds every tool chunk the way the AI SDK client does."""

from __future__ import annotations

import re
import textwrap
import typing
from pathlib import Path

import pytest
from mypy import api as mypy_api

from agent_sessions import ui_messages
from agent_sessions.agent.messages import MessageAccumulator

ROOT = Path(__file__).resolve().parents[2]
AI_TYPES = ROOT / "tests" / "node" / "node_modules" / "ai" / "dist" / "index.d.ts"


def _our_chunk_types() -> dict[str, set[str]]:
    """Chunk type literal → its field names, for every closed member of `UIMessageChunk`."""
    found: dict[str, set[str]] = {}
    for member in typing.get_args(ui_messages.UIMessageChunk):
        hints = typing.get_type_hints(member)
        for literal in typing.get_args(hints["type"]):
            found[literal] = set(hints)
    return found


def _ai_sdk_chunk_types() -> dict[str, set[str]]:
    source = AI_TYPES.read_text()
    block = source[source.index("type UIMessageChunk<") :]
    block = block[: block.index("type InferUIMessageChunk")]
    found: dict[str, set[str]] = {}
    for member in re.split(r"\}\s*\|\s*(?:DataUIMessageChunk<DATA_TYPES>\s*\|\s*)?\{", block):
        kind = re.search(r"type: '([a-z-]+)';", member)
        if kind:
            found[kind.group(1)] = set(re.findall(r"^\s{4}(\w+)\??:", member, re.MULTILINE))
    return found


def test_every_ai_sdk_chunk_type_has_its_typed_dict() -> None:
    if not AI_TYPES.exists():
        pytest.fail("run `make node-deps`: the AI SDK's own types are the reference")
    ours, theirs = _our_chunk_types(), _ai_sdk_chunk_types()
    assert len(theirs) > 20
    assert set(ours) == set(theirs), "chunk types differ from the AI SDK's UIMessageChunk"
    for kind in ("tool-input-available", "tool-approval-request", "tool-output-denied", "text-delta"):
        # every field these carry in the AI SDK is spelt the same here (a few metadata ones aside)
        missing = (
            theirs[kind] - ours[kind] - {"providerMetadata", "toolMetadata", "title", "approvalDescriptor"}
        )
        missing -= {"inputSchemaInput", "signature", "preliminary", "dynamic", "providerExecuted"}
        assert not missing, (kind, missing)


def test_a_misspelt_chunk_is_a_type_error(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from agent_sessions.ui_messages import UIMessageChunk
            good: UIMessageChunk = {"type": "tool-approval-request", "toolCallId": "c", "approvalId": "a"}
            bad_type: UIMessageChunk = {"type": "tool-input-availabel", "toolCallId": "c", "toolName": "t"}
            bad_field: UIMessageChunk = {"type": "text-delta", "id": "1", "detla": "x"}
            missing: UIMessageChunk = {"type": "tool-approval-request", "toolCallId": "c"}
            """
        )
    )
    out, _, status = mypy_api.run(
        [str(probe), "--no-incremental", "--follow-imports=silent", "--python-version=3.11"]
    )
    lines = {int(m) for m in re.findall(r"probe\.py:(\d+): error", out)}
    assert status == 1 and lines == {4, 5, 6}, out


def test_tool_chunks_fold_into_one_part_per_call_through_every_state() -> None:
    acc = MessageAccumulator("m1")
    acc.add({"type": "start", "messageId": "m1"})
    acc.add({"type": "tool-input-start", "toolCallId": "c1", "toolName": "send_email"})
    acc.add(
        {"type": "tool-input-available", "toolCallId": "c1", "toolName": "send_email", "input": {"to": "x"}}
    )
    acc.add({"type": "tool-approval-request", "toolCallId": "c1", "approvalId": "a1"})
    assert acc.message["parts"] == [
        {
            "type": "tool-send_email",
            "toolCallId": "c1",
            "state": "approval-requested",
            "input": {"to": "x"},
            "approval": {"id": "a1"},
        }
    ]
    acc.add({"type": "tool-output-denied", "toolCallId": "c1"})
    part = acc.message["parts"][0]
    assert part["state"] == "output-denied" and part["approval"] == {"id": "a1", "approved": False}


def test_a_continued_message_keeps_its_id_and_parts_and_appends_new_ones() -> None:
    paused = {
        "id": "m1",
        "role": "assistant",
        "parts": [
            {"type": "text", "text": "Which one?", "state": "done"},
            {
                "type": "tool-ask_user",
                "toolCallId": "c1",
                "state": "output-available",
                "input": {},
                "output": 1,
            },
        ],
    }
    acc = MessageAccumulator("fresh", continues=paused)
    acc.add({"type": "start", "messageId": "m1"})
    acc.add({"type": "start-step"})
    acc.add({"type": "text-start", "id": "t"})
    acc.add({"type": "text-delta", "id": "t", "delta": "Done."})
    assert acc.message["id"] == "m1"
    assert [p["type"] for p in acc.message["parts"]] == ["text", "tool-ask_user", "step-start", "text"]
    assert paused["parts"][1]["state"] == "output-available" and len(paused["parts"]) == 2, "input untouched"
