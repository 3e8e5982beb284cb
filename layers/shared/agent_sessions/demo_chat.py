"""`demo-chat`: the example agent, written directly against the stream API.

It answers every user message by streaming a short reply in several `text-delta` chunks, honours
`{kind:"stop"}` mid-turn, queues messages that arrive mid-turn as later turns, and ends each turn
with a `turn-complete` that answers the message's `.in` seq.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from agent_sessions.ids import new_record_id
from agent_sessions.worker import InputRecord, Outcome, RunContext, agent

DELTA_INTERVAL_SECONDS = 0.07


def user_text(payload: dict[str, Any]) -> str:
    message = payload.get("message") or {}
    parts = message.get("parts") or []
    return " ".join(
        p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "text"
    ).strip()


def reply_for(text: str) -> list[str]:
    """At least eight deltas, so the reply visibly streams."""
    words = f"You said: {text or '(nothing)'}. This reply is streamed word by word by demo-chat.".split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


@agent("demo-chat")
def demo_chat(ctx: RunContext) -> Outcome:
    pending: deque[InputRecord] = deque()
    while True:
        if not pending:
            arrived = ctx.wait_input(ctx.idle_timeout_seconds)
            if not arrived:
                outcome, arrived = ctx.idle_outcome()
                if not arrived:
                    return outcome
            pending.extend(arrived)
        record = pending.popleft()
        chunk = record.chunk if isinstance(record.chunk, dict) else {}
        if chunk.get("kind") != "message":
            continue  # a stop with no turn running, or a record this agent does not know
        payload = chunk.get("payload") or {}
        trigger = payload.get("trigger")
        if trigger == "close":
            return "done"
        if trigger in ("submit-message", "regenerate-message", "action"):
            answer_turn(ctx, record, payload, pending)


def answer_turn(
    ctx: RunContext, record: InputRecord, payload: dict[str, Any], pending: deque[InputRecord]
) -> None:
    answered = record.seq
    text_id = new_record_id()
    ctx.out.write_chunk({"type": "start", "messageId": f"msg_{new_record_id()}"})
    ctx.out.write_chunk({"type": "start-step"})
    ctx.out.write_chunk({"type": "text-start", "id": text_id})
    stopped = False
    for delta in reply_for(user_text(payload)):
        ctx.out.write_chunk({"type": "text-delta", "id": text_id, "delta": delta})
        time.sleep(DELTA_INTERVAL_SECONDS)
        for incoming in ctx.poll_input():
            chunk = incoming.chunk if isinstance(incoming.chunk, dict) else {}
            if chunk.get("kind") == "stop":
                stopped, answered = True, max(answered, incoming.seq)
            else:
                pending.append(incoming)
        if stopped:
            break
    ctx.out.write_chunk({"type": "text-end", "id": text_id})
    ctx.out.write_chunk({"type": "finish-step"})
    ctx.out.write_chunk({"type": "finish", "finishReason": "stop" if not stopped else "other"})
    ctx.complete_turn(answered)
