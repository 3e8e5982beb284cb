"""Daily budgets and the kill switch with a real agent on the local stack (its own, low caps).

Budgets: a session's turns and model tokens per UTC day, counted by the runtime; over a cap the
turn ends with an `error` chunk naming the limit + `turn-complete`, and later turns are refused
until the day rolls over (the budget's clock is moved, never slept). Cancel: an operator cancels a
run while it streams; the reader sees the turn close, the run is final, the next message is
answered by a continuation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from agent_sessions import store
from agent_sessions.agent import Turn, budget, chat
from agent_sessions.agent.messages import ModelMessage
from agent_sessions.agent.models import OfflineModel, tool
from agent_sessions.agent.models.base import Finish, ModelEvent
from agent_sessions.agent.models.tools import Tool
from agent_sessions.config import reset_settings
from agent_sessions.local.stack import LocalStack
from tests.integration.localstack import SUSPEND_TIMEOUT, Chat, free_port, run_status, text_of, wait_for
from tests.support import read_sse

USAGE = {"prompt_tokens": 60, "completion_tokens": 40, "cached_tokens": 10}


class MeteredModel:
    """The offline model, reporting usage as an OpenAI-compatible adapter does."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.inner = OfflineModel(delay_seconds=delay_seconds)
        self.calls = 0

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        self.calls += 1
        for event in self.inner.stream(messages, tools=tools, system=system):
            yield Finish(event.reason, USAGE) if isinstance(event, Finish) else event


metered = MeteredModel()
slow = MeteredModel(delay_seconds=0.2)


class City(BaseModel):
    city: str = "paris"


@tool("Weather for a city")
def get_weather(args: City) -> dict[str, str]:
    return {"city": args.city, "forecast": "sunny"}


@chat.agent(id="t-budget", idle_timeout_in_seconds=1)
def _budgeted(turn: Turn) -> Iterator[Any]:
    yield from turn.stream_text(metered, tools=[get_weather])


@chat.agent(id="t-slow", idle_timeout_in_seconds=1)
def _slow(turn: Turn) -> Iterator[Any]:
    yield from turn.stream_text(slow)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        port=free_port(),
        state_dir=Path(tmp_path_factory.mktemp("state")),
        secret_key="tr_dev_" + "L0calT3stK3y0000000000bb",
        suspend_timeout_seconds=SUSPEND_TIMEOUT,
        # 4 turns or 250 tokens a day: each metered model call uses 100 tokens.
        environ={"AGENT_SESSIONS_TURNS_PER_DAY": "4", "AGENT_SESSIONS_TOKENS_PER_DAY": "250"},
    )
    local.start_in_background()
    yield local
    local.stop()


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def error_text(records: list[Any]) -> str | None:
    return next((r.chunk["errorText"] for r in records if r.chunk and r.chunk["type"] == "error"), None)


def test_a_token_budget_reached_mid_chat_ends_the_turn_cleanly_until_the_day_rolls_over(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(10 * budget.SECONDS_PER_DAY + 3600.0)
    monkeypatch.setattr(budget, "clock", clock)
    talk = Chat(stack, "budget-tokens", task="t-budget")
    first = talk.turn("one")
    second = talk.turn("two", after=first)
    assert "You said: two" in text_of(second.records)
    assert error_text(first.records) is None and error_text(second.records) is None
    calls = metered.calls

    # 200 of 250 tokens used: the turn starts and its first model call (a tool call) runs, which
    # takes the day to 300; the call that would answer after the tool is refused, mid-turn.
    third = talk.turn("what is the weather", after=second)

    message = error_text(third.records)
    assert message is not None and "tokens_per_day = 250" in message
    types = [r.chunk["type"] for r in third.records if r.chunk]
    assert types.index("tool-output-available") < types.index("error"), "refused before the second call"
    assert third.records[-1].control == "turn-complete"
    assert metered.calls == calls + 1, "no model call over the budget"
    fourth = talk.turn("four", after=third)
    assert "tokens_per_day" in (error_text(fourth.records) or "")

    clock.at += budget.SECONDS_PER_DAY  # the next UTC day
    fifth = talk.turn("five", after=fourth)
    assert error_text(fifth.records) is None and "You said: five" in text_of(fifth.records)
    assert [r["reason"] for r in talk.runs()] == ["initial"], "the run survived its refused turns"


def test_the_turn_cap_refuses_the_fourth_turn_of_the_day(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "clock", Clock(20 * budget.SECONDS_PER_DAY))
    monkeypatch.setenv("AGENT_SESSIONS_TOKENS_PER_DAY", "0")
    monkeypatch.setenv("AGENT_SESSIONS_TURNS_PER_DAY", "3")

    reset_settings()
    try:
        talk = Chat(stack, "budget-turns", task="t-budget")
        after = None
        for text in ("a", "b", "c"):
            after = talk.turn(text, after=after)
            assert error_text(after.records) is None
        refused = talk.turn("d", after=after)
        assert "turns_per_day = 3" in (error_text(refused.records) or "")
        assert refused.records[-1].control == "turn-complete"
    finally:
        monkeypatch.setenv("AGENT_SESSIONS_TOKENS_PER_DAY", "250")
        monkeypatch.setenv("AGENT_SESSIONS_TURNS_PER_DAY", "4")
        reset_settings()


def test_cancel_during_a_streaming_turn_closes_it_for_readers_and_the_next_message_continues(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "clock", Clock(30 * budget.SECONDS_PER_DAY))
    talk = Chat(stack, "cancel-live", task="t-slow")
    run_id = talk.session()["currentRunId"]
    long = "a message long enough to keep the slow model streaming for several seconds " * 2
    seq = talk.send(long)
    read: dict[str, Any] = {}
    reader = threading.Thread(
        target=lambda: read.update(
            r=read_sse(stack.base_url, talk.chat_id, talk.token, min_in_seq=seq, timeout_seconds=30)
        )
    )
    reader.start()
    sid = talk.session()["id"]
    wait_for(lambda: any("text-delta" in r.body for r in store.read_pages(sid, "out", -1, limit=50)))

    canceled = httpx.post(f"{stack.base_url}/api/v2/runs/{run_id}/cancel", headers=talk.secret, timeout=10)

    assert canceled.status_code == 200 and canceled.json() == {"id": run_id}
    reader.join(20)
    records = read["r"].records
    assert records[-1].control == "turn-complete", "the reader saw the turn close"
    assert records[-1].header("session-in-event-id") == str(seq)
    assert "canceled by an operator" in (error_text(records) or "")
    assert run_status(run_id) is store.RunStatus.CANCELED
    partial = text_of(records)
    assert 0 < len(partial) < len(long), "the turn was cut mid-stream"
    wait_for(lambda: not any(t.name == f"run-{run_id}" for t in threading.enumerate()), timeout=10)

    nxt = talk.turn("after the cancel", after=read["r"])
    assert "You said: after the cancel" in text_of(nxt.records)
    assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]
