"""Token usage as the adapters report it, normalised for budgets and metrics."""

from __future__ import annotations

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
