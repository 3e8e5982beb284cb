"""Input that arrives while a turn runs: stops, closes, steering and messages queued for later turns.

Called from the input watcher's thread (`on_input`) and from the model loop on the run's thread
(`take`), so the shared steering list is guarded by a lock. Invariant: every mid-turn record is
acted on exactly once — a stop or close aborts the turn and is answered by it, a steering message
is either injected into this turn (and answered by it) or handed back to the queue in arrival order
to run as a later turn, and any other message is queued.

Order: a message steers only while nothing earlier waits in the queue, so whatever a turn answers
(its own message, what it injected) comes before everything still queued. The turn's
`turn-complete` can then name, as answered, every `.in` seq below the first queued record, and a
run that boots later resumes there without skipping a queued message or answering an injected one
again (docs/architecture.md, "Mid-turn input: what a turn-complete counts as answered").
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from agent_sessions.agent.messages import UIMessage
from agent_sessions.agent.types import AbortSignal, PendingMessages
from agent_sessions.observability import logger
from agent_sessions.run_context import InputRecord


class Steering:
    def __init__(
        self, policy: PendingMessages | None, queue: deque[InputRecord], *, replayed_through: int = -1
    ) -> None:
        """`replayed_through`: the highest `.in` seq an earlier run (or invocation) of this chat
        consumed (the last turn-complete's `session-in-consumed-id`); a stop at or below it was
        read already and meant for a turn that is over."""
        self.policy = policy
        self.queue = queue
        self.replayed_through = replayed_through
        self.close_requested = False
        self._pending: list[InputRecord] = []
        self._lock = threading.Lock()

    def on_input(self, record: InputRecord, signal: AbortSignal) -> int | None:
        """Route one record that arrived mid-turn; returns its seq when it stopped the turn."""
        chunk = record.chunk if isinstance(record.chunk, dict) else {}
        if chunk.get("kind") == "stop":
            if record.seq <= self.replayed_through:
                return None  # read again after a reboot: the turn it stopped is over
            signal.abort("stop")
            return record.seq
        payload = chunk.get("payload")
        payload = payload if isinstance(payload, dict) else {}  # malformed: a later turn answers it
        if chunk.get("kind") == "message" and payload.get("trigger") == "close":
            signal.abort("close")
            self.close_requested = True
            return record.seq
        message = payload.get("message")
        # only a user's message steers; a tool answer or approval (an assistant message) is a turn
        steers = (
            payload.get("trigger") == "submit-message"
            and isinstance(message, dict)
            and message.get("role") == "user"
            and not self.queue  # something earlier waits: this one waits behind it
            and self._should_inject(message)
        )
        if steers:
            with self._lock:
                self._pending.append(record)
            return None
        self.queue.append(record)
        return None

    def _should_inject(self, message: dict[str, Any]) -> bool:
        if self.policy is None:
            return False
        try:
            return bool(self.policy.should_inject(dict(message)))
        except Exception:  # the agent's hook: its failure must not lose the record (it queues)
            logger.exception("should_inject failed; the message becomes a later turn")
            return False

    def take(self) -> list[UIMessage]:
        """Hand queued steering messages to the model loop; they become part of this turn's answer."""
        with self._lock:
            taken, self._pending = self._pending, []
        return [record.chunk["payload"]["message"] for record in taken]

    def requeue(self) -> None:
        """Steering messages the turn ended before injecting run as the next turns, in order."""
        with self._lock:
            left, self._pending = self._pending, []
        self.queue.extendleft(reversed(left))
