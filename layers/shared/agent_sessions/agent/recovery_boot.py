"""Recovery boot: a run boots after its predecessor (or its own earlier attempt) died mid-turn.

The crash handling of the durable runs (docs/architecture.md, "Crash mid-turn") closes such a turn
on the wire with an `error` chunk and a `turn-complete` marked `turn-interrupted`, and counts its
input as answered. What it cannot do is put the exchange into the conversation: the dead run never
saved it. At the next boot the runtime reads the turn back (`streams.interrupted_turn`): the user
message it answered (from `.in`) and the partial assistant message it had streamed, and lets
`on_recovery_boot` decide what the conversation keeps.

Default (no hook, or the hook returns None / leaves a field None), as the reference's smart default
does when a follow-up exists: the chain becomes the settled history plus the interrupted user
message and the partial answer, so the next message ("keep going", or anything else) is answered
with that context. Unlike the reference, the interrupted message is not answered again by default,
even when no follow-up waits: here the turn was already closed for the client, and answering it
again would answer one input twice. An agent that wants that returns `recovered_turns=[user]`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from agent_sessions import streams
from agent_sessions.agent.messages import MessageAccumulator, UIMessage
from agent_sessions.agent.writer import ChatWriter
from agent_sessions.envelopes import envelope_data


@dataclass(frozen=True)
class PendingToolCall:
    """A tool call the partial answer made whose result never came (`RecoveryPendingToolCall`)."""

    tool_call_id: str
    tool_name: str
    input: Any
    part_index: int


@dataclass
class RecoveryBootEvent:
    """The argument of `on_recovery_boot` (the TS `RecoveryBootEvent`)."""

    chat_id: str
    run_id: str
    previous_run_id: str | None
    settled_messages: list[UIMessage]
    in_flight_users: list[UIMessage]
    """The interrupted user message first, then any message on `.in` no turn has answered yet."""
    partial_assistant: UIMessage
    pending_tool_calls: list[PendingToolCall]
    writer: ChatWriter
    """Writes a chunk to `.out` now (a recovery banner, say: `{"type": "data-…", "transient": True}`);
    call it or its `write`."""
    cause: str = "unknown"
    """Always "unknown" (as in the reference): a dead run does not say why it died."""
    client_data: Any = None


@dataclass
class RecoveryBootResult:
    """What `on_recovery_boot` may return; a None field keeps the default."""

    chain: list[UIMessage] | None = None
    """The conversation to continue from. Default: settled + [interrupted user, partial]."""
    recovered_turns: list[UIMessage] | None = None
    """User messages to answer as turns now, before new input. Default: none."""
    before_boot: Callable[[], Any] | None = None
    """Runs after the chain is set and before any turn; its errors fail the boot (and the run)."""


@dataclass
class Interrupted:
    """An interrupted turn read back: what it answered and what it had streamed."""

    answering: int | None
    closed_at_seq: int
    """Identifies the interrupted turn (its closing `.out` record), so it is recovered once."""
    user: UIMessage | None
    partial: UIMessage | None
    pending_tool_calls: list[PendingToolCall] = field(default_factory=list)


def read_interrupted(session_id: str) -> Interrupted | None:
    """The newest turn, when it was closed as interrupted; None otherwise (two queries at most)."""
    turn = streams.interrupted_turn(session_id)
    if turn is None:
        return None
    user: UIMessage | None = None
    if turn.answering is not None:
        found = streams.read_after(session_id, "in", turn.answering - 1, limit=1)
        if found and found[0].seq == turn.answering:
            chunk = envelope_data(found[0].body)
            payload = chunk.get("payload") if isinstance(chunk, dict) else None
            message = payload.get("message") if isinstance(payload, dict) else None
            if isinstance(message, dict) and message.get("role") == "user":
                user = message
    accumulator = MessageAccumulator("partial")
    for chunk in turn.chunks:
        if isinstance(chunk, dict):
            accumulator.add(cast(Any, chunk))
    accumulator.close_open_parts()
    partial = accumulator.message if accumulator.message["parts"] else None
    return Interrupted(turn.answering, turn.closed_at_seq, user, partial, _pending_calls(partial))


def _pending_calls(partial: UIMessage | None) -> list[PendingToolCall]:
    calls = []
    for i, part in enumerate((partial or {}).get("parts") or []):
        kind = str(part.get("type", ""))
        if kind.startswith("tool-") and part.get("state") in ("input-streaming", "input-available"):
            calls.append(PendingToolCall(str(part.get("toolCallId")), kind[5:], part.get("input"), i))
    return calls


def default_chain(settled: list[UIMessage], interrupted: Interrupted) -> list[UIMessage]:
    """Settled history + the interrupted user message + the partial answer (what exists of them)."""
    chain = list(settled)
    ids = {m.get("id") for m in chain}
    for message in (interrupted.user, interrupted.partial):
        if message is not None and message.get("id") not in ids:
            chain.append(message)
    return chain
