"""The kill switch: list an environment's live runs, end one now, end runs idle of input too long.

Ending a run keeps the session's invariants: its open turn is closed for every reader (an `error`
chunk naming why + `turn-complete`, as the recovery sweep closes a dead run's turn) in the same
write that takes `.out` from the run, so none of its late pages can land; then the run gets a
final status (CANCELED). The session stays usable: input the run had not answered (an append
that found it still alive started nothing) goes to a continuation at once, through the recovery
sweep's own step, and the next message finds no live run and starts a continuation. A worker
still executing the run stops at its next `.out` page (refused) or its next heartbeat (the renewal
is refused), whichever comes first; a parked run is resumed so its execution ends at once instead
of at its suspend timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from agent_sessions import recovery, store, streams
from agent_sessions.config import get_settings
from agent_sessions.errors import NotFound
from agent_sessions.launchers import Launcher, get_launcher
from agent_sessions.observability import logger, metrics

CANCELED_BY_OPERATOR = "The run was canceled by an operator; this turn was closed."


def idle_too_long(seconds: int) -> str:
    return f"The run spent more than {seconds} s without input (run_max_seconds_without_input); it was ended."


@dataclass(frozen=True)
class LiveRun:
    """A live run as the kill switch lists it (`GET /api/v1/runs?status=live`)."""

    run_id: str
    session_id: str
    status: store.RunStatus
    created_at: datetime | None
    last_input_at: float
    """Epoch seconds."""
    lease_expires_at: float
    """Epoch seconds."""

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.run_id,
            "sessionId": self.session_id,
            "status": self.status.value,
            "createdAt": self.created_at.isoformat() if self.created_at else None,
            "lastInputAt": self.last_input_at or None,
            "leaseExpiresAt": self.lease_expires_at,
        }


def _env_of(run: store.Run) -> str:
    return run.session_pk.split("#", 1)[0]


def live_runs(env_id: str, limit: int = 1000) -> list[LiveRun]:
    """The environment's runs that are not final (QUEUED, EXECUTING, WAITING)."""
    return [
        LiveRun(r.run_id, r.session_id, r.status, r.created_at, r.last_input_at, r.lease_expires_at)
        for r in store.live_runs(limit)
        if _env_of(r) == env_id
    ]


_RUN_ID = re.compile(r"^run_[a-z0-9]{25}$")


def get_env_run(env_id: str, run_id: str) -> store.Run:
    """The run if it belongs to `env_id`; NotFound (404) otherwise, never another environment's."""
    run = store.get_run(run_id) if _RUN_ID.match(run_id) else None
    if run is None or _env_of(run) != env_id:
        raise NotFound("Run not found")
    return run


def end_run(run: store.Run, reason: str, *, launcher: Launcher | None = None) -> bool:
    """End a live run now (see the module docstring). True when this call ended it; False when it
    already was final. Idempotent: a repeat finds `.out` retired and the run final."""
    if run.status.is_final:
        return False
    launcher = launcher or get_launcher()
    _retire_output(run, reason)
    ended = store.cancel_run(run.run_id, reason, keep_listed=True)
    if ended and run.task_token:
        try:  # a parked execution wakes, finds its run final and exits
            launcher.resume(run.task_token)
        except Exception:
            logger.warning("resuming a canceled run failed", extra={"run_id": run.run_id})
    if ended:
        metrics.add_metric(name="RunsCanceled", unit="Count", value=1)
    # Input that reached the run before it was ended (its append found the run alive, so started
    # nothing) goes to a continuation now; the run stays listed until this is done, so if this
    # process dies here the recovery sweep does it instead.
    try:
        recovery.recover_run(run.run_id, launcher=launcher)
    except Exception:  # the run is ended either way; it is still listed, so the sweep retries this
        logger.exception("handing on a canceled run's input failed", extra={"run_id": run.run_id})
    return ended


def _retire_output(run: store.Run, reason: str) -> None:
    """Close the run's open turn, or just take `.out` from it, fenced on the head not moving."""
    for _ in range(8):
        next_seq, owner = store.read_head_and_owner(run.session_id, "out")
        if owner != run.run_id:
            return  # never booted, or already retired / replaced: nothing of it can land
        tail = streams.turn_tail(run.session_id)
        if tail.open_turn:
            if streams.close_open_turn(run.session_id, run.run_id, tail.open_answering, reason):
                return
        elif store.retire_out_owner(run.session_id, run.run_id, next_seq):
            return
    raise store.TransactionCancelled(["contention retiring .out"])


def enforce_input_wall(run_id: str, last_input_at: float) -> bool:
    """End the run if it spent more than `run_max_seconds_without_input` since its last input.

    Called by the run's own heartbeat with what its lease renewal read back; True when it ended it.
    """
    limit = get_settings().run_max_seconds_without_input
    if limit <= 0 or not last_input_at or store.epoch() - last_input_at <= limit:
        return False
    run = store.get_run(run_id)
    if run is None or run.status.is_final:
        return False
    logger.warning("run exceeded its wall time without input; ending it", extra={"run_id": run_id})
    metrics.add_metric(name="RunsEndedIdle", unit="Count", value=1)
    return end_run(run, idle_too_long(limit))
