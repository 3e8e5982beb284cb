"""Run lifecycle: the ensure-live-run probe, continuations, end-and-continue, the audit trail.

A run becomes current only through the compare-and-swap in `store.swap_current_run`. We write the
run item first, swap, and launch only after winning: a loser never executes, so "cancel the run
you started" is a status write rather than a race with a live agent. If the launch fails after a
win, the run is marked FAILED and the next append starts a continuation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_sessions import store, trigger_limits
from agent_sessions.errors import ConcurrencyError, NotFound, SessionClosed
from agent_sessions.ids import new_run_id
from agent_sessions.launchers import Launcher, get_launcher
from agent_sessions.observability import metrics

logger = logging.getLogger(__name__)

QUEUED, EXECUTING, WAITING = "QUEUED", "EXECUTING", "WAITING"
COMPLETED, FAILED, EXPIRED, CANCELED = "COMPLETED", "FAILED", "EXPIRED", "CANCELED"
FINAL_STATUSES = frozenset({COMPLETED, FAILED, EXPIRED, CANCELED})
AUDIT_REASONS = ("initial", "continuation", "upgrade", "manual")
_ENSURE_ATTEMPTS = 3


@dataclass(frozen=True)
class EnsureResult:
    run_id: str
    triggered: bool
    session: store.SessionModel
    """The session as it stands after the claim (the swap returns the updated item)."""


def audit_reason(reason: str) -> str:
    return reason if reason in AUDIT_REASONS else "manual"


def build_payload(session: store.SessionModel, previous_run_id: str | None) -> dict[str, Any]:
    """basePayload, then the server overrides (which callers cannot unset).

    `idleTimeoutInSeconds` is always the server's bounded value (`trigger_limits`), whatever the
    basePayload carried: a browser-shaped payload must not keep a run warm.
    """
    config = session.trigger_config or {}
    payload = dict(config.get("basePayload") or {})
    payload["idleTimeoutInSeconds"] = trigger_limits.run_idle_timeout(config)
    payload["sessionId"] = session.session_id
    if previous_run_id is not None:
        for key in ("message", "messages", "trigger"):
            payload.pop(key, None)
        payload["continuation"] = True
        payload["previousRunId"] = previous_run_id
    return payload


def _new_run(session: store.SessionModel, reason: str, previous_run_id: str | None) -> str:
    run_id = new_run_id()
    at = store.now()
    store.put_run(
        store.RunModel(
            *store.run_key(run_id),
            run_id=run_id,
            session_id=session.session_id,
            session_pk=session.pk,
            status=QUEUED,
            payload=build_payload(session, previous_run_id),
            reason=reason,
            previous_run_id=previous_run_id,
            created_at=at,
            updated_at=at,
        )
    )
    return run_id


def _launch(session: store.SessionModel, run_id: str, reason: str, launcher: Launcher) -> None:
    store.put_session_run(session.session_id, run_id, reason, store.now())
    max_attempts = trigger_limits.max_attempts(session.trigger_config)
    try:
        ref = launcher.start(run_id=run_id, session_id=session.session_id, max_attempts=max_attempts)
    except Exception:
        logger.exception("launching run failed", extra={"run_id": run_id, "session_id": session.session_id})
        store.update_run(
            run_id, [store.RunModel.status.set(FAILED), store.RunModel.error.set("launch failed")]
        )
        raise
    if ref:
        store.update_run(run_id, [store.RunModel.execution_arn.set(ref)])
    metrics.add_metric(name=f"RunsStarted_{reason}", unit="Count", value=1)


def _cancel_unlaunched(run_id: str) -> None:
    store.update_run(
        run_id,
        [store.RunModel.status.set(CANCELED), store.RunModel.error.set("Lost session-run claim race")],
    )


def is_alive(run: Mapping[str, Any] | store.RunModel | None) -> bool:
    if run is None:
        return False
    status = run.get("status") if isinstance(run, Mapping) else run.status
    return status not in FINAL_STATUSES


def ensure_live_run(
    session: store.SessionModel,
    reason: str,
    *,
    seen: Mapping[str, Any] | store.RunModel | None = None,
    probed: bool = False,
    launcher: Launcher | None = None,
) -> EnsureResult:
    """Return the live run, or start exactly one continuation and CAS it in.

    With `probed`, `seen` is the current run as the caller already read it (the append path gets
    it as a side effect of signalling input), so it is not read again.
    """
    launcher = launcher or get_launcher()
    for _ in range(_ENSURE_ATTEMPTS):
        current = session.current_run_id
        if current is not None:
            if not probed:
                seen = store.get_run(current)
            if is_alive(seen):
                return EnsureResult(current, triggered=False, session=session)
        run_reason = reason if current is None else "continuation"
        run_id = _new_run(session, run_reason, previous_run_id=current)
        try:
            version = int(session.current_run_version or 0)
            claimed = store.swap_current_run(session.pk, current, version, run_id)
        except store.ConditionFailed:
            _cancel_unlaunched(run_id)
            fresh = store.get_session_item(session.pk)
            if fresh is None:
                raise NotFound("Session not found") from None
            session, probed = fresh, False
            continue
        _launch(claimed, run_id, run_reason, launcher)
        return EnsureResult(run_id, triggered=True, session=claimed)
    raise ConcurrencyError("Could not claim a run for the session")


def wake(session: store.SessionModel, in_seq: int, launcher: Launcher | None = None) -> dict[str, Any] | None:
    """Flag input on the current run and resume it if it is suspended; returns the run as it was.

    One write on the run item both flags the input and takes any parked task token.
    """
    if session.current_run_id is None:
        return None
    launcher = launcher or get_launcher()
    old = store.signal_run_input(session.current_run_id, in_seq)
    token = (old or {}).get("task_token")
    if old is not None and token and is_alive(old):
        try:
            launcher.resume(token)
        except Exception:
            logger.warning(
                "resume failed; treating the run as expired", extra={"run_id": session.current_run_id}
            )
            store.update_run(session.current_run_id, [store.RunModel.status.set(EXPIRED)])
            return {**old, "status": EXPIRED}
    return old


def signal_input(session: store.SessionModel, in_seq: int, launcher: Launcher | None = None) -> EnsureResult:
    """After an `.in` append: wake a suspended run, or start a continuation for a dead one."""
    launcher = launcher or get_launcher()
    if session.current_run_id is None:
        return ensure_live_run(session, "continuation", launcher=launcher)
    old = wake(session, in_seq, launcher)
    return ensure_live_run(session, "continuation", seen=old, probed=True, launcher=launcher)


def end_and_continue(
    session: store.SessionModel, calling_run_id: str, reason: str, launcher: Launcher | None = None
) -> tuple[str, bool]:
    launcher = launcher or get_launcher()
    if session.closed_at is not None:
        raise SessionClosed("Cannot continue a closed session", closedReason=session.closed_reason)
    if store.get_run(calling_run_id) is None:
        raise NotFound("Calling run not found")
    run_reason = audit_reason(reason)
    for _ in range(_ENSURE_ATTEMPTS):
        if session.current_run_id != calling_run_id:
            return session.current_run_id or "", False
        run_id = _new_run(session, run_reason, previous_run_id=calling_run_id)
        try:
            store.swap_current_run(session.pk, calling_run_id, int(session.current_run_version or 0), run_id)
        except store.ConditionFailed:
            _cancel_unlaunched(run_id)
            fresh = store.get_session_item(session.pk)
            if fresh is None:
                raise NotFound("Session not found") from None
            session = fresh
            continue
        _launch(session, run_id, run_reason, launcher)
        return run_id, True
    raise ConcurrencyError("Could not swap the session's run")


def session_runs(session: store.SessionModel) -> list[dict[str, Any]]:
    return [
        {
            "runId": item.run_id,
            "reason": item.reason,
            "triggeredAt": item.triggered_at.isoformat().replace("+00:00", "Z")
            if item.triggered_at
            else None,
        }
        for item in store.list_session_runs(session.session_id or "")
    ]
