"""One worker invocation as the state machine makes it: `continue` near the deadline, then answering."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent_sessions import sessions, streams, worker
from agent_sessions.keys import StaticKeyStore, set_key_store
from tests.integration.conftest import Api, create_body
from tests.support import ENV


@dataclass
class LambdaClock:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_near_the_deadline_the_worker_returns_continue_and_the_next_invocation_answers(
    api: Api, aws: Any
) -> None:
    set_key_store(StaticKeyStore([ENV]))
    body = create_body("deadline")
    body["triggerConfig"]["idleTimeoutInSeconds"] = 1
    created = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key).body
    message = {
        "kind": "message",
        "payload": {
            "chatId": "deadline",
            "trigger": "submit-message",
            "message": {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
        },
    }
    seq = api(
        "POST",
        "/realtime/v1/sessions/deadline/in/append",
        body=json.dumps(message),
        token=created["publicAccessToken"],
    ).body["seq"]
    event = {"runId": created["runId"], "sessionId": created["id"], "attempt": 0}

    assert worker.handle(event, LambdaClock(remaining_ms=30_000)) == {"status": "continue"}
    assert streams.read_after(created["id"], "out", -1) == [], "nothing started this close to the deadline"

    assert worker.handle(event, LambdaClock(remaining_ms=15 * 60_000)) == {"status": "waiting"}
    records = streams.read_after(created["id"], "out", -1)
    done = records[-1]
    assert streams.control_kind(done) == "turn-complete" and streams.header(
        done, "session-in-event-id"
    ) == str(seq)
    text = "".join(json.loads(r.body)["data"].get("delta", "") for r in records if r.body)
    assert text == "You said: hi. This reply is streamed word by word by demo-chat."
    assert sessions.resolve(ENV.id, "deadline").current_run_id == created["runId"]
