"""The embedded DynamoDB endpoint of the local stack: linearizable over HTTP.

moto alone is not: its `TransactWriteItems` deep-copies the tables it touches and, when the
transaction is cancelled, assigns the copies back, erasing whatever other threads committed in
between (and the copy itself can fail with "dictionary changed size during iteration").
"""

from __future__ import annotations

import threading
from typing import Any

from agent_sessions import streams
from agent_sessions.local.stack import LocalStack

WRITES = 60
DUPLICATE_SENDERS = 4
FILLER = 100  # items already in the table: moto's copy of it takes longer, so races are likelier


def test_cancelled_transactions_never_erase_other_sessions_commits(stack: LocalStack) -> None:
    """One session's `.out` is written while other threads resend a duplicate part to another
    session (each resend is a cancelled transaction on the same table): no committed record is
    lost or overwritten, and no request fails."""
    writer, other = "race-out", "race-dup"
    for i in range(FILLER):
        streams.append_records("race-filler", "out", [(streams.envelope(i), [])])
    first = streams.append_out_http(other, '{"n":"dup"}', "dup-part")
    committed: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(WRITES):
                body = streams.envelope({"n": i}, f"rec-{i}")
                committed.append((streams.append_records(writer, "out", [(body, [])]).seq, body))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    def resend_duplicate() -> None:
        try:
            while not done.is_set():
                again = streams.append_out_http(other, '{"n":"dup"}', "dup-part")
                assert again == streams.AppendResult(first.seq, duplicate=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=resend_duplicate) for _ in range(DUPLICATE_SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    stored = _all_records(writer)
    assert [(r.seq, r.body) for r in stored] == committed, "a committed record was lost or replaced"
    assert [r.seq for r in stored] == list(range(WRITES))


def _all_records(session_id: str) -> list[Any]:
    out: list[Any] = []
    cursor = -1
    while page := streams.read_after(session_id, "out", cursor):
        out += page
        cursor = page[-1].seq
    return out
