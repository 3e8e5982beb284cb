"""A server that stops ends its SSE readers between polls instead of waiting out their windows.

Reader threads are not daemons: before `close_readers`, a stopping local stack waited for each
open reader, which kept polling (and retrying) a store that had already stopped.
"""

from __future__ import annotations

import threading

import pytest

from agent_sessions import streams
from agent_sessions.http import stream


@pytest.fixture
def empty_log(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """`streams.read_after` answers nothing and counts its calls (no store needed)."""
    reads: list[int] = []

    def read_after(session_id: str, io: str, cursor: int, **_: object) -> list[object]:
        reads.append(cursor)
        return []

    monkeypatch.setattr(streams, "read_after", read_after)
    return reads


def test_close_readers_ends_an_idle_reader_inside_its_window(empty_log: list[int]) -> None:
    frames = stream.follow("session_x", "out", -1, timeout_seconds=3600)
    got: list[bytes | None] = []
    entered = threading.Event()

    def read() -> None:
        entered.set()
        while (frame := stream._next_frame(frames)) is not None:
            got.append(frame)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    entered.wait(5)
    while not empty_log:  # the reader is polling
        threading.Event().wait(0.01)
    stream.close_readers(timeout=10)
    reader.join(10)
    assert not reader.is_alive(), "the reader outlived close_readers"
    assert got[-1] == stream.DONE
    # Closing is per shutdown: a reader opened afterwards polls as usual.
    assert not stream._closing.is_set()


def test_a_reader_opened_after_a_close_still_follows(empty_log: list[int]) -> None:
    stream.close_readers(timeout=1)
    frames = stream.follow("session_x", "out", -1, timeout_seconds=0)
    assert list(frames) == [stream.DONE]
    assert empty_log == [-1]
