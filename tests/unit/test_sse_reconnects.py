"""Property: however connections are cut, the SSE reader delivers every record exactly once, in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_sessions.client.sse import RecordStream, StreamEnded

RECORDS = 40


class _Log(BaseHTTPRequestHandler):
    """Serves RECORDS records as SSE v2 from Last-Event-ID+1, in batches, pings and [DONE] windows,
    and drops the connection after `cuts[i]` bytes on the i-th connection."""

    cuts: list[int] = []
    batch_sizes: list[int] = []
    connections = 0

    def do_GET(self) -> None:
        cls = type(self)
        index = cls.connections
        cls.connections += 1
        cursor = int(self.headers.get("last-event-id", "-1"))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("x-stream-version", "v2")
        self.end_headers()
        frames = [b"event: ping\ndata: {}\n\n"]
        seq = cursor + 1
        sizes = cls.batch_sizes or [3]
        while seq < RECORDS:
            size = sizes[(seq + index) % len(sizes)]
            batch = [
                {
                    "seq_num": s,
                    "timestamp": s,
                    "body": json.dumps({"data": {"n": s}, "id": f"r{s}"}),
                    "headers": [],
                }
                for s in range(seq, min(seq + size, RECORDS))
            ]
            frames.append(f"id: {seq}\nevent: batch\ndata: {json.dumps({'records': batch})}\n\n".encode())
            seq += size
        frames.append(b"data: [DONE]\n\n")
        payload = b"".join(frames)
        cut = cls.cuts[index] if index < len(cls.cuts) else len(payload)
        try:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Log)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/realtime/v1/sessions/c/out"
    httpd.shutdown()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    batch_sizes=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=4),
)
def test_no_record_lost_or_repeated_across_cut_connections(
    server: str, cuts: list[int], batch_sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent_sessions.client.sse.time.sleep", lambda _s: None)
    _Log.cuts, _Log.batch_sizes, _Log.connections = cuts, batch_sizes, 0
    seen: list[int] = []
    with httpx.Client() as http:
        stream = RecordStream(
            http, server, lambda: "token", timeout_seconds=5, max_empty_windows=len(cuts) + 3
        )
        for record in stream:
            seen.append(record.seq)
            assert record.chunk == {"n": record.seq}
            if record.seq == RECORDS - 1:
                break
    assert seen == list(range(RECORDS))


def test_too_many_empty_windows_end_the_stream(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent_sessions.client.sse.time.sleep", lambda _s: None)
    _Log.cuts, _Log.connections = [], 0
    with httpx.Client() as http:
        stream = RecordStream(http, server, lambda: "t", cursor=RECORDS - 1, max_empty_windows=3)
        with pytest.raises(StreamEnded):
            list(stream)
    assert _Log.connections == 3
