"""Input that arrives while a turn runs: stops, closes, steering and messages queued for later turns.

Called from the input watcher's thread (`on_input`) and from the model loop on the run's thread
(`take`), so the shared steering list is guarded by a lock. Invariant: every mid-turn record is
acted on exactly once — a stop or close aborts the turn and is answered by it, a steering message
is either injected into this turn (and answered by it) or handed back to the queue in arrival order
to run as a later turn, and any other message is queued.
"""

from __future__ import annotations

import threading
from collections import deque

from agent_sessions.agent.messages import UIMessage
from agent_sessions.agent.types import AbortSignal, PendingMessages
from agent_sessions.run_context import InputRecord


class Steering:
    def __init__(self, policy: PendingMessages | None, queue: deque[InputRecord]) -> None:
        self.policy = policy
        self.queue = queue
        self.close_requested = False
        self._pending: list[InputRecord] = []
        self._injected: list[int] = []
        self._lock = threading.Lock()

    def on_input(self, record: InputRecord, signal: AbortSignal) -> int | None:
        """Route one record that arrived mid-turn; returns its seq when it stopped the turn."""
        chunk = record.chunk if isinstance(record.chunk, dict) else {}
        if chunk.get("kind") == "stop":
            signal.abort("stop")
            return record.seq
        payload = chunk.get("payload") or {}
        if chunk.get("kind") == "message" and payload.get("trigger") == "close":
            signal.abort("close")
            self.close_requested = True
            return record.seq
        message = payload.get("message")
        # only a user's message steers; a tool answer or approval (an assistant message) is a turn
        is_message = (
            payload.get("trigger") == "submit-message"
            and isinstance(message, dict)
            and message.get("role") == "user"
        )
        if is_message and self.policy is not None and self.policy.should_inject(dict(message or {})):
            with self._lock:
                self._pending.append(record)
            return None
        self.queue.append(record)
        return None

    def take(self) -> list[UIMessage]:
        """Hand queued steering messages to the model loop; they become part of this turn's answer."""
        with self._lock:
            taken, self._pending = self._pending, []
        self._injected.extend(record.seq for record in taken)
        return [record.chunk["payload"]["message"] for record in taken]

    def requeue(self) -> None:
        """Steering messages the turn ended before injecting run as the next turns, in order."""
        with self._lock:
            left, self._pending = self._pending, []
        self.queue.extendleft(reversed(left))

    def drain_injected(self) -> list[int]:
        """The seqs of the steering messages this turn injected (it answers them); resets the list."""
        injected, self._injected = self._injected, []
        return injected
