"""Run lifecycle: the ensure-live-run probe, continuations, end-and-continue, the audit trail.

A run becomes current only through the compare-and-swap in `store.swap_current_run`. We write the
run item first, swap, and launch only after winning: a loser never executes, so "cancel the run
you started" is a status write rather than a race with a live agent.

Liveness is a lease (`store.Run.is_alive`): a run that is not final but whose lease ran out is
taken over (conditioned on the lease we saw, so a worker that just renewed wins) and replaced by a
continuation through the same CAS. Any failure after a won claim marks the new run FAILED at once,
so the next append continues; if even that write is lost, the QUEUED lease (the launch grace)
runs out and the run is judged dead all the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from agent_sessions import store, trigger_limits
from agent_sessions.config import get_settings
from agent_sessions.errors import ConcurrencyError, NotFound, SessionClosed
from agent_sessions.ids import new_run_id
from agent_sessions.launchers import Launcher, get_launcher
from agent_sessions.observability import metrics

logger = logging.getLogger(__name__)

RunStatus = store.RunStatus
QUEUED, EXECUTING, WAITING = RunStatus.QUEUED, RunStatus.EXECUTING, RunStatus.WAITING
COMPLETED, FAILED, EXPIRED, CANCELED = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.EXPIRED,
    RunStatus.CANCELED,
)
FINAL_STATUSES = frozenset({COMPLETED, FAILED, EXPIRED, CANCELED})
AUDIT_REASONS = ("initial", "continuation", "upgrade", "manual")
_ENSURE_ATTEMPTS = 3
LEASE_EXPIRED = "lease expired: no live execution"


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


def is_alive(run: store.Run | None) -> bool:
    """Provably alive: not final and its lease not expired (with the configured clock leeway)."""
    if run is None:
        return False
    return run.is_alive(store.epoch(), get_settings().run_lease_leeway_seconds)


def _new_run(session: store.SessionModel, reason: str, previous_run_id: str | None) -> str:
    run_id = new_run_id()
    store.create_run(
        run_id=run_id,
        session_id=session.session_id or "",
        session_pk=session.pk,
        payload=build_payload(session, previous_run_id),
        reason=reason,
        previous_run_id=previous_run_id,
        lease_until=store.epoch() + get_settings().run_launch_grace_seconds,
        env_id=session.env_id,
    )
    return run_id


def _launch(session: store.SessionModel, run_id: str, reason: str, launcher: Launcher) -> None:
    """Audit and start a run whose claim we won. Any failure marks it FAILED before raising, so
    the session is recoverable by the very next append."""
    try:
        store.put_session_run(session.session_id or "", run_id, reason, store.now())
        max_attempts = trigger_limits.max_attempts(session.trigger_config)
        ref = launcher.start(run_id=run_id, session_id=session.session_id or "", max_attempts=max_attempts)
    except Exception:
        logger.exception("launching run failed", extra={"run_id": run_id, "session_id": session.session_id})
        store.fail_run(run_id, "launch failed")
        raise
    if ref:
        try:
            store.set_execution(run_id, ref)
        except Exception:
            logger.warning("recording the execution failed", extra={"run_id": run_id})
    metrics.add_metric(name=f"RunsStarted_{reason}", unit="Count", value=1)


def _cancel_unlaunched(run_id: str) -> None:
    store.cancel_run(run_id, "Lost session-run claim race")


def ensure_live_run(
    session: store.SessionModel,
    reason: str,
    *,
    seen: store.Run | None = None,
    probed: bool = False,
    launcher: Launcher | None = None,
) -> EnsureResult:
    """Return the live run, or start exactly one continuation and CAS it in.

    With `probed`, `seen` is the current run as the caller already read it (the append path gets
    it as a side effect of signalling input), so it is not read again. A current run that is not
    provably alive is taken over first; if it renewed its lease meanwhile, it stays.
    """
    launcher = launcher or get_launcher()
    for _ in range(_ENSURE_ATTEMPTS):
        current = session.current_run_id
        if current is not None:
            if not probed:
                seen = store.get_run(current)
            if is_alive(seen):
                return EnsureResult(current, triggered=False, session=session)
            if seen is not None and not seen.status.is_final and not store.take_over(seen, LEASE_EXPIRED):
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


def wake(session: store.SessionModel, in_seq: int, launcher: Launcher | None = None) -> store.Run | None:
    """Flag input on the current run and resume it if it is suspended; returns the run as it was.

    One write on the run item both flags the input and takes any parked task token. If the resume
    fails (the token timed out), the run is expired — only while it is still WAITING with no token
    parked, so an execution that went back to work meanwhile keeps the run (and answers).
    """
    if session.current_run_id is None:
        return None
    launcher = launcher or get_launcher()
    run_id = session.current_run_id
    old = store.signal_input(run_id, in_seq)
    if old is not None and old.task_token and not old.status.is_final:
        try:
            launcher.resume(old.task_token)
        except Exception:
            logger.warning("resume failed; expiring the run if it is still parked", extra={"run_id": run_id})
            if store.expire_run(run_id, None):
                return store.Run(**{**old.__dict__, "status": EXPIRED, "task_token": None})
            return store.get_run(run_id)
    return old


def signal_input(session: store.SessionModel, in_seq: int, launcher: Launcher | None = None) -> EnsureResult:
    """After an `.in` append: wake a suspended run, or start a continuation for a dead one."""
    launcher = launcher or get_launcher()
    if session.current_run_id is None:
        return ensure_live_run(session, "continuation", launcher=launcher)
    old = wake(session, in_seq, launcher)
    result = ensure_live_run(session, "continuation", seen=old, probed=True, launcher=launcher)
    if not result.triggered and result.run_id != session.current_run_id:
        # Our snapshot named a run another party had already replaced: the run that won the claim
        # may have booted and looked at `.in` before our record landed, so it is signalled too.
        wake(result.session, in_seq, launcher)
    return result


def end_and_continue(
    session: store.SessionModel,
    calling_run_id: str,
    reason: str,
    launcher: Launcher | None = None,
    *,
    before_launch: Any = None,
    completed: bool = False,
) -> tuple[str, bool]:
    """Swap the calling run for a new one (only while it is current) and cancel the caller.

    The caller is marked CANCELED (COMPLETED with `completed`: it ended on its own) so its
    heartbeat fails and it stops within one poll; its `.out` writes stay accepted until the new run
    boots and takes `.out` over. `before_launch()` runs between the swap and the launch (the runtime
    writes `upgrade-required` there, so readers see it before the new run's turn). The new run is
    launched only after the caller is final: an append that found the caller alive landed before
    that, so the new run's boot reads it.
    """
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
        if completed:
            store.complete_run(calling_run_id)
        else:
            store.cancel_run(calling_run_id, f"superseded by {run_id} ({run_reason})")
        if before_launch is not None:
            try:
                before_launch()
            except Exception:
                logger.exception("before_launch failed", extra={"run_id": calling_run_id})
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
