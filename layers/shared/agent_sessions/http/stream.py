"""The SSE reader (`GET /realtime/v1/sessions/{session}/{io}`), an ASGI app.

On AWS it runs under uvicorn behind the Lambda Web Adapter on a Function URL in RESPONSE_STREAM
mode; the local stack mounts the very same app. Polling is adaptive: about once per page while a
writer's pages flow (`streams.PagePacer`), every `sse_poll_min_seconds` while hot, doubling toward
`sse_poll_max_seconds` while idle, with a ping every `sse_ping_seconds`. Where appends notify
in-process (`Settings.push_in_process`, the local stack) a reader reads when woken by one and
otherwise once per `push_safety_poll_seconds` (`notify.py`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_sessions import access, auth, notify, streams
from agent_sessions.config import get_settings
from agent_sessions.envelopes import dumps
from agent_sessions.http import params
from agent_sessions.http.errors import error_response
from agent_sessions.observability import logger, metrics

BATCH_LIMIT = 200


def parse_last_event_id(value: str | None) -> int:
    """The seq to resume after; see `params.StreamHeaders.cursor`."""
    return params.stream_headers({"last-event-id": value}).cursor()


def parse_timeout(value: str | None) -> int:
    settings = get_settings()
    return params.stream_headers({"timeout-seconds": value}).timeout(
        settings.sse_default_timeout_seconds, settings.sse_max_timeout_seconds
    )


def encode_batch(records: list[streams.store.StoredRecord]) -> bytes:
    """One `batch` frame holding every record given (callers bound the list: `encode_batches`)."""
    return _frame([dumps(r.to_wire()) for r in records], records[0].seq, records[-1])


def encode_batches(records: list[streams.store.StoredRecord], max_bytes: int) -> Iterator[bytes]:
    """`batch` frames of at most about `max_bytes` UTF-8 bytes of records each, in order.

    A record larger than the budget gets a frame of its own, so a frame holds at most one
    over-budget record; the encoded records of only one frame are held at a time.
    """
    parts: list[str] = []
    size = 0
    first = 0
    for i, record in enumerate(records):
        part = dumps(record.to_wire())
        n = len(part.encode()) + 1
        if parts and size + n > max_bytes:
            yield _frame(parts, records[first].seq, records[i - 1])
            parts, size, first = [], 0, i
        parts.append(part)
        size += n
    if parts:
        yield _frame(parts, records[first].seq, records[-1])


def _frame(parts: list[str], first_seq: int, last: streams.store.StoredRecord) -> bytes:
    tail = dumps({"seq_num": last.seq + 1, "timestamp": last.timestamp})
    payload = '{"records":[' + ",".join(parts) + '],"tail":' + tail + "}"
    return f"id: {first_seq},{last.seq + 1}\nevent: batch\ndata: {payload}\n\n".encode()


def encode_ping() -> bytes:
    return f"event: ping\ndata: {json.dumps({'timestamp': streams.now_ms()})}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def follow(
    session_id: str,
    io: str,
    cursor: int,
    timeout_seconds: float,
    *,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """SSE frames of every record after `cursor` until the long-poll window ends or `stop` is set
    (default: the server is closing its readers, `close_readers`).

    Holds at most one read (`BATCH_LIMIT` records, about `read_max_bytes` UTF-8 bytes plus one
    record) and one frame in memory; a gap in seqs is waited out, never skipped.
    """
    settings = get_settings()
    backoff = streams.PollBackoff(
        settings.sse_poll_min_seconds,
        settings.sse_poll_max_seconds,
        hot_seconds=settings.sse_poll_hot_seconds,
    )
    # Sleep at most a window (+0.1 s for the write): after a pause (a tool call, the model
    # thinking) the writer's next pages come fast again, and a longer sleep would hold them.
    window = settings.out_coalesce_window_seconds
    pacer = streams.PagePacer(settings.sse_poll_min_seconds, max(0.25, 2 * window), sleep_max=window + 0.1)
    deadline = time.monotonic() + timeout_seconds
    last_frame = time.monotonic()
    budget = settings.read_max_bytes
    stop = stop or _closing
    with notify.listen(session_id, io) as appended:
        while not stop.is_set():
            appended.arm()
            if stop.is_set():  # set between the check and the arm: its wake-up was cleared
                break
            records = streams.read_after(session_id, io, cursor, limit=BATCH_LIMIT, max_bytes=budget)
            if records:
                yield from encode_batches(records, budget)
                cursor = records[-1].seq
                last_frame = time.monotonic()
                backoff.got_records()
                if len(records) == BATCH_LIMIT or sum(map(streams.record_bytes, records)) >= budget:
                    continue
            now = time.monotonic()
            if now >= deadline:
                break
            if now - last_frame >= settings.sse_ping_seconds:
                yield encode_ping()
                last_frame = now
            if settings.push_in_process:  # an append wakes us; the interval is the safety net
                delay = settings.push_safety_poll_seconds
            else:
                paced = pacer.found() if records else pacer.missed()
                delay = paced if paced is not None else backoff.idle()
            appended.sleep(min(delay, deadline - now))
    yield DONE


def _error(exc: Exception) -> Response:
    status, body, headers = error_response(exc)
    return JSONResponse(body, status_code=status, headers=headers)


async def subscribe(request: Request) -> Response:
    """CORS (preflights, headers) comes from the app's `CorsMiddleware`, as on every route."""
    return await run_in_threadpool(_open, request)


def _open(request: Request) -> Response:
    """Authorize and resolve (blocking DynamoDB reads, so off the event loop), then stream."""
    try:
        principal = auth.authenticate_headers(request.headers)
        io = params.io_name(request.path_params["io"])
        url_key = params.session_key(request.path_params["session"])
        session = access.read_channel(principal, url_key, io)
        headers_in = params.stream_headers(request.headers)
        settings = get_settings()
        timeout = headers_in.timeout(settings.sse_default_timeout_seconds, settings.sse_max_timeout_seconds)
        cursor = headers_in.cursor()
    except Exception as exc:
        return _error(exc)
    headers = {
        "X-Stream-Version": "v2",
        "Cache-Control": "no-cache",
        "Connection": "keep-alive",
        "X-Accel-Buffering": "no",
    }
    if request.method == "HEAD":
        # The headers a GET would get, body-less (as the reference; no 4.8.3 client calls it).
        return Response(
            status_code=200,
            media_type="text/event-stream",
            headers={**headers, "X-Last-Chunk-Index": "0"},
        )
    session_id = session.session_id or ""
    if io == "out" and headers_in.peek_settled == "1" and streams.is_settled(session_id):
        headers["X-Session-Settled"] = "true"
        timeout = 0
    logger.info("sse subscribe", extra={"session_id": session_id, "io": io, "cursor": cursor})
    metrics.add_metric(name="SseConnections", unit="Count", value=1)
    return StreamingResponse(
        _off_the_shared_pool(follow(session_id, io, cursor, timeout)),
        media_type="text/event-stream",
        headers=headers,
    )


_closing = threading.Event()
_reading = 0
_reading_changed = threading.Condition()


def end_readers() -> None:
    """Tell every open SSE reader of this process to end at its next poll (returns at once).

    Readers of another server in the same process end too; their clients reconnect, as after
    any long-poll window.
    """
    _closing.set()
    notify.wake_all()


def close_readers(timeout: float = 5.0) -> None:
    """`end_readers`, then wait (at most `timeout` seconds) until none is inside a read; call it
    after the HTTP server stopped accepting and before the store stops.

    A reader's thread is not a daemon, so the process waits for it at exit, and a read left
    running after the store stopped retries a dead endpoint for seconds.
    """
    end_readers()
    try:
        with _reading_changed:
            _reading_changed.wait_for(lambda: _reading == 0, timeout)
    finally:
        _closing.clear()


def _next_frame(frames: Iterator[bytes]) -> bytes | None:
    global _reading
    with _reading_changed:
        _reading += 1
    try:
        return next(frames, None)
    finally:
        with _reading_changed:
            _reading -= 1
            _reading_changed.notify_all()


_STREAM_THREADS = 10_000
"""Threads SSE connections may hold at once (each sleeps between polls inside `follow`)."""
_limiter: anyio.CapacityLimiter | None = None


async def _off_the_shared_pool(frames: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Iterate `frames` on threads of a limiter of their own. Starlette would iterate a sync
    generator on the shared pool (40 threads), where readers sleeping between polls starved
    every other request once about 40 were open (the local stack at 50 concurrent chats)."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(_STREAM_THREADS)
    while True:
        frame = await anyio.to_thread.run_sync(_next_frame, frames, limiter=_limiter)
        if frame is None:
            return
        yield frame


async def healthz(_: Request) -> Response:
    return Response("ok")


STREAM_PATH = "/realtime/v1/sessions/{session:str}/{io:str}"
routes = [
    Route(STREAM_PATH, subscribe, methods=["GET", "HEAD"]),
    Route("/healthz", healthz),
]


def create_app() -> Starlette:
    from agent_sessions.http.asgi import edge_app

    return edge_app(routes)
