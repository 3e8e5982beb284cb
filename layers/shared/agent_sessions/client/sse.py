"""Read a session log over SSE v2, across as many connections as it takes.

Frames are parsed by httpx-sse (a spec-following SSE parser); this module adds the protocol: `batch`
events carry records, `ping` keeps the connection alive, `data: [DONE]` ends a long-poll window, and
`event: error` asks for a reconnect. Every reconnect resumes with `Last-Event-ID` = the last
delivered seq, so no record is lost or repeated; a stall (no record for `stall_timeout` seconds)
reconnects too.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator

import httpx
from httpx_sse import SSEError, connect_sse

from agent_sessions.client.errors import AgentSessionsError, APIConnectionError, error_for
from agent_sessions.client.types import Record

TERMINAL_STATUSES = {400, 404, 409, 410, 422}


class StreamEnded(AgentSessionsError):
    """The stream gave up: too many empty windows, stalls, or a terminal status."""


class _Reconnect(Exception):
    pass


class RecordStream:
    """Iterate a session log's records (`Record`) over SSE, for as long as it takes: across long-poll
    windows, reconnects and stalls, each resuming after the last delivered seq (the TS SDK's
    `SSEStreamSubscription` over `/realtime/v1/sessions/{id}/{in|out}`).

    `url` is the log's realtime URL; `token()` returns the bearer token for each connection and
    `refresh_token()` (optional) a new one after a 401/403 (once). `cursor`: resume after this seq
    (None: from the start). `timeout_seconds`: the server's long-poll window per connection;
    `stall_timeout`: seconds without a record before reconnecting. `max_empty_windows` (None:
    follow forever) and `max_stalls` bound the waiting: past them it raises `StreamEnded`.
    `peek_settled` asks the first connection to return at once when the session is settled; `settled`
    then says so. Raises `NotFoundError` / `SessionClosedError` / `BadRequestError` for terminal statuses,
    `AuthenticationError` after a failed refresh, `APIConnectionError` after four failed connects.
    """

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        token: Callable[[], str],
        *,
        cursor: int | None = None,
        timeout_seconds: int = 120,
        stall_timeout: float = 60.0,
        max_empty_windows: int | None = None,
        max_stalls: int = 5,
        peek_settled: bool = False,
        refresh_token: Callable[[], str] | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self._token = token
        self.cursor = cursor
        self.timeout_seconds = timeout_seconds
        self.stall_timeout = stall_timeout
        self.max_empty_windows = max_empty_windows
        self.max_stalls = max_stalls
        self.peek_settled = peek_settled
        self._refresh = refresh_token
        self.settled = False
        self.connections = 0

    def __iter__(self) -> Iterator[Record]:
        empty_windows = stalls = failures = 0
        refreshed = False
        while True:
            headers = {
                "authorization": f"Bearer {self._token()}",
                "accept": "text/event-stream",
                "timeout-seconds": str(self.timeout_seconds),
            }
            if self.cursor is not None:
                headers["last-event-id"] = str(self.cursor)
            if self.peek_settled and self.connections == 0:
                headers["x-peek-settled"] = "1"
            self.connections += 1
            delivered = False
            try:
                for record in self._connect(headers):
                    delivered = True
                    stalls = failures = 0
                    self.cursor = record.seq
                    yield record
            except _AuthFailed as exc:
                if self._refresh is None or refreshed:
                    raise exc.error from None
                refreshed = True
                self._refresh()
                continue
            except _Stalled:
                stalls += 1
                if stalls > self.max_stalls:
                    raise StreamEnded("Stream stalled: no records received") from None
                continue
            except httpx.ConnectError as exc:
                failures += 1
                if failures > 3:
                    raise APIConnectionError(f"could not reach {self.url}: {exc}") from exc
                time.sleep(0.5 * failures)
                continue
            except (_Reconnect, httpx.TransportError, SSEError):
                failures += 1
                time.sleep(min(1.0 * 2 ** (failures - 1), 5.0) * random.uniform(0.5, 1.0))
                continue
            if self.settled:
                return
            empty_windows = 0 if delivered else empty_windows + 1
            if self.max_empty_windows is not None and empty_windows >= self.max_empty_windows:
                raise StreamEnded("Stream ended before the turn completed (reconnect budget exhausted)")
            if not delivered:
                time.sleep(min(0.1 * 2 ** (empty_windows - 1), 5.0) * random.uniform(0.5, 1.0))

    def _connect(self, headers: dict[str, str]) -> Iterator[Record]:
        timeout = httpx.Timeout(connect=30.0, read=self.stall_timeout, write=30.0, pool=30.0)
        try:
            with connect_sse(self.http, "GET", self.url, headers=headers, timeout=timeout) as source:
                response = source.response
                if response.status_code in (401, 403):
                    response.read()
                    raise _AuthFailed(error_for(response.status_code, _body(response)))
                if response.status_code in TERMINAL_STATUSES:
                    response.read()
                    raise error_for(response.status_code, _body(response))
                if response.status_code >= 400:
                    raise _Reconnect()
                self.settled = response.headers.get("x-session-settled") == "true"
                last_record = time.monotonic()
                for event in source.iter_sse():
                    if event.event == "batch":
                        records = json.loads(event.data).get("records")
                        for raw in records if isinstance(records, list) else []:
                            last_record = time.monotonic()
                            yield Record(
                                seq=int(raw["seq_num"]),
                                timestamp=int(raw.get("timestamp") or 0),
                                body=raw.get("body") or "",
                                headers=raw.get("headers") or [],
                            )
                    elif event.event == "error":
                        raise _Reconnect()
                    elif event.data == "[DONE]":
                        return
                    if time.monotonic() - last_record > self.stall_timeout:
                        raise _Stalled()
        except httpx.ReadTimeout:
            raise _Stalled() from None


class _AuthFailed(Exception):
    def __init__(self, error: AgentSessionsError) -> None:
        super().__init__(str(error))
        self.error = error


class _Stalled(Exception):
    pass


def _body(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return {"error": response.text}
