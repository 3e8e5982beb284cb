"""In-process notification of log appends, so a poller in the same process wakes at once.

DynamoDB stays the only source of truth: a notification never carries records, it only ends a
poller's sleep early, and the poller then reads as it would have after its sleep. A lost or
missing notification therefore costs latency, never a record, an order or a duplicate.

Where every writer and reader of the logs shares one process (the local stack: the append
handler, the runs' threads and the SSE readers), `Settings.push_in_process` says so and pollers
drop their hot schedules: they read when notified and otherwise once per `push_safety_poll_seconds`,
a safety net for writes from elsewhere (a test or a script writing through the store). On AWS the
append, the run and the readers are separate Lambda processes: the setting is off, nothing is
notified, and the poll schedules alone bound the latency (README, "Latency and cost").

A poller registers before it reads (`listen`), re-arms before each read and sleeps on the
listener, so an append that lands between its read and its sleep still wakes it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from agent_sessions.config import get_settings

_listeners: dict[tuple[str, str], set[Listener]] = {}
_lock = threading.Lock()


class Listener:
    """One poller's wake-up for one log; `arm()` before each read, then `sleep(seconds)`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def arm(self) -> None:
        """Forget earlier notifications: call right before a read, so only later appends wake."""
        self._event.clear()

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken by an append (or `wake`) instead."""
        return self._event.wait(max(0.0, seconds))

    def wake(self) -> None:
        """End the current or next sleep at once (the poller's owner stopping it)."""
        self._event.set()


@contextmanager
def listen(session_id: str, io: str, listener: Listener | None = None) -> Iterator[Listener]:
    """`listener` (a new one by default) woken by every append to `session_id`'s `io` log in this
    process while the block runs (the registry holds only open listeners, so it stays as small
    as the number of pollers)."""
    listener, key = listener or Listener(), (session_id, io)
    with _lock:
        _listeners.setdefault(key, set()).add(listener)
    try:
        yield listener
    finally:
        with _lock:
            waiting = _listeners.get(key)
            if waiting is not None:
                waiting.discard(listener)
                if not waiting:
                    del _listeners[key]


def appended(session_id: str, io: str) -> None:
    """Records were committed to `session_id`'s `io` log: wake its listeners in this process
    (only with `Settings.push_in_process`: without it, pollers keep exactly the AWS path's hops)."""
    if not get_settings().push_in_process:
        return
    with _lock:
        waiting = list(_listeners.get((session_id, io), ()))
    for listener in waiting:
        listener.wake()


def wake_all() -> None:
    """Wake every listener (the server is closing its readers)."""
    with _lock:
        waiting = [listener for group in _listeners.values() for listener in group]
    for listener in waiting:
        listener.wake()
