"""Per-session daily budgets: turns per day and model tokens per day, enforced by the runtime.

A turn is counted when it starts (`start_turn`, one conditional UpdateItem on the session's item
for the UTC day); the tokens each model call used are added when the call finishes
(`record_usage`, one UpdateItem whose reply carries the day's total). The check before the next
model call (`before_model_call`) reads that total from memory, so it costs no request. Over a
cap, BudgetExceeded (a TurnError) ends the turn with an `error` chunk naming the limit and an
error `turn-complete`; later turns are refused the same way until the UTC day rolls over.

Caps come from `Settings.turns_per_day` / `tokens_per_day` with per-environment overrides in
`Settings.env_limits` (docs/operations.md, "Limits"). Tokens are counted for model calls made
through `stream_text` (the adapters' `Finish.usage`); an agent that calls a model some other way
is bounded by the turn cap only.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent_sessions import store
from agent_sessions.agent.types import TurnError
from agent_sessions.config import get_settings
from agent_sessions.observability import metrics

SECONDS_PER_DAY = 86_400

clock: Callable[[], float] = time.time
"""Epoch seconds the budget's UTC day is taken from (tests move it instead of sleeping)."""


class BudgetExceeded(TurnError):
    """A session's daily budget is spent; the message names the limit (`turns_per_day` or
    `tokens_per_day`) and when it resets."""


@dataclass(frozen=True)
class Usage:
    """Tokens one model call used, as the adapters report them (OpenAI-compatible or Bedrock names)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    """Input tokens served from the provider's prompt cache (included in `input_tokens`)."""

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_of(raw: Mapping[str, Any]) -> Usage:
    """Normalise a `Finish.usage` dict: OpenAI (`prompt_tokens`, `completion_tokens`,
    `cached_tokens`) or Bedrock Converse (`inputTokens`, `outputTokens`, `cacheReadInputTokens`)."""

    def first(*names: str) -> int:
        for name in names:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return 0

    return Usage(
        input_tokens=first("prompt_tokens", "inputTokens", "input_tokens"),
        output_tokens=first("completion_tokens", "outputTokens", "output_tokens"),
        cached_tokens=first("cached_tokens", "cacheReadInputTokens", "cache_read_input_tokens"),
    )


@dataclass
class _DayBudget:
    session_id: str
    day: int
    max_tokens: int
    tokens: int


_current: contextvars.ContextVar[_DayBudget | None] = contextvars.ContextVar("day_budget", default=None)


def _cap(env_id: str, name: str) -> int:
    settings = get_settings()
    override = settings.env_limits.get(env_id, {}).get(name)
    return int(override) if override is not None else int(getattr(settings, name))


def _today() -> int:
    return int(clock() // SECONDS_PER_DAY)


def _refuse(name: str, cap: int, day: int) -> BudgetExceeded:
    metrics.add_metric(name="BudgetExceeded", unit="Count", value=1)
    reset = (day + 1) * SECONDS_PER_DAY - clock()
    return BudgetExceeded(
        f"This chat reached its daily limit ({name} = {cap}); it resets at 00:00 UTC, "
        f"in {int(reset // 60)} min."
    )


@dataclass(frozen=True)
class TurnStart:
    fenced: bool
    """The run's fence was confirmed in the same request (no separate check needed)."""
    refused: BudgetExceeded | None = None
    """Set when a daily cap refused the turn (nothing counted): the turn raises it, so it ends
    with an error chunk and an error `turn-complete`."""


def start_turn(session_id: str, env_id: str, *, fence: store.Fence | None = None) -> TurnStart:
    """Count the turn that is starting, against both daily caps.

    With `fence`, the count lands only while that run is its session's current run, in the same
    request (`store.start_fenced_budget_turn`: one transaction instead of a GetItem and an
    UpdateItem on the way to the first token); raises store.RunSuperseded when it is not. With
    both caps off nothing is counted and no request is made (`fenced` is then False).
    """
    max_turns, max_tokens = _cap(env_id, "turns_per_day"), _cap(env_id, "tokens_per_day")
    _current.set(None)
    if not max_turns and not max_tokens:
        return TurnStart(fenced=False)
    day = _today()
    if fence is not None:
        admitted = store.start_fenced_budget_turn(fence, session_id, day, max_turns, max_tokens)
        # Below the token cap when the turn started (the transaction's condition); the first
        # model call's usage reply brings the day's total (`record_usage`).
        tokens = 0 if admitted else None
    else:
        used = store.start_budget_turn(session_id, day, max_turns, max_tokens)
        tokens = used.tokens if used is not None else None
    if tokens is None:
        seen = store.read_budget(session_id, day)  # which cap: only on the refused path
        name, cap = (
            ("turns_per_day", max_turns)
            if max_turns and seen.turns >= max_turns
            else ("tokens_per_day", max_tokens)
        )
        return TurnStart(fenced=fence is not None, refused=_refuse(name, cap, day))
    _current.set(_DayBudget(session_id, day, max_tokens, tokens))
    return TurnStart(fenced=fence is not None)


def end_turn() -> None:
    """Forget the turn's budget: a model call outside a turn (or in a thread that ran one) counts
    against no session."""
    _current.set(None)


def before_model_call() -> None:
    """Raise BudgetExceeded when this turn's session has spent its tokens for the day (no request)."""
    budget = _current.get()
    if budget is not None and budget.max_tokens and budget.tokens >= budget.max_tokens:
        raise _refuse("tokens_per_day", budget.max_tokens, budget.day)


def record_usage(raw: Mapping[str, Any]) -> Usage:
    """Count a finished model call's tokens against the turn's session (one UpdateItem when a
    budget applies) and emit the usage metrics; returns the normalised usage."""
    usage = usage_of(raw)
    for name, value in (
        ("ModelInputTokens", usage.input_tokens),
        ("ModelOutputTokens", usage.output_tokens),
        ("ModelCachedTokens", usage.cached_tokens),
    ):
        if value:
            metrics.add_metric(name=name, unit="Count", value=value)
    budget = _current.get()
    if budget is not None and usage.total:
        budget.tokens = store.add_budget_tokens(budget.session_id, budget.day, usage.total).tokens
    return usage
