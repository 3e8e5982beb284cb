"""In-process launcher: the `agent_run` state machine's semantics on a thread per run.

Loop on `continue`; on `waiting` park a task token with the same conditional write the state
machine uses and sleep until `resume` or the suspend timeout (then EXPIRED); retry a failing
invocation up to `maxAttempts`, then FAILED. Every transition is a named store operation, so the
threads and the Step Functions path move runs the same way.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from agent_sessions import store, worker
from agent_sessions.config import get_settings
from agent_sessions.observability import logger

LAMBDA_BUDGET_MS = 15 * 60 * 1000


@dataclass
class _Clock:
    """Stands in for the Lambda context: a 15-minute budget that ends early on shutdown."""

    started: float
    stopping: threading.Event

    def get_remaining_time_in_millis(self) -> int:
        if self.stopping.is_set():
            return 0
        return max(0, LAMBDA_BUDGET_MS - int((time.monotonic() - self.started) * 1000))


class LocalLauncher:
    def __init__(
        self, suspend_timeout_seconds: float | None = None, retry_delay_seconds: float = 1.0
    ) -> None:
        self.suspend_timeout = suspend_timeout_seconds or get_settings().run_suspend_timeout_seconds
        self.retry_delay = retry_delay_seconds
        self._waiting: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
        thread = threading.Thread(
            target=self._execute, args=(run_id, max_attempts), name=f"run-{run_id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return f"local:{run_id}"

    def resume(self, task_token: str) -> None:
        with self._lock:
            event = self._waiting.get(task_token)
        if event is None:
            raise LookupError("Task token is not valid or has timed out")
        event.set()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            for event in self._waiting.values():
                event.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _execute(self, run_id: str, max_attempts: int) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                result = worker.handle(
                    {"runId": run_id, "attempt": attempt}, _Clock(time.monotonic(), self._stopping)
                )
            except Exception:
                logger.exception("agent invocation failed", extra={"run_id": run_id, "attempt": attempt})
                attempt += 1
                if attempt < max_attempts:
                    time.sleep(self.retry_delay)
                    continue
                store.retry_transient(lambda: store.fail_run(run_id, "maxAttempts exhausted"))
                return
            status = result.get("status")
            if status == "continue":
                continue
            if status != "waiting" or not self._suspend(run_id):
                return

    def _suspend(self, run_id: str) -> bool:
        """Park until resumed (True: invoke again) or timed out (False: the run expired)."""
        token = secrets.token_urlsafe(32)
        event = threading.Event()
        with self._lock:
            self._waiting[token] = event
        try:
            if not store.retry_transient(lambda: store.park(run_id, token)):
                return True  # input arrived between the agent's last look and the park
            if event.wait(self.suspend_timeout):
                return not self._stopping.is_set()
        finally:
            with self._lock:
                self._waiting.pop(token, None)
        # False: an append took the token just as the wait ran out, so it is a resume.
        return not store.retry_transient(lambda: store.expire_run(run_id, token))
