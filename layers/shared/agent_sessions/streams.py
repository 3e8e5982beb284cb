"""Ordered `.in`/`.out` logs: append with seq, read after a cursor, the coalescing `.out` writer.

Order is the invariant everything else leans on: a record with seq n is committed in the same
transaction that moves its log's head from n to n+1, so n+1 can never be visible before n, and a
reader that only advances over contiguous seqs can neither skip nor repeat a record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from agent_sessions import notify, store
from agent_sessions.config import get_settings
from agent_sessions.envelopes import decode_data, dumps, envelope_data, parse_envelope
from agent_sessions.errors import ConcurrencyError, PayloadTooLarge, RateLimited, SessionClosed
from agent_sessions.ids import new_record_id
from agent_sessions.observability import metrics
from agent_sessions.rate_limits import RateStatus, admit_append

IO_NAMES = ("in", "out")
CONTROL_HEADER = "trigger-control"
TURN_HEADER = "turn-in-event-id"
"""Stamped on a turn's first `.out` record: the `.in` seq the turn answers ("" for a payload turn),
so whoever finds the turn open after a crash can close it with the right `session-in-event-id`."""
RUN_HEADER = "turn-run-id"
"""Stamped beside TURN_HEADER: the run answering the turn, so a client learns of a new run
(continuation, upgrade) from the stream it already reads (`AgentChat(on_triggered=...)`)."""
RUN_REASON_HEADER = "turn-run-reason"
"""Stamped beside RUN_HEADER: why that run was triggered (`initial`, `continuation`, `upgrade`, ...)."""
INTERRUPTED_HEADER = "turn-interrupted"
"""On a `turn-complete` that closed a turn its run could not finish (crash, failed last attempt):
the next run boot reads that turn back as a partial answer (`on_recovery_boot`)."""
_APPEND_ATTEMPTS = 8


def now_ms() -> int:
    return int(time.time() * 1000)


def envelope(data: Any, record_id: str | None = None) -> str:
    """The stored body `{"data":…,"id":…}`, written as `JSON.stringify` would (UTF-8, not \\u-escaped)."""
    return dumps({"data": data, "id": record_id or new_record_id()})


def check_record_size(body: str) -> None:
    """The S2-compatible metered size: 8 bytes + the envelope's UTF-8 length, at most `max_record_bytes`.

    Raises PayloadTooLarge (413) above the limit; a record of exactly the limit is accepted.
    """
    limit = get_settings().max_record_bytes
    size = 8 + len(body.encode())
    if size > limit:
        raise PayloadTooLarge(
            f"Record metered size {size} bytes exceeds the per-record limit of {limit} bytes. "
            "Reduce tool-output size or split into smaller parts."
        )


def control_headers(kind: str, **extra: str | None) -> list[list[str]]:
    headers = [[CONTROL_HEADER, kind]]
    headers += [[name.replace("_", "-"), value] for name, value in extra.items() if value is not None]
    return headers


def control_kind(record: store.StoredRecord) -> str | None:
    if record.headers and record.headers[0][0] == CONTROL_HEADER:
        return record.headers[0][1]
    for name, value in record.headers:
        if name == CONTROL_HEADER:
            return value
    return None


def header(record: store.StoredRecord, name: str) -> str | None:
    return next((value for key, value in record.headers if key == name), None)


def is_command(record: store.StoredRecord) -> bool:
    return bool(record.headers) and record.headers[0][0] == ""


@dataclass(frozen=True)
class AppendResult:
    seq: int
    duplicate: bool = False
    rate: RateStatus | None = None
    """Where the append left its session's rate window (None: not rate limited)."""


@dataclass(frozen=True)
class InHead:
    """What an `.in` append needs from the session item, re-read when the head moved under it."""

    next_seq: int
    closed_reason: str | None
    """None while the session accepts input."""
    rate: store.RateWindow | None = None


def _earlier_append(
    exc: store.TransactionCancelled, session_id: str, io: str, part_id: str | None
) -> AppendResult | None:
    """The original append when the part marker (always the transaction's first action) refused us."""
    if part_id is None or not exc.reasons or exc.reasons[0] != "ConditionalCheckFailed":
        return None
    seq = store.get_part_seq(session_id, io, part_id)
    return AppendResult(seq, duplicate=True) if seq is not None else None


def append_in(
    session_item_pk: str,
    session_id: str,
    head: InHead,
    raw_body: str,
    part_id: str | None,
    *,
    reload: Callable[[], InHead],
    session_actions: Sequence[Any] = (),
    rate_limit: int | None = None,
    live_run: tuple[str, float] | None = None,
    on_run_ended: Callable[[], None] | None = None,
) -> AppendResult:
    """Append one `.in` record. `head` comes from the session read the caller already did.

    `reload` re-reads the session (strongly consistent) when the head moved under us; a closed
    session stops the loop with 409. With `rate_limit`, the append counts in the session's
    window (`rate_limits.admit_append`), written in the same transaction; over the limit it raises
    RateLimited (429) and stores nothing, unless `part_id` names an append that already landed,
    which is answered as the duplicate it is (a resend is not a new request).

    With `live_run` = (run id, epoch seconds), the transaction also checks that run is alive then
    (`store.append_in_record`); when it is not, nothing was written, `on_run_ended()` is called
    (the live-run cap: it raises to refuse the append) and the append is retried without the check.
    """
    body = envelope(raw_body, part_id)
    check_record_size(body)
    ttl = get_settings().part_id_ttl_seconds
    for _ in range(_APPEND_ATTEMPTS):
        admission = None
        if rate_limit is not None:
            try:
                admission = admit_append(rate_limit, head.rate, now_ms())
            except RateLimited as exc:
                seq = store.get_part_seq(session_id, "in", part_id) if part_id is not None else None
                if seq is None:
                    raise
                return AppendResult(seq, duplicate=True, rate=exc.limit_status)
        status = admission.status if admission is not None else None
        record = store.StoredRecord(head.next_seq, now_ms(), body, [])
        try:
            store.append_in_record(
                session_item_pk,
                session_id,
                "in",
                head.next_seq,
                record,
                part_id,
                ttl,
                session_actions,
                rate=admission.window if admission is not None else None,
                live_run=live_run,
            )
            notify.appended(session_id, "in")
            return AppendResult(head.next_seq, rate=status)
        except store.RunNotLive:
            if on_run_ended is not None:
                on_run_ended()
            live_run = None
        except store.TransactionCancelled as exc:
            earlier = _earlier_append(exc, session_id, "in", part_id)
            if earlier is not None:
                return AppendResult(earlier.seq, duplicate=True, rate=status)
            head = reload()
            if head.closed_reason is not None:
                raise SessionClosed(
                    "Cannot append to a closed session", ok=False, closedReason=head.closed_reason or None
                ) from exc
    raise ConcurrencyError("Too much contention appending to the session; retry")


def append_records(
    session_id: str, io: str, bodies: list[tuple[str, list[list[str]]]], part_id: str | None = None
) -> AppendResult:
    """Append records at the log's separate head (`.out` over HTTP, control records)."""
    part = (part_id, get_settings().part_id_ttl_seconds) if part_id is not None else None
    next_seq = store.read_head(session_id, io)
    for _ in range(_APPEND_ATTEMPTS):
        ts = now_ms()
        records = [store.StoredRecord(next_seq + i, ts, b, h) for i, (b, h) in enumerate(bodies)]
        try:
            store.append_page(session_id, io, next_seq, records, part)
            notify.appended(session_id, io)
            return AppendResult(next_seq)
        except store.TransactionCancelled as exc:
            earlier = _earlier_append(exc, session_id, io, part_id)
            if earlier is not None:
                return earlier
            next_seq = store.read_head(session_id, io)
    raise ConcurrencyError("Too much contention appending to the log; retry")


def append_out_http(session_id: str, raw_body: str, part_id: str | None) -> AppendResult:
    body = envelope(raw_body, part_id)
    check_record_size(body)
    return append_records(session_id, "out", [(body, [])], part_id)


class OutWriter:
    """Coalescing `.out` writer owned by one run.

    The first record after a quiet spell is written at once; records arriving after a write are
    batched into one page written when the window closes, a window that starts at
    `out_coalesce_first_seconds` and doubles per page up to `out_coalesce_window_seconds`. Seqs
    are assigned at flush time from the head this writer last committed, so a second writer (a
    run swap) costs a head re-read and a renumber, never a gap or a duplicate.
    """

    def __init__(
        self, session_id: str, *, window_seconds: float | None = None, owner: str | None = None
    ) -> None:
        self.session_id = session_id
        self.owner = owner
        """The run this writer writes for: every page is conditioned on it owning the `.out` head,
        so a replaced run's late pages are refused (store.RunSuperseded) instead of interleaving."""
        self._stamp: str | None = None
        self._turn_input_ms: int | None = None
        """Append time (ms) of the input the stamped turn answers, for the `TimeToFirstChunk` metric."""
        self._stamp_extra: list[list[str]] = []
        self.window = get_settings().out_coalesce_window_seconds if window_seconds is None else window_seconds
        self._next_seq: int | None = None
        self._buffer: list[tuple[str, list[list[str]]]] = []
        self._cond = threading.Condition()
        self._last_write = 0.0
        self._buffer_since = 0.0
        """When the oldest record now buffered was enqueued (what a quiet spell is measured to)."""
        self.first_window = min(self.window, get_settings().out_coalesce_first_seconds)
        self._burst = 0
        """Pages written since the last quiet spell (`_BURST_QUIET_SECONDS` without a write)."""
        self._flushing = 0
        """Callers blocked in flush(): while any, the window is skipped (also after an in-flight write)."""
        self._content_due = False
        """A turn was stamped and has written only openers (`start`, `start-step`, ...) so far:
        they wait up to `first_window` for its first content chunk, which is written at once."""
        self._urgent = False
        """The buffer holds the turn's first content chunk: the next page skips the window."""
        self._inflight = False
        self._closed = False
        self._error: BaseException | None = None
        self.last_seq = -1
        self.writes = 0
        self._thread = threading.Thread(target=self._run, name=f"out-writer-{session_id}", daemon=True)
        self._thread.start()

    def write_chunk(self, chunk: Any) -> None:
        self._enqueue(envelope(chunk), [], content=_chunk_type(chunk) not in _OPENERS)

    def write_control(self, kind: str, **headers: str | None) -> None:
        if kind == "turn-complete":
            with self._cond:
                self._stamp = None  # a turn that wrote no chunk never opened
                self._content_due = False
        self._enqueue("", control_headers(kind, **headers))

    def stamp_turn(
        self,
        answering_seq: int | None,
        input_appended_ms: int | None = None,
        *,
        run_id: str | None = None,
        run_reason: str | None = None,
    ) -> None:
        """The turn's next chunk (its first) carries TURN_HEADER = `answering_seq`: from then
        on the turn is open until its turn-complete. Control records do not open a turn.
        With `run_id` it also carries RUN_HEADER (and RUN_REASON_HEADER).

        `input_appended_ms` (ms since the epoch, the `.in` record's timestamp): when given, the
        commit of that first chunk emits `TimeToFirstChunk`, the send-to-first-output latency a
        reader sees."""
        with self._cond:
            self._stamp = "" if answering_seq is None else str(answering_seq)
            self._content_due = True
            self._turn_input_ms = input_appended_ms
            self._stamp_extra = [[RUN_HEADER, run_id]] if run_id else []
            if run_id and run_reason:
                self._stamp_extra.append([RUN_REASON_HEADER, run_reason])

    def assume_head(self, next_seq: int | None) -> None:
        """Start numbering at `next_seq` instead of reading the head before the first page (a
        request saved on the path to a reply's first token): the run just read `.out` back
        (`turn_tail`). A wrong guess costs the re-read the writer makes after any lost head race
        (the page is conditioned on the head), never a gap or a duplicate. Ignored once a page
        was written or numbering started."""
        with self._cond:
            if next_seq is not None and self._next_seq is None and not (self.writes or self._inflight):
                self._next_seq = next_seq

    def _raise_error(self) -> None:
        if isinstance(self._error, store.RunSuperseded):
            raise store.RunSuperseded(str(self._error)) from self._error
        raise RuntimeError("out writer failed") from self._error

    def _enqueue(self, body: str, headers: list[list[str]], *, content: bool = False) -> None:
        check_record_size(body)
        with self._cond:
            if self._error is not None:
                self._raise_error()
            if content and self._content_due:
                # The turn's first words: a page of openers alone may have just gone out (the
                # first record after a quiet spell is written at once), and the window would
                # hold these behind it. They go at once too; later pages coalesce as before.
                self._content_due, self._urgent = False, True
            if self._stamp is not None and body:
                headers = [*headers, [TURN_HEADER, self._stamp], *self._stamp_extra]
                self._stamp = None
            if not self._buffer:
                self._buffer_since = time.monotonic()
            self._buffer.append((body, headers))
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> int:
        """Block until everything enqueued so far is committed; returns the last committed seq."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1  # flush now, not at the end of the window
            self._cond.notify_all()
            try:
                while (self._buffer or self._inflight) and self._error is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("out writer flush timed out")
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1
            if self._error is not None:
                self._raise_error()
            return self.last_seq

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._stop_thread()

    def _stop_thread(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._buffer and not self._closed:
                    self._cond.wait()
                if self._closed and not self._buffer:
                    return
                wait = self._wait_seconds()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                batch, self._buffer, self._urgent = self._buffer, [], False
                self._inflight = True
            try:
                self._commit(batch)
            except BaseException as exc:
                with self._cond:
                    self._error = exc
                    self._inflight = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._inflight = False
                self._last_write = time.monotonic()
                self._burst += 1
                self._cond.notify_all()

    def _wait_seconds(self) -> float:
        """How much longer what is buffered may wait before it is written (<= 0: now)."""
        window = self._window()  # first, whatever the answer: it also notices a new burst
        if self._flushing or self._urgent:
            return 0.0
        if self._content_due:
            # A stamped turn's openers alone (`start`, `start-step`, ...): wait a little for its
            # first words so both share one page (a transaction less before the first token, and
            # a page less per turn); a slow model still shows `start` after `first_window`.
            return self._buffer_since + self.first_window - time.monotonic()
        return self._last_write + window - time.monotonic()

    def _window(self) -> float:
        """Seconds the next page waits after the last write: `first_window` doubling up to
        `window` over a burst, so the first words of a reply are not held back while a long
        stream still coalesces. A burst starts when the producer enqueued nothing for
        `_BURST_QUIET_SECONDS` after the last write (a new reply, not a producer's stall
        mid-stream, nor the writer's own wait for a window as long as that)."""
        if self._buffer_since - self._last_write >= _BURST_QUIET_SECONDS:
            self._burst = 0
        if self._burst == 0:
            return 0.0
        return min(self.window, self.first_window * 2 ** (self._burst - 1))

    def _commit(self, batch: list[tuple[str, list[list[str]]]]) -> None:
        for page in _pages(batch):
            if self._next_seq is None:
                self._next_seq = store.read_head(self.session_id, "out")
            for _ in range(_APPEND_ATTEMPTS):
                ts = now_ms()
                records = [store.StoredRecord(self._next_seq + i, ts, b, h) for i, (b, h) in enumerate(page)]
                try:
                    store.append_page(self.session_id, "out", self._next_seq, records, owner=self.owner)
                    break
                except store.TransactionCancelled:
                    self._next_seq, owner = store.read_head_and_owner(self.session_id, "out")
                    if self.owner is not None and owner != self.owner:
                        raise store.RunSuperseded(self.owner) from None
            else:
                raise ConcurrencyError("out writer lost the head too often")
            notify.appended(self.session_id, "out")
            self.writes += 1
            metrics.add_metric(name="RecordsWritten", unit="Count", value=len(page))
            metrics.add_metric(name="OutPagesWritten", unit="Count", value=1)
            self._measure_first_chunk(page, ts)
            self._next_seq += len(page)
            self.last_seq = self._next_seq - 1

    def _measure_first_chunk(self, page: list[tuple[str, list[list[str]]]], committed_ms: int) -> None:
        since = self._turn_input_ms
        if since is None or not any(h[0] == TURN_HEADER for _body, headers in page for h in headers):
            return
        self._turn_input_ms = None
        metrics.add_metric(name="TimeToFirstChunk", unit="Milliseconds", value=max(0, committed_ms - since))


_OPENERS = frozenset({"start", "start-step", "text-start", "reasoning-start", "message-metadata"})
"""UI-message chunks that open a reply or a part but show nothing yet: the first chunk of a turn
that is not one of these (usually its first `text-delta`) is never held by the window."""


def _chunk_type(chunk: Any) -> Any:
    return chunk.get("type") if isinstance(chunk, dict) else None


_BURST_QUIET_SECONDS = 0.5
"""A gap between writes after which the coalescing window starts small again."""

_PAGE_BYTES = 300_000
"""UTF-8 bytes of a coalesced page's records as stored (body JSON-escaped once more, plus headers)."""


def _stored_bytes(body: str, headers: list[list[str]]) -> int:
    return len(dumps([0, 0, body, headers]).encode()) + 32  # + room for the seq and timestamp digits


def _pages(batch: list[tuple[str, list[list[str]]]]) -> Iterator[list[tuple[str, list[list[str]]]]]:
    """Split a batch so that an ordinary page stays within one item; a big record gets its own."""
    page: list[tuple[str, list[list[str]]]] = []
    size = 0
    for body, headers in batch:
        n = _stored_bytes(body, headers)
        if page and size + n > _PAGE_BYTES:
            yield page
            page, size = [], 0
        page.append((body, headers))
        size += n
    if page:
        yield page


# ---------------------------------------------------------------- reading


def record_bytes(record: store.StoredRecord) -> int:
    """UTF-8 bytes of a record's body and headers (what a reader holds and sends for it)."""
    return len(record.body.encode()) + sum(len(n.encode()) + len(v.encode()) for n, v in record.headers)


def read_after(
    session_id: str,
    io: str,
    cursor: int,
    limit: int = 200,
    *,
    max_bytes: int | None = None,
    consistent: bool = True,
) -> list[store.StoredRecord]:
    """Contiguous records after `cursor`; stops at a gap so a reader never skips a seq.

    At most `limit` records, and with `max_bytes` no more once their `record_bytes` reach it (the
    first record always comes, whatever its size), so a reader's memory stays bounded. A `.out`
    cursor below the trim comes first to a `trim` command record (`trimmed_marker`). With
    `consistent=False` (`.in` only: the in-turn watcher) the read may miss the newest records (a
    later read finds them), never skip or repeat one: only a contiguous run after `cursor` is returned.
    """
    out: list[store.StoredRecord] = []
    expected = cursor + 1
    size = 0
    for record in store.read_pages(session_id, io, cursor, limit=limit, consistent=consistent):
        if record.seq != expected and not out and io == "out":
            marker = trimmed_marker(session_id, expected, record)
            if marker is not None:
                out.append(marker)
                expected = record.seq
        if record.seq != expected:
            break
        out.append(record)
        expected += 1
        size += record_bytes(record) if max_bytes is not None else 0
        if len(out) >= limit or (max_bytes is not None and size >= max_bytes):
            break
    return out


TRIM_COMMAND = "trim"


def trimmed_marker(session_id: str, expected: int, found: store.StoredRecord) -> store.StoredRecord | None:
    """What a reader expecting seq `expected` gets when the first stored record is `found` (later).

    If the missing seqs were trimmed (`found` is at or below the `.out` head's `trim_seq`), an S2
    `trim` command record (`["", "trim"]` as its first header, body "") at `found.seq - 1`: every
    client skips command records but advances its cursor over them, so the reader stays gap-free
    and continues at `found`. None for any other gap (it is waited out). One GetItem, only then.
    """
    if found.seq > store.read_out_trim(session_id):
        return None
    return store.StoredRecord(found.seq - 1, found.timestamp, "", [["", TRIM_COMMAND]])


def is_settled(session_id: str) -> bool:
    """True when the newest real `.out` record is a `turn-complete` (the settled peek)."""
    for record in store.read_pages(session_id, "out", -1, limit=2, newest_first=True):
        if is_command(record):
            continue
        return control_kind(record) == "turn-complete"
    return False


def last_turn_complete(session_id: str, scan_limit: int = 5000) -> store.StoredRecord | None:
    """The newest `turn-complete` within the last `scan_limit` `.out` records (the agent's boot cursor)."""
    newest = store.read_pages(session_id, "out", -1, limit=scan_limit, newest_first=True)
    return next((r for r in islice(newest, scan_limit) if control_kind(r) == "turn-complete"), None)


def _int_header(record: store.StoredRecord, name: str) -> int | None:
    value = header(record, name)
    return int(value) if value and value.lstrip("-").isdigit() else None


@dataclass(frozen=True)
class TurnTail:
    """Where `.out` stands: the input the last turn-complete answered, and any turn left open."""

    answered: int | None
    """`session-in-event-id` of the newest turn-complete: every `.in` seq up to it is answered or
    let go (None: none, or a payload-driven turn that consumed nothing)."""
    open_turn: bool
    """A turn began after that turn-complete and never completed (its run died mid-turn)."""
    open_answering: int | None
    """The `.in` seq the open turn answers (None for a payload-driven turn)."""
    interrupted: bool = False
    """The newest turn-complete closed an interrupted turn (INTERRUPTED_HEADER)."""
    next_seq: int | None = None
    """One past the newest `.out` record read (0 for a log never written; a trim always keeps the
    newest page): the head's `next_seq` unless a page landed after the read, so a writer may start
    from it (`OutWriter.assume_head`). None when not read from `.out`."""
    consumed: int = -1
    """`session-in-consumed-id` of the newest turn-complete: the highest `.in` seq read by then,
    answered or not (-1: none). Records above `answered` up to it are read again by the next run:
    messages still owed an answer, and stops whose turn is over (`Steering` lets those go)."""

    @property
    def cursor(self) -> int:
        """The `.in` seq a run resumes after: answered input, counting an open turn as answered
        (it showed output, so re-answering it would answer it twice; it is closed instead)."""
        return max(
            self.answered if self.answered is not None else -1,
            self.open_answering if self.open_answering is not None else -1,
        )


def turn_tail(session_id: str, scan_limit: int = 5000) -> TurnTail:
    """Read `.out` newest first back to the last turn-complete, in pages of 25 items."""
    opened: store.StoredRecord | None = None
    next_seq: int | None = None
    newest = store.read_pages(session_id, "out", -1, limit=scan_limit, newest_first=True)
    for record in islice(newest, scan_limit):
        if next_seq is None:
            next_seq = record.seq + 1
        if control_kind(record) == "turn-complete":
            interrupted = header(record, INTERRUPTED_HEADER) == "true"
            answered = _int_header(record, "session-in-event-id")
            consumed = _int_header(record, "session-in-consumed-id")
            return _tail(answered, opened, next_seq, interrupted, consumed)
        if header(record, TURN_HEADER) is not None:
            opened = record
    return _tail(None, opened, 0 if next_seq is None else next_seq)


def _tail(
    answered: int | None,
    opened: store.StoredRecord | None,
    next_seq: int | None,
    interrupted: bool = False,
    consumed: int | None = None,
) -> TurnTail:
    read = max(-1 if consumed is None else consumed, -1 if answered is None else answered)
    if opened is None:
        return TurnTail(answered, False, None, interrupted, next_seq, consumed=read)
    return TurnTail(answered, True, _int_header(opened, TURN_HEADER), next_seq=next_seq, consumed=read)


@dataclass(frozen=True)
class InterruptedTurn:
    """The newest turn on `.out`, closed because its run could not finish it."""

    answering: int | None
    """The `.in` seq it answered (None for a payload-driven turn)."""
    closed_at_seq: int
    """The `.out` seq of its closing turn-complete: which interrupted turn this is."""
    chunks: list[Any]
    """Its UI-message chunks as written, without the closing `error` chunk."""


def interrupted_turn(session_id: str, scan_limit: int = 5000) -> InterruptedTurn | None:
    """Read the newest turn back when its turn-complete is an interrupted closure; else None.

    Newest first, in pages of 25 items, back to that turn's first (stamped) record.
    """
    closing: store.StoredRecord | None = None
    records: list[store.StoredRecord] = []
    newest = store.read_pages(session_id, "out", -1, limit=scan_limit, newest_first=True)
    for record in islice(newest, scan_limit):
        if closing is None:
            if control_kind(record) != "turn-complete":
                continue
            if header(record, INTERRUPTED_HEADER) != "true":
                return None
            closing = record
            continue
        if control_kind(record) == "turn-complete":
            break  # the previous turn: this one never wrote a stamped record
        records.append(record)
        if header(record, TURN_HEADER) is not None:
            break
    if closing is None:
        return None
    chunks = [envelope_data(r.body) for r in reversed(records) if r.body and not control_kind(r)]
    if chunks and isinstance(chunks[-1], dict) and chunks[-1].get("type") == "error":
        chunks.pop()
    return InterruptedTurn(_int_header(closing, "session-in-event-id"), closing.seq, chunks)


def turn_closing_records(answering: int | None, reason: str) -> list[tuple[str, list[list[str]]]]:
    """An `error` chunk and an error `turn-complete` for a turn its run can no longer finish."""
    seq = str(answering) if answering is not None else None
    return [
        (envelope({"type": "error", "errorText": reason}), []),
        (
            "",
            control_headers(
                "turn-complete",
                session_in_event_id=seq,
                session_in_consumed_id=seq,
                turn_interrupted="true",
            ),
        ),
    ]


def close_open_turn(session_id: str, dead_run_id: str, answering: int | None, reason: str) -> bool:
    """Close a dead run's open turn for every reader, fenced on that run still owning `.out`.

    The same write retires its ownership, so none of its late pages can land after the close.
    False when another run owns `.out` now (it closes the turn itself when it boots).
    """
    records = turn_closing_records(answering, reason)
    for _ in range(_APPEND_ATTEMPTS):
        next_seq, owner = store.read_head_and_owner(session_id, "out")
        if owner != dead_run_id:
            return False
        ts = now_ms()
        page = [store.StoredRecord(next_seq + i, ts, b, h) for i, (b, h) in enumerate(records)]
        try:
            store.append_page(
                session_id, "out", next_seq, page, owner=dead_run_id, new_owner=f"retired:{dead_run_id}"
            )
            notify.appended(session_id, "out")
            return True
        except store.TransactionCancelled:
            continue
    raise ConcurrencyError("Too much contention closing the open turn")


def record_for_api(record: store.StoredRecord, io: str) -> dict[str, Any]:
    """Shape of the records endpoint: `data` parsed for `.out`, the raw string for `.in`."""
    envelope = parse_envelope(record.body)
    if envelope is None:
        item: dict[str, Any] = {"data": "", "id": "", "seqNum": record.seq}
    else:
        data = decode_data(envelope.get("data")) if io == "out" else envelope.get("data")
        item = {"data": data, "id": str(envelope.get("id") or ""), "seqNum": record.seq}
    if record.headers:
        item["headers"] = record.headers
    return item


@dataclass(frozen=True)
class RecordsPage:
    records: list[dict[str, Any]]
    """Records in the records endpoint's shape (`record_for_api`), command records left out."""
    next_after: int | None
    """The `afterEventId` to continue from when the page stopped at its byte or record budget."""


def records_page(session_id: str, io: str, cursor: int) -> RecordsPage:
    """One bounded page of the records endpoint (a `wait=0` drain after `cursor`).

    At most `read_max_records` records and `read_max_bytes` UTF-8 bytes of serialized records; a
    single record larger than the budget comes alone. Every response then fits Lambda's 6 MB
    response limit with room to spare, even after the runtime \\u-escapes non-ASCII (3x at most).
    """
    settings = get_settings()
    budget, limit = settings.read_max_bytes, settings.read_max_records
    batch = read_after(session_id, io, cursor, limit=limit, max_bytes=budget)
    records: list[dict[str, Any]] = []
    size = 0
    last = cursor
    for record in batch:
        item = None if is_command(record) else record_for_api(record, io)
        n = len(dumps(item).encode()) + 1 if item is not None else 0
        if size and size + n > budget:
            return RecordsPage(records, last)
        if item is not None:
            records.append(item)
        size += n
        last = record.seq
    full = len(batch) >= limit or sum(record_bytes(r) for r in batch) >= budget
    return RecordsPage(records, last if full and batch else None)


@dataclass
class PollBackoff:
    """Fast while records flow and for `hot_seconds` after, then doubling toward the cap while idle.

    The hot spell covers the moments someone is likely waiting (a reader just after a send, an
    agent just after its turn); `bench/cost.py` prices its reads against the warm GB-seconds.
    """

    minimum: float
    maximum: float
    current: float = 0.0
    hot_seconds: float = field(default=0.0, kw_only=True)
    _hot_until: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.got_records()

    def got_records(self) -> None:
        """Records arrived (or a wait begins): back to the minimum, hot again for `hot_seconds`."""
        self.current = self.minimum
        self._hot_until = time.monotonic() + self.hot_seconds

    def idle(self) -> float:
        """Seconds to sleep before the next poll (the minimum while hot)."""
        if time.monotonic() < self._hot_until:
            return self.minimum
        delay = self.current
        self.current = min(self.current * 2, self.maximum)
        return delay


@dataclass
class PagePacer:
    """While a coalescing writer's pages flow, a reader polls about once a page, not every `minimum`.

    `OutWriter` commits a page, then holds the next for its window (doubling up to
    `out_coalesce_window_seconds`), so once a reader has seen two pages it knows roughly when the
    third lands: it sleeps the interval it saw between the last two, then, if that poll finds
    nothing, polls again after `minimum`, doubling up to half the interval. A flow is
    over once nothing came for `longest` seconds; the caller's idle schedule takes over then.
    While pages keep their cadence the added latency is about `minimum`; when they speed up again
    (the turn-complete, which the writer flushes at once, or a new burst after the producer paused)
    a record can wait up to one interval, at most `sleep_max`. `clock` is injectable.
    """

    minimum: float
    longest: float
    clock: Callable[[], float] = time.monotonic
    sleep_max: float = float("inf")
    """The longest sleep after a find: about the writer's longest window (plus its write), the
    most a page can lag the previous one while records keep coming."""
    _last: float | None = field(default=None, init=False, repr=False)
    _interval: float | None = field(default=None, init=False, repr=False)
    _misses: int = field(default=0, init=False, repr=False)

    def found(self) -> float:
        """A poll found records: seconds to sleep before the next poll."""
        now = self.clock()
        last, self._last, self._misses = self._last, now, 0
        self._interval = now - last if last is not None and now - last <= self.longest else None
        if self._interval is None:
            return self.minimum
        return max(self.minimum, min(self._interval, self.sleep_max))

    def missed(self) -> float | None:
        """A poll found nothing: seconds to the next poll while a flow is on, else None."""
        if self._interval is None or self._last is None or self.clock() - self._last > self.longest:
            self._interval = None
            return None
        delay = min(self.minimum * 2**self._misses, max(self.minimum, self._interval / 2))
        self._misses += 1
        return delay
