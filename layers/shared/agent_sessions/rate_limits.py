"""Fixed-window rate limits: `.in/append` per session, session create and token mint per environment.

The contract is the reference's: every limited response carries `x-ratelimit-limit`,
`x-ratelimit-remaining` and `x-ratelimit-reset` (Unix ms when the window ends), and a request over
the limit gets 429 with the same headers and changes nothing. The 4.8.3 ApiClient (`AgentChat`,
`sessions.open().in.send`) waits until the reset and resends with the same `X-Part-Id`.

Where the counts live:

* `.in/append`: on the session item (`store.RateWindow`), read with the session the route already
  reads and written inside the append transaction, so the hot path costs no extra request and an
  append refused here stores nothing.
* create and token mint: one conditional UpdateItem on a per-environment counter item per window
  (`store.count_in_window`), skipped entirely when the limit is 0 (unlimited).

Limits come from `Settings` (`*_rate_limit`, `rate_window_seconds`) with per-environment overrides in
`Settings.env_limits`; the defaults are far above what any real chat or backend does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent_sessions import store
from agent_sessions.config import get_settings
from agent_sessions.errors import RateLimited
from agent_sessions.observability import metrics


class Limit(StrEnum):
    APPEND = "append_rate"
    """`.in/append` requests per session."""
    CREATE = "create_rate"
    """Session creates per environment."""
    TOKEN = "token_rate"
    """Token mints per environment."""


@dataclass(frozen=True)
class RateStatus:
    """Where a request leaves its window: what the `x-ratelimit-*` headers say."""

    limit: int
    remaining: int
    reset_ms: int
    """Unix ms at which the window ends and the count starts again."""

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_ms),
        }


@dataclass(frozen=True)
class Admission:
    """An admitted request: the window to store (count included) and the status to report."""

    window: store.RateWindow
    status: RateStatus


def limit_of(env_id: str, limit: Limit) -> int:
    """Requests allowed per window for `limit` in environment `env_id` (0: unlimited)."""
    settings = get_settings()
    override = settings.env_limits.get(env_id, {}).get(limit.value)
    return int(override) if override is not None else int(getattr(settings, f"{limit.value}_limit"))


def window_start(at_ms: int) -> int:
    window_ms = get_settings().rate_window_seconds * 1000
    return at_ms - at_ms % window_ms


def _reset(start_ms: int) -> int:
    return start_ms + get_settings().rate_window_seconds * 1000


def refused(limit: Limit, status: RateStatus) -> RateLimited:
    metrics.add_metric(name="RateLimited", unit="Count", value=1)
    return RateLimited(
        f"Rate limit exceeded ({status.limit} {limit.name.lower()} requests per "
        f"{get_settings().rate_window_seconds} s); retry after x-ratelimit-reset",
        status,
        limit=limit.value,
    )


def admit_append(limit: int, window: store.RateWindow | None, at_ms: int) -> Admission:
    """Count one `.in/append` in the session's window as read with the session.

    Raises RateLimited (429 + headers) when `limit` appends already count in the current window.
    """
    start = window_start(at_ms)
    count = window.count if window is not None and window.start_ms == start else 0
    if count >= limit:
        raise refused(Limit.APPEND, RateStatus(limit, 0, _reset(start)))
    return Admission(store.RateWindow(start, count + 1), RateStatus(limit, limit - count - 1, _reset(start)))


def consume(env_id: str, limit: Limit, at_ms: int) -> RateStatus | None:
    """Count one request against an environment-wide limit (one UpdateItem); None when unlimited.

    Raises RateLimited (429 + headers) when the window is full; nothing else is written then.
    """
    allowed = limit_of(env_id, limit)
    if allowed <= 0:
        return None
    start = window_start(at_ms)
    ttl = 2 * get_settings().rate_window_seconds + 60
    count = store.count_in_window(f"{env_id}#{limit.value}", store.RateWindow(start, 0), allowed, ttl)
    if count is None:
        raise refused(limit, RateStatus(allowed, 0, _reset(start)))
    return RateStatus(allowed, max(allowed - count, 0), _reset(start))


def refund(env_id: str, limit: Limit, at_ms: int) -> None:
    """Give back the request `consume(env_id, limit, at_ms)` counted, because it then failed as a
    client error: bad input changes nothing, not even a counter."""
    if limit_of(env_id, limit) > 0:
        store.uncount_in_window(f"{env_id}#{limit.value}", store.RateWindow(window_start(at_ms), 0))
