"""The run's heartbeat: a thread that renews an EXECUTING run's lease every third of its TTL.

Liveness is a lease, not a status (docs/architecture.md, "Runs: liveness, fencing, recovery"): a
run is alive while it is not final and its lease has not run out. The heartbeat is what keeps an
executing run's lease ahead of the clock; when a renewal is refused (the run was taken over,
superseded or finished by someone else) it sets `superseded` and stops, and the run exits at its
next look (`RunContext.check_current`).
"""

from __future__ import annotations

import threading

from agent_sessions import run_control, store
from agent_sessions.observability import logger


class Heartbeat:
    def __init__(self, run_id: str, ttl_seconds: float) -> None:
        self.run_id = run_id
        self.ttl = ttl_seconds
        self.superseded = threading.Event()
        self.renewals = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start renewing (the caller has just set a fresh lease)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.run_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; returns once no renewal is in flight, so a later lease write is not undone."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def renew(self) -> None:
        """One renewal now. Raises store.RunSuperseded when the run is no longer EXECUTING, and
        when it has gone `run_max_seconds_without_input` without input (then it ends the run,
        closing its open turn: `run_control.enforce_input_wall`)."""
        try:
            last_input_at = store.renew_lease(self.run_id, store.epoch() + self.ttl)
        except store.RunSuperseded:
            self.superseded.set()
            raise
        self.renewals += 1
        if run_control.enforce_input_wall(self.run_id, last_input_at):
            self.superseded.set()
            raise store.RunSuperseded(self.run_id)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except store.RunSuperseded:
                logger.warning("lease renewal refused: the run was replaced", extra={"run_id": self.run_id})
                return
            except Exception:
                # Transient: the lease outlives two more tries.
                logger.exception("lease renewal failed", extra={"run_id": self.run_id})
