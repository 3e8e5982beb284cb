"""A crash mid-turn on the local stack (issue 8, item 8): SIGKILL after five text-deltas, restart on
the same state directory, and the open turn is closed for every reader within the stated bound
(lease TTL + leeway + one sweep interval) while the next message is answered exactly once.

The stack runs with a 3 s lease and a 0.5 s sweep so the bound is seconds, not the default ~40 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_local_persistence import HttpChat, text_of
from tests.support import read_sse

pytestmark = pytest.mark.e2e

FAST_RECOVERY = {
    "AGENT_SESSIONS_RUN_LEASE_SECONDS": "3",
    "AGENT_SESSIONS_RUN_LEASE_LEEWAY_SECONDS": "0.5",
    "AGENT_SESSIONS_RECOVERY_SWEEP_SECONDS": "0.5",
}
LONG = "please answer this with a reply long enough to be cut off in the middle of streaming it"


def test_a_sigkill_mid_turn_closes_the_turn_and_the_next_message_is_answered_once(tmp_path: Path) -> None:
    first = start_stack(tmp_path, **FAST_RECOVERY)
    try:
        chat = HttpChat(first, "crash-mid-turn")
        answered = chat.turn("one", after=None)
        cursor = answered.records[-1].seq
        sent = httpx.post(
            f"{first.base_url}/realtime/v1/sessions/{chat.chat_id}/in/append",
            content=json.dumps(
                {
                    "kind": "message",
                    "payload": {
                        "chatId": chat.chat_id,
                        "trigger": "submit-message",
                        "message": {
                            "id": "u-long",
                            "role": "user",
                            "parts": [{"type": "text", "text": LONG}],
                        },
                    },
                }
            ),
            headers={"authorization": f"Bearer {chat.token}"},
        )
        killed_seq = int(sent.json()["seq"])
        seen = []
        while sum(1 for r in seen if r.chunk and r.chunk.get("type") == "text-delta") < 5:
            part = read_sse(
                first.base_url,
                chat.chat_id,
                chat.token,
                last_event_id=seen[-1].seq if seen else cursor,
                until_control=None,
                max_records=1,
                timeout_seconds=10,
            )
            assert part.records, "the turn never started"
            seen += part.records
    finally:
        first.process.kill()  # SIGKILL mid-turn: no shutdown, the run item stays EXECUTING
        first.process.wait(10)

    second = start_stack(tmp_path, **FAST_RECOVERY)
    try:
        chat = HttpChat(second, "crash-mid-turn", token=chat.token)
        closed = read_sse(
            second.base_url, chat.chat_id, chat.token, last_event_id=seen[-1].seq, timeout_seconds=20
        )
        assert closed.records, "the open turn was never closed"
        assert [r.chunk["type"] for r in closed.records if r.chunk][-1] == "error"
        done = closed.records[-1]
        assert done.control == "turn-complete" and done.header("session-in-event-id") == str(killed_seq)
        after = chat.turn("after the crash", after=done.seq)
        assert "You said: after the crash." in text_of(after)
        assert [r.chunk["type"] for r in after.records if r.chunk].count("start") == 1
        assert "cut off" not in text_of(after), "the killed turn's message is not answered again"
        everything = chat.read(None, until_control=None, timeout_seconds=2)
        completes = [
            r.header("session-in-event-id") for r in everything.records if r.control == "turn-complete"
        ]
        assert completes.count(str(killed_seq)) == 1 and len(completes) == 3
    finally:
        stop_stack(second)
