"""The SSE reader's pacing while a coalescing writer's pages flow (issue 10: requests per turn)."""

from __future__ import annotations

from pytest import approx

from agent_sessions.streams import PagePacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_reader_polls_once_a_page_while_pages_come_at_a_steady_interval() -> None:
    """Before, a reader polled every 20 ms while records flowed: 25 polls per 0.5 s page."""
    clock = Clock()
    pacer = PagePacer(0.02, 1.0, clock)
    assert pacer.found() == 0.02  # the first page: no interval known yet
    polls = 0
    for _ in range(20):  # pages every 0.5 s; the reader sleeps what the pacer says, then polls
        clock.now += 0.5
        polls += 1
        assert pacer.found() == approx(0.5)
    assert polls == 20


def test_a_page_later_than_expected_is_polled_for_every_minimum_doubling_to_half_the_interval() -> None:
    clock = Clock()
    pacer = PagePacer(0.02, 1.0, clock)
    pacer.found()
    clock.now += 0.4
    assert pacer.found() == approx(0.4)
    delays = []
    for _ in range(6):
        delay = pacer.missed()
        assert delay is not None
        delays.append(delay)
        clock.now += delay
    assert delays == approx([0.02, 0.04, 0.08, 0.16, 0.2, 0.2])


def test_the_flow_ends_after_longest_without_records_and_the_idle_schedule_takes_over() -> None:
    clock = Clock()
    pacer = PagePacer(0.02, 1.0, clock)
    pacer.found()
    clock.now += 0.5
    pacer.found()
    clock.now += 1.01
    assert pacer.missed() is None
    clock.now += 5.0
    assert pacer.found() == 0.02  # a new flow starts without an interval


def test_after_a_pause_the_reader_sleeps_no_longer_than_the_writer_can_hold_a_page() -> None:
    """A reply resuming after a 0.9 s tool call writes its next pages 25, 50, 100 ms apart; a
    reader sleeping the 0.9 s it just saw would hold them that long."""
    clock = Clock()
    pacer = PagePacer(0.02, 1.0, clock, sleep_max=0.6)
    pacer.found()
    clock.now += 0.9
    assert pacer.found() == approx(0.6)
