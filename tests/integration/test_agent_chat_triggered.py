"""`AgentChat(on_triggered=...)` (issue 15): the client reports each new run of its chat with the
reason it was triggered — the session start, an upgrade, a continuation — learnt from the run id
the agent stamps on each turn's first `.out` record."""

from __future__ import annotations

from agent_sessions import store
from agent_sessions.agent import ChatEvent, Turn, chat
from agent_sessions.client import AgentChat, AgentSessions, TriggeredEvent
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import run_status, wait_for


def _triggered_run(turn: Turn) -> str:
    text = (turn.message or {}).get("parts", [{}])[0].get("text")
    if text == "end":
        chat.end_run()
    return f"run {turn.run_id}"


def _upgrade_when_asked(event: ChatEvent) -> None:
    if not event.continuation and (event.message or {}).get("parts", [{}])[0].get("text") == "upgrade":
        chat.request_upgrade()


chat.agent(id="t-triggered-upgrade", run=_triggered_run, on_turn_start=_upgrade_when_asked)


def test_agent_chat_reports_each_new_run_with_its_reason(stack: LocalStack) -> None:
    seen: list[TriggeredEvent] = []
    client = AgentSessions(secret_key=stack.secret_key, base_url=stack.base_url)
    talk = AgentChat("t-triggered-upgrade", id="triggered-1", client=client, on_triggered=seen.append)
    talk.text("hello")
    talk.text("again")
    assert [(e.reason, e.chat_id) for e in seen] == [("initial", "triggered-1")]
    initial = seen[0].run_id
    assert talk.text("upgrade") != f"run {initial}"
    talk.text("end")
    wait_for(lambda: run_status(seen[-1].run_id) == store.RunStatus.COMPLETED)
    reply = talk.text("after")
    assert reply == f"run {seen[-1].run_id}"
    assert [e.reason for e in seen] == ["initial", "upgrade", "continuation"]
    assert len({e.run_id for e in seen}) == 3
