"""A turn's start confirms its run is current and counts the turn in one request (issue 10).

On the way from a message to its first token a run made two serial requests here: a strongly
consistent GetItem of the session (the fence: only the current run answers) and an UpdateItem of
the day's budget. One transaction now does both, all or nothing: a replaced run counts nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions import store
from agent_sessions.agent import budget
from agent_sessions.config import reset_settings
from tests.support import ENV, count_dynamodb_calls


def _fence(created: dict[str, Any]) -> store.Fence:
    session = store.get_session_item(store.session_pk(ENV.id, created["id"]))
    assert session is not None and session.current_run_id
    return store.Fence(session.pk, session.current_run_id)


def test_the_current_run_starts_a_turn_in_one_transaction(aws: Any, created: dict[str, Any]) -> None:
    fence = _fence(created)
    with count_dynamodb_calls() as calls:
        started = budget.start_turn(created["id"], ENV.id, fence=fence)
    assert started == budget.TurnStart(fenced=True)
    assert calls.by_operation() == {"TransactWriteItems": 1}
    assert store.read_budget(created["id"], budget._today()).turns == 1


def test_a_replaced_run_is_refused_and_counts_nothing(aws: Any, created: dict[str, Any]) -> None:
    fence = _fence(created)
    with pytest.raises(store.RunSuperseded):
        budget.start_turn(created["id"], ENV.id, fence=store.Fence(fence.session_pk, "run_replaced"))
    assert store.read_budget(created["id"], budget._today()).turns == 0


def test_a_spent_budget_refuses_the_turn_after_the_fence_held(
    aws: Any, created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_TURNS_PER_DAY", "1")
    reset_settings()
    fence = _fence(created)
    assert budget.start_turn(created["id"], ENV.id, fence=fence).refused is None
    refused = budget.start_turn(created["id"], ENV.id, fence=fence)
    assert refused.fenced and isinstance(refused.refused, budget.BudgetExceeded)
    assert "turns_per_day = 1" in str(refused.refused)
    assert store.read_budget(created["id"], budget._today()).turns == 1


def test_with_both_caps_off_no_request_is_made_and_the_fence_is_left_to_the_turn(
    aws: Any, created: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_TURNS_PER_DAY", "0")
    monkeypatch.setenv("AGENT_SESSIONS_TOKENS_PER_DAY", "0")
    reset_settings()
    fence = _fence(created)
    with count_dynamodb_calls() as calls:
        started = budget.start_turn(created["id"], ENV.id, fence=fence)
    assert started == budget.TurnStart(fenced=False) and calls.total == 0
