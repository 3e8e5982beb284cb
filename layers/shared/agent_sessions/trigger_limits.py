"""Trigger settings that cost money, bounded by the deployment's own settings.

A session's `triggerConfig` arrives in a create body that a browser can shape (through
`createStartSessionAction`'s params), so none of it is trusted for cost: the warm idle wait after a
turn and the attempts per run are clamped here into ranges the deployment sets
(`AGENT_SESSIONS_IDLE_TIMEOUT_*`, `AGENT_SESSIONS_MAX_ATTEMPTS_LIMIT`), and
`basePayload.idleTimeoutInSeconds` is never read. Every reader (run launch, worker, agent runtime)
goes through these functions, so a run stored before a limit changed is bounded too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agent_sessions.config import get_settings


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def idle_timeout_seconds(requested: Any) -> int:
    """The warm wait after a turn, in seconds: `requested` clamped to 1..`idle_timeout_max_seconds`,
    `idle_timeout_default_seconds` when absent or not a finite number."""
    settings = get_settings()
    value = _number(requested)
    if value is None:
        return settings.idle_timeout_default_seconds
    return int(min(max(value, 1), settings.idle_timeout_max_seconds))


def max_attempts(trigger_config: Mapping[str, Any] | None) -> int:
    """Attempts per run: `triggerConfig.maxAttempts` clamped to 1..`max_attempts_limit` (default 1)."""
    value = _number((trigger_config or {}).get("maxAttempts"))
    if value is None:
        return 1
    return int(min(max(value, 1), get_settings().max_attempts_limit))


def run_idle_timeout(trigger_config: Mapping[str, Any] | None) -> int:
    """The idle timeout a run of this session gets (only the top-level `idleTimeoutInSeconds` counts)."""
    return idle_timeout_seconds((trigger_config or {}).get("idleTimeoutInSeconds"))
