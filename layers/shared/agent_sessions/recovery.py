"""The recovery sweep: nothing stays stuck, even when no next message arrives.

An append already replaces a run that is not provably alive. The sweep does the same for sessions
nobody writes to: it finds runs whose lease ran out (the sparse `live_by_lease` index), takes each
over by CAS on the lease it saw (a worker that just renewed wins), closes the turn it left open on
`.out` (an `error` chunk + `turn-complete` for the input that turn answered, fenced on the dead run
still owning `.out`), and starts a continuation through the session CAS if `.in` holds input no
turn answered yet. On AWS a scheduled Lambda runs it every minute; the local stack runs it on a
thread every few seconds. Bound: a dead run's open turn is closed within lease TTL + leeway + one
sweep interval (docs/architecture.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from agent_sessions import runs, store, streams
from agent_sessions.config import get_settings
from agent_sessions.launchers import Launcher, get_launcher
from agent_sessions.observability import logger

CLOSED_BY_RECOVERY = "The agent run stopped mid-turn (its lease expired); this turn was closed."


@dataclass
class SweepReport:
    found: int = 0
    taken_over: int = 0
    turns_closed: int = 0
    continued: int = 0
    errors: list[str] = field(default_factory=list)


def sweep(launcher: Launcher | None = None, *, limit: int = 100) -> SweepReport:
    """One pass over runs whose lease expired; each is recovered independently."""
    settings = get_settings()
    report = SweepReport()
    for run_id in store.expired_runs(store.epoch() - settings.run_lease_leeway_seconds, limit):
        report.found += 1
        try:
            recover_run(run_id, report, launcher)
        except Exception as exc:
            logger.exception("recovering a run failed", extra={"run_id": run_id})
            report.errors.append(f"{run_id}: {type(exc).__name__}")
    return report


def recover_run(run_id: str, report: SweepReport | None = None, launcher: Launcher | None = None) -> None:
    """Take over one run if it is still dead, close its open turn, continue its session if needed."""
    report = report or SweepReport()
    run = store.get_run(run_id)
    if run is None or runs.is_alive(run):
        return
    if not run.status.is_final:
        if not store.take_over(run, runs.LEASE_EXPIRED):
            return
        report.taken_over += 1
    _recover_session(run, report, launcher)
    store.unlist_run(run_id)  # only once recovered: a failed pass leaves it for the next sweep


def _recover_session(run: store.Run, report: SweepReport, launcher: Launcher | None) -> None:
    run_id = run.run_id
    session = store.get_session_item(run.session_pk)
    if session is None or session.current_run_id != run_id:
        return  # already replaced: the run that replaced it closes any open turn when it boots
    tail = streams.turn_tail(run.session_id)
    if tail.open_turn and streams.close_open_turn(
        run.session_id, run_id, tail.open_answering, CLOSED_BY_RECOVERY
    ):
        report.turns_closed += 1
    if session.closed_at is not None:
        return
    if int(session.in_next_seq or 0) - 1 > tail.cursor:
        runs.ensure_live_run(session, "continuation", launcher=launcher or get_launcher())
        report.continued += 1


class SweepThread:
    """The local stack's sweeper: `sweep()` every `interval` seconds until stopped."""

    def __init__(self, launcher: Launcher, interval: float | None = None) -> None:
        self.launcher = launcher
        self.interval = interval if interval is not None else get_settings().recovery_sweep_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recovery-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sweep(self.launcher)
            except Exception:
                logger.exception("recovery sweep failed")
