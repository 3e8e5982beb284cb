"""Merge a resent UI message into the stored copy with the same id, part by part.

The 4.8.3 transport resends an assistant message after `addToolOutput` / `addToolApprovalResponse`
slimmed to its resolved tool parts (`{id, role, parts: [{type, toolCallId, state, output? |
errorText? | approval?}]}`, wire-protocol.md §4.1). The stored message stays the source of truth:
its text, reasoning and each tool's `input` are kept; the incoming copy may only advance a tool's
state and fill in what the stored part lacks. Invariant: merging never drops a stored part, never
moves a tool part's state backwards, and never replaces a stored field with a different value except
the fields that belong to an advanced state (`output`, `errorText`, `approval`).
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from agent_sessions.agent.messages import UIMessage
from agent_sessions.ui_messages import ToolState

Part = dict[str, Any]

STATE_RANK: dict[str, int] = {
    "input-streaming": 0,
    "input-available": 1,
    "approval-requested": 2,
    "approval-responded": 3,
    "output-available": 4,
    "output-error": 4,
    "output-denied": 4,
}
"""AI SDK tool-part states in lifecycle order; the three final states share a rank (none follows another)."""

ADVANCED_FIELDS = ("output", "errorText", "approval")
"""Fields an advanced state brings with it; the incoming copy's values win for these."""


class ToolPart(TypedDict, total=False):
    """The AI SDK tool UI part (`type` is `tool-<name>` or `dynamic-tool`, which also carries `toolName`)."""

    type: str
    toolCallId: str
    toolName: str
    state: ToolState
    input: Any
    output: Any
    errorText: str
    approval: dict[str, Any]


def is_tool_part(part: Part) -> bool:
    kind = str(part.get("type", ""))
    return (kind.startswith("tool-") or kind == "dynamic-tool") and "toolCallId" in part


def merge_message(existing: UIMessage, incoming: UIMessage) -> UIMessage:
    """The stored `existing` message with `incoming` (same id) folded in; neither argument is changed.

    Tool parts match by `toolCallId` and merge with `merge_tool_part`. Other parts match by
    `(type, id)` when they carry an id (data parts), else by their ordinal among parts of the same
    type; a matched non-tool part keeps the stored copy (the client may not rewrite history). Parts
    only `incoming` has are appended in its order; parts only `existing` has are kept in place.
    """
    merged_parts = [dict(p) for p in existing.get("parts") or [] if isinstance(p, dict)]
    tools = {str(p["toolCallId"]): i for i, p in enumerate(merged_parts) if is_tool_part(p)}
    others = {_plain_key(p, merged_parts[:i]): i for i, p in enumerate(merged_parts) if not is_tool_part(p)}
    incoming_parts = [p for p in incoming.get("parts") or [] if isinstance(p, dict)]
    for n, part in enumerate(incoming_parts):
        if is_tool_part(part):
            index = tools.get(str(part["toolCallId"]))
            if index is None:
                tools[str(part["toolCallId"])] = len(merged_parts)
                merged_parts.append(dict(part))
            else:
                merged_parts[index] = dict(merge_tool_part(cast(ToolPart, merged_parts[index]), part))
            continue
        if _plain_key(part, incoming_parts[:n]) not in others:
            merged_parts.append(dict(part))
    merged: UIMessage = {**incoming, **existing, "parts": merged_parts}
    old_meta, new_meta = existing.get("metadata"), incoming.get("metadata")
    if isinstance(old_meta, dict) and isinstance(new_meta, dict):
        merged["metadata"] = {**old_meta, **new_meta}
    return merged


def merge_tool_part(existing: ToolPart, incoming: Part) -> ToolPart:
    """`existing` advanced to `incoming`'s state when that is later in the lifecycle, never earlier.

    On an advance the state and its fields (`output`, `errorText`, `approval`, the latter merged key
    by key) come from `incoming`. Any other field, `input` included, is taken from `incoming` only
    where `existing` lacks it (absent or None); the state fields only when the states are equal
    (a stale or conflicting final copy brings no `output` / `errorText` / `approval`).
    """
    merged = cast(dict[str, Any], dict(existing))
    old_rank = STATE_RANK.get(str(existing.get("state")), -1)
    new_rank = STATE_RANK.get(str(incoming.get("state")), -1)
    if not approval_matches(existing, incoming):
        return existing  # an answer to another (or no) approval request advances nothing
    if new_rank > old_rank:
        merged["state"] = incoming["state"]
        for name in ADVANCED_FIELDS:
            if name not in incoming:
                continue
            old, new = merged.get(name), incoming[name]
            merged[name] = {**old, **new} if isinstance(old, dict) and isinstance(new, dict) else new
    same_state = incoming.get("state") == existing.get("state")
    for name, value in incoming.items():
        if name == "state" or merged.get(name) is not None or value is None:
            continue
        if name not in ADVANCED_FIELDS or new_rank > old_rank or same_state:
            merged[name] = value
    return cast(ToolPart, merged)


APPROVAL_ANSWERS = ("approval-responded", "output-denied")


def approval_matches(existing: ToolPart | Part, incoming: Part) -> bool:
    """Whether `incoming` may advance a tool part that asked for approval (matched by approval id).

    A part in `approval-requested` advances only to an answer (`approval-responded` with a boolean
    `approved`, or `output-denied`) carrying the approval id it asked with: a client never supplies
    the output of a tool that needs approval (the agent runs it), and a stale or foreign approval id
    changes nothing. An `approval-responded` answer to a part that asked for no approval is refused too.
    """
    state = incoming.get("state")
    answer = incoming.get("approval")
    asked = existing.get("approval")
    if existing.get("state") == "approval-requested":
        if state not in APPROVAL_ANSWERS:
            return state == existing.get("state")
        return (
            isinstance(answer, dict)
            and isinstance(asked, dict)
            and answer.get("id") == asked.get("id")
            and (state == "output-denied" or isinstance(answer.get("approved"), bool))
        )
    asked_for_none = STATE_RANK.get(str(existing.get("state")), -1) < STATE_RANK["approval-requested"]
    return not (state == "approval-responded" and asked_for_none)


def _plain_key(part: Part, before: list[Part]) -> tuple[str, str]:
    kind = str(part.get("type", ""))
    if part.get("id") is not None:
        return kind, f"id:{part['id']}"
    ordinal = sum(1 for p in before if not is_tool_part(p) and p.get("type") == kind and p.get("id") is None)
    return kind, f"#{ordinal}"
