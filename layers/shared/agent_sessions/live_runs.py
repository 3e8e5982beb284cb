"""The per-environment cap on live runs (`Settings.live_runs_limit`, per-environment overrides in
`Settings.env_limits` under `live_runs`).

Counted, not kept: the runs that are not final carry their environment in the sparse `live_by_env`
index (every final status removes it, and the recovery sweep finalizes a run that died without a
final write), so a check is one `Select=COUNT` Query, made only by a request that would start a run.
There is no counter to drift. The count is eventually consistent and launches do not serialize on
it, so concurrent launches can overshoot the cap by their number; the cap is a brake on runaway
fan-out, not an exact quota (docs/architecture.md, "Limits").
"""

from __future__ import annotations

from agent_sessions import store
from agent_sessions.config import get_settings
from agent_sessions.errors import LiveRunsLimited
from agent_sessions.observability import metrics
from agent_sessions.rate_limits import RateStatus

LIMIT_NAME = "live_runs"


def cap_of(env_id: str) -> int:
    """Live runs allowed at once in environment `env_id` (0: unlimited)."""
    settings = get_settings()
    override = settings.env_limits.get(env_id, {}).get(LIMIT_NAME)
    return int(override) if override is not None else settings.live_runs_limit


def admit(env_id: str, now_ms: int) -> None:
    """Check that one more run of `env_id` may start (one Query; nothing when the cap is 0).

    Raises LiveRunsLimited (429 `live_runs_limit`, `x-ratelimit-*` with a short reset) when the
    environment already has `cap` live runs.
    """
    cap = cap_of(env_id)
    if cap <= 0:
        return
    live = store.count_live_runs(env_id, up_to=cap)
    if live < cap:
        return
    metrics.add_metric(name="LiveRunsLimited", unit="Count", value=1)
    reset_ms = now_ms + get_settings().live_runs_retry_seconds * 1000
    raise LiveRunsLimited(
        f"Too many live runs in this environment ({cap}); retry when one has ended",
        RateStatus(cap, 0, reset_ms),
        limit=LIMIT_NAME,
        liveRuns=live,
    )
