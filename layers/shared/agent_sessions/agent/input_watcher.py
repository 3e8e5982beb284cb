"""The thread that reads `.in` while a turn runs, so a stop aborts it and new messages queue or steer.

It polls `RunContext.poll_input` (`watch_delays`: 50 ms after a turn starts, backing off to 1 s;
at once on an in-process append notification, `notify.py`) and hands each record to a callback
(`Steering.on_input`); it consumes input only while a turn runs, on behalf of the current run.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

from agent_sessions import notify
from agent_sessions.agent.types import AbortSignal
from agent_sessions.config import get_settings
from agent_sessions.observability import logger
from agent_sessions.run_context import InputRecord, RunContext

WATCH_INTERVAL_SECONDS = 0.05
"""The first poll after a turn starts (or after input was found)."""
WATCH_EARLY_SECONDS = 2.0
WATCH_EARLY_MAX_SECONDS = 0.4
"""Over a turn's first `WATCH_EARLY_SECONDS` the interval doubles up to this only: a stop in a
short reply (most are a second or two) still lands before the reply ends."""
WATCH_INTERVAL_MAX_SECONDS = 1.0
"""Later the interval doubles up to this while nothing comes: a stop lands within about a second
of a long reply, for about 25 reads in 20 s instead of 400 (issue 10: requests per 1,000-chunk
turn). The client stops showing the reply at once; this bounds what the model streams meanwhile."""


def watch_delays() -> Iterator[float]:
    """Seconds before each poll while nothing is found: 0.05, 0.1, 0.2, then 0.4 until past 2 s
    into the turn, then 0.8, 1.0, 1.0, ..."""
    delay, elapsed = WATCH_INTERVAL_SECONDS, 0.0
    while True:
        yield delay
        elapsed += delay
        cap = WATCH_EARLY_MAX_SECONDS if elapsed < WATCH_EARLY_SECONDS else WATCH_INTERVAL_MAX_SECONDS
        delay = min(delay * 2, cap)


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
        self.delivered: int | None = None
        """The highest `.in` seq handed to `on_input` (None: none yet). The turn settles input
        through it, not through the cursor: a poll still running when `stop()` gave up waiting may
        have consumed records it has not handed on yet."""
        self._done = threading.Event()
        self._appended = notify.Listener()
        self._thread = threading.Thread(target=self._watch, name="turn-input-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._appended.wake()
        self._thread.join(5)

    def _watch(self) -> None:
        """Eventually consistent polls are safe here: a stale read returns fewer records (only a
        contiguous run after the cursor), so a stop or a steering message lands a poll later,
        never skipped; whatever the watcher has not consumed when the turn ends, the run's own
        strongly consistent wait for input reads next, from the same cursor."""
        delays = self._delays()
        with notify.listen(self.ctx.session_id, "in", self._appended):
            while True:
                self._appended.sleep(next(delays))
                if self._done.is_set():
                    return
                self._appended.arm()
                try:
                    if self.poll():
                        delays = self._delays()
                except Exception:
                    logger.exception("watching input failed", extra={"run_id": self.ctx.run_id})

    def poll(self) -> bool:
        """Read `.in` once and hand each record to `on_input`, in order; True when any came."""
        records = self.ctx.poll_input(consistent=False)
        for record in records:
            seq = self.on_input(record, self.signal)
            if seq is not None:
                self.stop_seq = seq
            self.delivered = record.seq
        return bool(records)

    @staticmethod
    def _delays() -> Iterator[float]:
        """`watch_delays`, or with in-process notification (`Settings.push_in_process`) only the
        safety net's interval: an append wakes the watcher at once."""
        settings = get_settings()
        return (
            itertools.repeat(settings.push_safety_poll_seconds)
            if settings.push_in_process
            else watch_delays()
        )
