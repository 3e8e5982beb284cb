"""The in-turn `.in` watcher's schedule and reads (issue 10: DynamoDB requests per long turn)."""

from __future__ import annotations

import threading
from itertools import islice

from agent_sessions.agent.input_watcher import InputWatcher, watch_delays
from agent_sessions.agent.types import AbortSignal
from agent_sessions.run_context import InputRecord


def test_the_watcher_backs_off_to_a_second_while_nothing_comes() -> None:
    """It polled every 50 ms for the whole turn: 400 reads in a 20 s reply, now 25."""
    assert list(islice(watch_delays(), 10)) == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4, 0.8, 1.0]
    assert len([t for t in _polls_within(20.0) if t <= 2.0]) == 7  # a stop in a short reply: ≤ 0.4 s
    assert len(_polls_within(20.0)) <= 25


def _polls_within(seconds: float) -> list[float]:
    elapsed, polls = 0.0, []
    for delay in watch_delays():
        elapsed += delay
        if elapsed > seconds:
            return polls
        polls.append(elapsed)
    return polls


class _Context:
    """A RunContext stand-in: the first poll finds a stop, the rest nothing."""

    run_id = "run_test"
    session_id = "session_test"

    def __init__(self) -> None:
        self.flags: list[bool] = []
        self.polled = threading.Event()

    def poll_input(self, *, consistent: bool = True) -> list[InputRecord]:
        self.flags.append(consistent)
        self.polled.set()
        return [InputRecord(3, {"kind": "stop"})] if len(self.flags) == 1 else []


def test_the_watcher_reads_eventually_consistent_and_hands_on_what_it_finds() -> None:
    ctx = _Context()
    seen: list[int] = []

    def on_input(record: InputRecord, signal: AbortSignal) -> int | None:
        seen.append(record.seq)
        return record.seq

    watcher = InputWatcher(ctx, AbortSignal(), on_input)  # type: ignore[arg-type]
    watcher.start()
    try:
        assert ctx.polled.wait(10)
    finally:
        watcher.stop()
    assert ctx.flags and not any(ctx.flags)
    assert seen == [3] and watcher.stop_seq == 3
