"""The thread that reads `.in` while a turn runs, so a stop aborts it and new messages queue or steer.

It polls `RunContext.poll_input` every `WATCH_INTERVAL_SECONDS` and hands each record to a callback
(`Steering.on_input`); it consumes input only while a turn runs, on behalf of the current run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from agent_sessions.agent.types import AbortSignal
from agent_sessions.observability import logger
from agent_sessions.run_context import InputRecord, RunContext

WATCH_INTERVAL_SECONDS = 0.05


class InputWatcher:
    def __init__(
        self,
        ctx: RunContext,
        signal: AbortSignal,
        on_input: Callable[[InputRecord, AbortSignal], int | None],
    ) -> None:
        self.ctx = ctx
        self.signal = signal
        self.on_input = on_input
        self.stop_seq: int | None = None
        """The seq of the stop (or close) that aborted the turn, if one did."""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="turn-input-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_SECONDS):
            try:
                for record in self.ctx.poll_input():
                    seq = self.on_input(record, self.signal)
                    if seq is not None:
                        self.stop_seq = seq
            except Exception:
                logger.exception("watching input failed", extra={"run_id": self.ctx.run_id})
