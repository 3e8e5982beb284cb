"""Token usage as the adapters report it, normalised for budgets and metrics."""

from __future__ import annotations

import pytest

from agent_sessions.agent.budget import Usage, usage_of


def test_openai_compatible_usage_with_cached_prompt_tokens() -> None:
    raw = {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280, "cached_tokens": 1024}
    assert usage_of(raw) == Usage(input_tokens=1200, output_tokens=80, cached_tokens=1024)
    assert usage_of(raw).total == 1280


def test_bedrock_converse_usage() -> None:
    raw = {"inputTokens": 300, "outputTokens": 45, "totalTokens": 345, "cacheReadInputTokens": 200}
    assert usage_of(raw) == Usage(input_tokens=300, output_tokens=45, cached_tokens=200)


def test_missing_or_odd_values_count_as_zero() -> None:
    assert usage_of({}) == Usage()
    assert usage_of({"prompt_tokens": True, "completion_tokens": "9"}) == Usage()


def test_a_finished_turn_leaves_no_budget_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime ends each turn's budget: a model call later in the same thread (another turn's
    setup, a test) must not count tokens against the finished turn's session."""
    from agent_sessions import store
    from agent_sessions.agent import budget

    def no_store(*args: object, **kwargs: object) -> None:
        raise AssertionError("no budget applies outside a turn")

    monkeypatch.setattr(store, "add_budget_tokens", no_store)
    budget._current.set(budget._DayBudget("session_x", 20000, 1_000, 0))
    budget.end_turn()
    assert budget.record_usage({"prompt_tokens": 5, "completion_tokens": 7}).total == 12
