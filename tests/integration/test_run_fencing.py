"""Fencing and crashes on the local stack over real HTTP (issue 8, items 2, 7 and 8): only the
session's current run answers, a worker that fails mid-turn has that turn closed instead of
answered twice, and an unknown task fails fast instead of hanging the client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agent_sessions import runs, worker
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import Chat, run_status, text_of
from tests.support import read_sse

_died: set[str] = set()


@worker.agent("dies-mid-turn")
def dies_mid_turn(ctx: worker.RunContext) -> worker.Outcome:
    """Attempt 0 streams five text-deltas of its first turn and then crashes (a Lambda that raises
    or times out mid-turn); later attempts answer like demo-chat."""
    if ctx.session_id not in _died:
        for record in ctx.wait_input(20):
            _died.add(ctx.session_id)
            ctx.begin_turn(record.seq)
            ctx.out.write_chunk({"type": "start", "messageId": f"m-{record.seq}"})
            ctx.out.write_chunk({"type": "text-start", "id": "t"})
            for i in range(5):
                ctx.out.write_chunk({"type": "text-delta", "id": "t", "delta": f"partial{i} "})
            ctx.out.flush()
            raise RuntimeError("worker died mid-turn")
    from agent_sessions.demo_chat import demo_chat

    return demo_chat(ctx)


def types(read: object) -> list[str]:
    return [r.chunk["type"] for r in read.records if r.chunk]  # type: ignore[attr-defined]


def controls(read: object) -> list[str]:
    return [r.control for r in read.records if r.control]  # type: ignore[attr-defined]


def test_after_end_and_continue_only_the_new_run_answers(stack: LocalStack) -> None:
    """The issue's reproduction: the replaced run is warm, polling `.in`, when the message lands."""
    chat = Chat(stack, "fence-swap")
    first = chat.turn("one")
    old = chat.created["runId"]
    swapped = chat.http.post(
        f"/api/v1/sessions/{chat.chat_id}/end-and-continue",
        json={"callingRunId": old, "reason": "manual"},
        headers=chat.secret,
    ).json()
    assert swapped["swapped"] is True
    second = chat.turn("two", after=first)
    assert types(second).count("start") == 1 and controls(second) == ["turn-complete"]
    assert "two" in text_of(second.records)
    tail = read_sse(
        stack.base_url, chat.chat_id, chat.token, last_event_id=second.records[-1].seq, timeout_seconds=2
    )
    assert tail.records == [], "the replaced run wrote nothing after the new run's turn"
    assert run_status(old) == runs.CANCELED
    assert chat.session()["currentRunId"] == swapped["runId"]


def test_a_worker_that_dies_mid_turn_has_that_turn_closed_and_the_next_message_answered_once(
    stack: LocalStack,
) -> None:
    chat = Chat(stack, "dies-mid-turn", task="dies-mid-turn", maxAttempts=2)
    seq = chat.send("this turn will break")
    broken = read_sse(stack.base_url, chat.chat_id, chat.token, min_in_seq=seq)
    assert types(broken)[:7] == ["start", "text-start"] + ["text-delta"] * 5
    assert types(broken)[-1] == "error" and controls(broken) == ["turn-complete"]
    assert broken.records[-1].header("session-in-event-id") == str(seq)
    after = chat.turn("and now?", after=broken)
    assert types(after).count("start") == 1 and "and now?" in text_of(after.records)
    assert "this turn will break" not in text_of(after.records), "the broken turn is not answered again"
    assert [r["reason"] for r in chat.runs()] == ["initial"], "the retry attempt of the same run answered"


def test_an_unknown_task_is_refused_at_create_where_the_registry_is_known(stack: LocalStack) -> None:
    chat_http = Chat(stack, "known-task").http
    refused = chat_http.post(
        "/api/v1/sessions",
        json={
            "type": "chat.agent",
            "externalId": "nosuch",
            "taskIdentifier": "nosuchagent",
            "triggerConfig": {"basePayload": {"chatId": "nosuch", "trigger": "preload"}},
        },
        headers={"authorization": f"Bearer {stack.secret_key}"},
    )
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "unknown_task" and "nosuchagent" in body["error"]
    assert "demo-chat" in body["knownTasks"]
    assert refused.headers.get("access-control-allow-origin")


def test_the_cli_naming_an_unknown_agent_gets_the_error_and_does_not_hang(
    stack: LocalStack, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AGENT_SESSIONS_URL": stack.base_url,
        "AGENT_SESSIONS_SECRET_KEY": stack.secret_key,
        "AGENT_SESSIONS_CLI_STATE_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent_sessions.client.cli", "chat", "nosuchagent", "--chat-id", "cli-nosuch"],
        input="hello?\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert 'No agent is registered for task "nosuchagent"' in done.stdout + done.stderr
