"""What an agent sees of its run: the session's logs, its clock, its turn boundaries, its fence.

A `RunContext` lives for one worker invocation. It keeps the run's invariants on the agent's side:
input is consumed from the cursor the last turn-complete left (so nothing is answered twice), a
turn starts only while this run is still the session's current run (fencing), and while it runs
the heartbeat keeps the run's lease ahead of the clock (liveness).
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from typing import Any, Protocol

from agent_sessions import auth, keys, notify, retention, sessions, store, streams, trigger_limits
from agent_sessions.agents import Outcome
from agent_sessions.config import get_settings
from agent_sessions.envelopes import envelope_data
from agent_sessions.heartbeat import Heartbeat

_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("run_context", default=None)

MID_TURN_FAILURE = "The agent run stopped mid-turn; this turn was closed."


def current_run_context() -> RunContext | None:
    return _current.get()


_APPENDED_KEPT = 64
"""Append times kept for turns not begun yet (a custom loop may never call begin_turn)."""


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class InputRecord:
    seq: int
    chunk: Any
    """The parsed `ChatInputChunk` (or the raw string when the body is not JSON)."""


class RunContext:
    """One invocation of a run, as its agent sees it."""

    def __init__(
        self,
        session: store.SessionModel,
        run: store.Run,
        environment: keys.Environment,
        lambda_context: LambdaContextLike,
        out: streams.OutWriter,
        *,
        attempt: int = 0,
        first_invocation: bool = True,
        heartbeat: Heartbeat | None = None,
        fenced: bool = False,
    ) -> None:
        settings = get_settings()
        self.session_id = session.session_id or ""
        self.session_pk = session.pk
        self.chat_id = sessions.addressing_key(session)
        self.run_id = run.run_id
        self.payload: dict[str, Any] = dict(run.payload)
        self.reason = run.reason
        """Why this run was started: initial, continuation, upgrade or manual (the runs audit's terms)."""
        self.attempt = attempt
        self.first_invocation = first_invocation
        """False when re-invoked after `continue` or a suspend, so once-per-run hooks fire once."""
        self.environment = environment
        self.out = out
        self.heartbeat = heartbeat or Heartbeat(self.run_id, settings.run_lease_seconds)
        self._lambda_context = lambda_context
        self._margin_ms = settings.worker_deadline_margin_ms
        self._token_ttl = settings.session_token_ttl_seconds
        self._read_bytes = settings.read_max_bytes
        self._park_lease = settings.run_suspend_timeout_seconds + settings.run_suspend_margin_seconds
        self._push = settings.push_in_process
        self._safety_poll = settings.push_safety_poll_seconds
        self._backoff = streams.PollBackoff(
            settings.input_poll_seconds,
            settings.sse_poll_max_seconds,
            hot_seconds=settings.input_poll_hot_seconds,
        )
        self.trimmer = retention.OutTrimmer(self.session_id, self.run_id)
        self.tail = streams.turn_tail(self.session_id)
        self.cursor = self.tail.cursor
        """Highest `.in` seq consumed by this run."""
        self._appended_ms: dict[int, int] = {}
        """Append times (ms) of consumed `.in` records no turn has answered yet (first-chunk latency)."""
        self.turn_complete_seq: int | None = None
        """The `.out` seq of the last `turn-complete` this run wrote (a history save records it)."""
        self._boot_fence = fenced
        """The boot's own write (`store.start_attempt`, conditioned on the session naming this run)
        still stands as the fence check: true from a fenced boot until the first turn begins or a
        poll finds `.in` empty (the run then waits, and whatever arrives later is checked anew)."""

    @property
    def idle_timeout_seconds(self) -> float:
        return float(trigger_limits.idle_timeout_seconds(self.payload.get("idleTimeoutInSeconds")))

    def near_deadline(self) -> bool:
        return self._lambda_context.get_remaining_time_in_millis() < self._margin_ms

    # ------------------------------------------------------------ fencing

    def check_current(self) -> None:
        """Raise store.RunSuperseded unless this run is still its session's current run.

        Called before a turn starts on input the run found; one strongly consistent GetItem, or
        none for input that was waiting when the run booted: the boot's fenced write (after the
        wake) confirmed it then, and `.out` is fenced on its owner besides, so a run replaced since
        can write nothing (docs/architecture.md, "The wake path").
        """
        if self.heartbeat.superseded.is_set():
            raise store.RunSuperseded(self.run_id)
        if self._boot_fence:
            self._boot_fence = False
            return
        session = store.get_session_item(self.session_pk)
        if session is None or session.current_run_id != self.run_id:
            raise store.RunSuperseded(self.run_id)

    def pending_fence(self, answering_seq: int | None) -> store.Fence | None:
        """What a turn answering `answering_seq` must still confirm in a request before it starts
        (the budget's turn count carries it: `budget.start_turn`); None when nothing is needed:
        no input answered, or the boot confirmed it (`check_current`). Raises store.RunSuperseded
        when the heartbeat already learned the run was replaced."""
        if self.heartbeat.superseded.is_set():
            raise store.RunSuperseded(self.run_id)
        if answering_seq is None or self._boot_fence:
            return None
        return store.Fence(self.session_pk, self.run_id)

    def begin_turn(self, answering_seq: int | None, *, fenced: bool = False) -> None:
        """A turn answering `answering_seq` starts: confirm the fence (unless `fenced`: a request
        for the turn already did, see `pending_fence`), stamp its first record."""
        if answering_seq is not None and not fenced:
            self.check_current()
        self._boot_fence = False  # spent on the first turn, whatever it answers
        appended = self._appended_ms.get(answering_seq) if answering_seq is not None else None
        self._appended_ms = {
            seq: ms for seq, ms in self._appended_ms.items() if answering_seq is None or seq > answering_seq
        }
        self.out.stamp_turn(answering_seq, appended, run_id=self.run_id, run_reason=self.reason)

    def close_open_turn(self) -> bool:
        """Close a turn a dead attempt or run left open (error + turn-complete); True if there was one.

        Its input counts as answered: it showed output, so answering it again would answer twice.
        """
        if not self.tail.open_turn:
            return False
        self.out.write_chunk({"type": "error", "errorText": MID_TURN_FAILURE})
        self.complete_turn(self.tail.open_answering, error=True, interrupted=True)
        self.tail = streams.TurnTail(
            self.tail.open_answering, False, None, interrupted=True, consumed=self.tail.consumed
        )
        return True

    # ------------------------------------------------------------ input

    def poll_input(self, *, consistent: bool = True) -> list[InputRecord]:
        """Records after the cursor, without waiting: about `read_max_bytes` at a time (or one
        larger record), so a backlog of near-limit inputs never has to fit in memory at once.

        `consistent=False` (the in-turn watcher) reads at half the units and may find a record
        a poll later, never out of order: see `streams.read_after`."""
        records = streams.read_after(
            self.session_id, "in", self.cursor, max_bytes=self._read_bytes, consistent=consistent
        )
        if not records:
            self._boot_fence = False
        else:
            self.cursor = records[-1].seq
            self._appended_ms.update((r.seq, r.timestamp) for r in records)
            for stale in sorted(self._appended_ms)[:-_APPENDED_KEPT]:
                del self._appended_ms[stale]
        return [InputRecord(r.seq, envelope_data(r.body)) for r in records]

    def give_back(self, first_seq: int) -> None:
        """Un-consume the records from `first_seq` on: read, but the run ends without acting on
        them (a runtime's queue when `end_run` or `max_turns` stops it). The run's final write is
        conditioned on the cursor (`store.complete_run_if_answered`), so they go to a continuation."""
        self.cursor = min(self.cursor, first_seq - 1)

    def peek_input(self) -> list[InputRecord]:
        """Records after the cursor, without consuming them."""
        return [
            InputRecord(r.seq, envelope_data(r.body))
            for r in streams.read_after(self.session_id, "in", self.cursor, max_bytes=self._read_bytes)
        ]

    def wait_input(self, timeout: float) -> list[InputRecord]:
        """Block until input arrives, `timeout` passes or the deadline nears.

        Raises store.RunSuperseded as soon as the heartbeat learns the run was replaced.
        """
        deadline = time.monotonic() + timeout
        self._backoff.got_records()  # hot from the start of every wait (just after a turn)
        with notify.listen(self.session_id, "in") as appended:
            while True:
                if self.heartbeat.superseded.is_set():
                    raise store.RunSuperseded(self.run_id)
                appended.arm()
                found = self.poll_input()
                if found:
                    self._backoff.got_records()
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.near_deadline():
                    return []
                appended.sleep(min(self._poll_interval(), remaining))

    def _poll_interval(self) -> float:
        """Seconds to the next `.in` read of a wait: the hot-then-backing-off schedule, or, when
        appends notify in-process (`Settings.push_in_process`), only the safety net's interval."""
        return self._safety_poll if self._push else self._backoff.idle()

    def idle_outcome(self) -> tuple[Outcome, list[InputRecord]]:
        """Nothing to do: `continue` near the deadline, else clear the input flag and suspend.

        The flag is cleared *before* the last look at `.in`: an append after that look sets it
        again, and the state machine then refuses to park and re-invokes us. The same write takes
        the suspend lease (park + suspend timeout + margin), so the heartbeat stops first.
        """
        if self.near_deadline():
            return "continue", []
        self.heartbeat.stop()
        store.prepare_park(self.run_id, store.epoch() + self._park_lease)
        late = self.poll_input()
        if late:
            self.heartbeat.renew()
            self.heartbeat.start()
            return "continue", late
        return "waiting", []

    # ------------------------------------------------------------ output

    def complete_turn(
        self,
        answered_seq: int | None,
        *,
        error: bool = False,
        with_token: bool = True,
        closed_reason: str | None = None,
        interrupted: bool = False,
    ) -> None:
        """Write `turn-complete` and wait until it is committed.

        `answered_seq` becomes `session-in-event-id`: every `.in` seq up to it is answered or let
        go, at least the seq of the input this turn answers (the client takes the turn-complete for
        its send's when it is at or above the send's seq) and never a record still owed an answer
        (the next run resumes after it); None for a payload-driven turn that consumed nothing.
        `session-in-consumed-id` is the cursor, the highest seq read. Error and action turns
        carry no fresh token, like the reference runtime. `interrupted` marks a turn closed because
        its run could not finish it (streams.INTERRUPTED_HEADER), so the next boot can recover it.
        """
        fresh = with_token and not error
        token = (
            auth.turn_token(self.environment, self.chat_id, self.run_id, self._token_ttl) if fresh else None
        )
        closing = closed_reason is not None
        self.out.write_control(
            "turn-complete",
            public_access_token=token,
            session_in_event_id=str(answered_seq) if answered_seq is not None else None,
            session_in_consumed_id=str(self.cursor),
            session_closed="true" if closing else None,
            session_closed_reason=closed_reason or None if closing else None,
            turn_interrupted="true" if interrupted else None,
        )
        self.turn_complete_seq = self.out.flush()
        self.trimmer.after_turn_complete(self.turn_complete_seq)
