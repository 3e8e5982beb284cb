"""Bounded `.out`: after each turn-complete, whole turns no client can still need are trimmed.

What is kept (the invariant): every record of the newest complete turn and of any turn still in
progress, and every record written less than `out_retention_seconds` ago. What goes: the turns
before a turn-complete that is *not* the newest one and was written at least the retention ago,
that turn-complete included, so what remains starts at a turn's first record. With retention 0 a
session keeps about one turn, as the reference does after each `turn-complete`; the default keeps
an hour, so any reader whose cursor is younger than that resumes without losing a record.

Safety: the trim is fenced (only the run that owns `.out` may move `trim_seq`; a superseded run's
trim raises and deletes nothing) and idempotent (`trim_seq` only moves forward, deleting a deleted
page is a no-op, and pages a crashed trim left behind are found and deleted by the next one).
Readers see seqs gap-free: a reader whose cursor is below `trim_seq` is told so in-band by an S2
`trim` command record and continues at the first retained record (`streams.read_after`).

Physical removal is by explicit deletes, not DynamoDB TTL; docs/architecture.md says why.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from agent_sessions import store
from agent_sessions.config import get_settings
from agent_sessions.observability import logger, metrics

TURN_COMPLETE = "turn-complete"
SCAN_PAGES = 200
"""Pages one trim reads at most (oldest first); a longer backlog is trimmed over the next turns."""


@dataclass(frozen=True)
class TrimPlan:
    trim_seq: int | None
    """The first seq that stays; every record below it goes (None: nothing can go yet)."""
    pages: list[store.OutPage]
    """The stored pages wholly below `trim_seq`, oldest first."""
    first_kept_ms: int | None
    """Timestamp of the oldest record that stays (None: unknown, the scan stopped at its limit)."""


def _is_turn_complete(record: store.StoredRecord) -> bool:
    return any(name == "trigger-control" and value == TURN_COMPLETE for name, value in record.headers)


def plan_trim(pages: Iterable[store.OutPage], newest_turn_complete: int, cutoff_ms: int) -> TrimPlan:
    """Which pages to delete, given `.out`'s pages oldest first (read lazily: it stops early).

    `newest_turn_complete` is the seq of the turn-complete just written (it and what follows are
    never considered); `cutoff_ms` the epoch milliseconds after which a record is too young. The
    trim point is just after the newest turn-complete that is older than the cutoff, ends its page
    and precedes `newest_turn_complete`, so what stays starts at a turn's first record.
    """
    seen: list[store.OutPage] = []
    doomed: list[store.OutPage] = []
    for page in pages:
        if page.last_seq >= newest_turn_complete or page.records[-1].timestamp > cutoff_ms:
            return TrimPlan(doomed[-1].last_seq + 1 if doomed else None, doomed, page.records[0].timestamp)
        seen.append(page)
        if _is_turn_complete(page.records[-1]):
            doomed = list(seen)
    return TrimPlan(doomed[-1].last_seq + 1 if doomed else None, doomed, None)


@dataclass
class OutTrimmer:
    """Trims one session's `.out` on behalf of the run that owns it (one per run invocation).

    `after_turn_complete` is called once the run's turn-complete is committed. It reads `.out`
    oldest first only when something can be old enough: it remembers the oldest record it saw, so
    within the retention window a turn costs no read at all.
    """

    session_id: str
    run_id: str
    _not_before_ms: int = 0
    """Epoch ms before which no stored record can be old enough to trim (0: unknown)."""

    def after_turn_complete(self, turn_complete_seq: int, now_ms: int | None = None) -> int:
        """Trim what the retention allows; returns how many pages went. Never raises: a failed
        trim is logged and left to the next turn (a superseded run trims nothing)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if now < self._not_before_ms:
            return 0
        try:
            return self._trim(turn_complete_seq, now)
        except store.RunSuperseded:
            return 0
        except Exception:
            logger.exception("could not trim .out", extra={"session_id": self.session_id})
            return 0

    def _trim(self, turn_complete_seq: int, now_ms: int) -> int:
        retention_ms = get_settings().out_retention_seconds * 1000
        pages = store.out_pages(self.session_id, limit=SCAN_PAGES)
        plan = plan_trim(pages, turn_complete_seq, now_ms - retention_ms)
        self._not_before_ms = plan.first_kept_ms + retention_ms if plan.first_kept_ms is not None else 0
        if plan.trim_seq is None:
            return 0
        if store.advance_out_trim(self.session_id, self.run_id, plan.trim_seq):
            store.delete_out_pages(self.session_id, plan.pages)
        metrics.add_metric(name="OutPagesTrimmed", unit="Count", value=len(plan.pages))
        return len(plan.pages)


def trim_out(session_id: str, run_id: str, turn_complete_seq: int, now_ms: int | None = None) -> int:
    """One trim of `session_id`'s `.out` by `run_id` (see `OutTrimmer.after_turn_complete`)."""
    return OutTrimmer(session_id, run_id).after_turn_complete(turn_complete_seq, now_ms)
