"""The wake path's boot (issue 10): what a woken run reads before its first token, and that the
requests it no longer sends were redundant — the fence and the `.out` numbering hold all the same.

A run boots through `store.start_attempt`, a write conditioned on the session naming the run. For
input that was already waiting then, that write is the fence check (no second session read before
the turn); input found after the run waited is checked anew; and a run replaced after its boot can
still write nothing, because `.out` is fenced on its owner. The writer starts numbering from the
tail the boot read (`turn_tail`), and a stale start costs a re-read, never a gap or a duplicate.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent_sessions import demo_chat, keys, runs, store, streams, worker
from bench import wake_estimate
from tests.integration.conftest import Api, create_body
from tests.support import ENV, DynamoCalls, count_dynamodb_calls


@dataclass
class LambdaClock:
    def get_remaining_time_in_millis(self) -> int:
        return 15 * 60_000


@dataclass
class Probe:
    """What the probe agent saw; `step` runs inside the agent between its polls."""

    step: Callable[[worker.RunContext], None] = lambda ctx: None
    session_reads: list[int] = field(default_factory=list)
    head_reads: int = -1
    error: BaseException | None = None


PROBE = Probe()


def _session_reads(calls: DynamoCalls) -> int:
    table = store.SessionModel.Meta.table_name
    return sum(1 for name, p in calls.calls if name == "GetItem" and p.get("TableName") == table)


def _head_reads(calls: DynamoCalls, session_id: str) -> int:
    head = store.head_pk(session_id, "out")
    return sum(1 for name, p in calls.calls if name == "GetItem" and p["Key"]["pk"]["S"] == head)


@worker.agent("wake-path-probe")
def wake_path_probe(ctx: worker.RunContext) -> worker.Outcome:
    """Answer the input waiting at boot; then, if `.in` is empty, let `step` act and answer again."""
    for _ in range(2):
        found = ctx.poll_input()
        if not found:
            PROBE.step(ctx)
            found = ctx.poll_input()
        if not found:
            return "done"
        with count_dynamodb_calls() as calls:
            try:
                ctx.begin_turn(found[-1].seq)
            finally:
                PROBE.session_reads.append(_session_reads(calls))
        with count_dynamodb_calls() as calls:
            ctx.out.write_chunk({"type": "text-delta", "id": "t", "delta": "hi"})
            ctx.complete_turn(found[-1].seq)
        if PROBE.head_reads < 0:
            PROBE.head_reads = _head_reads(calls, ctx.session_id)
    return "done"


@pytest.fixture
def probe(api: Api, aws: Any) -> dict[str, Any]:
    global PROBE
    PROBE = Probe()
    keys.set_key_store(keys.StaticKeyStore([ENV]))
    created = api(
        "POST", "/api/v1/sessions", body=create_body("wake", task="wake-path-probe"), token=ENV.secret_key
    )
    return {**created.body, "_api": api}


def _message(text: str) -> str:
    user = {"id": text, "role": "user", "parts": [{"type": "text", "text": text}]}
    return json.dumps(
        {"kind": "message", "payload": {"chatId": "wake", "trigger": "submit-message", "message": user}}
    )


def _append(api: Api, created: dict[str, Any], text: str) -> int:
    response = api(
        "POST",
        "/realtime/v1/sessions/wake/in/append",
        body=_message(text),
        token=created["publicAccessToken"],
    )
    return int(response.body["seq"])


def _answered(session_id: str) -> list[str | None]:
    return [
        streams.header(r, "session-in-event-id")
        for r in streams.read_after(session_id, "out", -1, limit=1000)
        if streams.control_kind(r) == "turn-complete"
    ]


def test_input_waiting_at_boot_is_answered_on_the_boots_fence_and_the_writer_reads_no_head(
    probe: dict[str, Any],
) -> None:
    """Before: two session reads before the first token (boot, then `check_current`) and a head
    read before the first page, though the boot had just written the fence and read `.out` back."""
    seq = _append(api_of(probe), probe, "one")
    assert worker.handle({"runId": probe["runId"], "attempt": 0}, LambdaClock()) == {"status": "done"}
    assert PROBE.session_reads == [0]
    assert PROBE.head_reads == 0
    assert _answered(probe["id"]) == [str(seq)]


def test_input_found_after_an_empty_poll_is_checked_against_the_session(probe: dict[str, Any]) -> None:
    """The boot's fence covers only what was waiting then: a run that found `.in` empty and
    waited confirms it is still current before it answers what came later."""
    api = api_of(probe)
    first = _append(api, probe, "one")
    later: list[int] = []
    PROBE.step = lambda ctx: later.append(_append(api, probe, "two"))
    worker.handle({"runId": probe["runId"], "attempt": 0}, LambdaClock())
    assert PROBE.session_reads == [0, 1]
    assert _answered(probe["id"]) == [str(first), str(later[0])]


def test_a_run_replaced_while_it_waited_does_not_answer(probe: dict[str, Any]) -> None:
    api = api_of(probe)
    first = _append(api, probe, "one")

    def replace_then_append(ctx: worker.RunContext) -> None:
        store.swap_current_run(ctx.session_pk, ctx.run_id, _version(ctx), "run_other")
        _append(api, probe, "two")

    PROBE.step = replace_then_append
    assert worker.handle({"runId": probe["runId"], "attempt": 0}, LambdaClock()) == {"status": "done"}
    assert PROBE.session_reads == [0, 1], "the second turn was refused by the session read"
    assert _answered(probe["id"]) == [str(first)]
    run = store.get_run(probe["runId"])
    assert run is not None and run.status == store.RunStatus.CANCELED


def test_a_run_replaced_after_its_boot_writes_nothing(probe: dict[str, Any]) -> None:
    """No session read guards the first turn after boot, so the `.out` owner must: the replacing
    run's boot takes `.out`, and the old run's first page is refused (it exits CANCELED)."""
    _append(api_of(probe), probe, "one")
    original = worker.RunContext.begin_turn

    def replaced_just_before(ctx: worker.RunContext, answering_seq: int | None) -> None:
        store.create_run(
            run_id="run_other",
            session_id=ctx.session_id,
            session_pk=ctx.session_pk,
            payload={},
            reason="continuation",
            previous_run_id=ctx.run_id,
            lease_until=store.epoch() + 60,
            env_id=ENV.id,
        )
        store.swap_current_run(ctx.session_pk, ctx.run_id, _version(ctx), "run_other")
        other = store.get_run("run_other")
        assert other is not None
        store.start_attempt(other, 0, store.epoch() + 60)  # its boot takes `.out`
        original(ctx, answering_seq)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker.RunContext, "begin_turn", replaced_just_before)
        assert worker.handle({"runId": probe["runId"], "attempt": 0}, LambdaClock()) == {"status": "done"}
    assert streams.read_after(probe["id"], "out", -1) == []
    run = store.get_run(probe["runId"])
    assert run is not None and run.status == store.RunStatus.CANCELED


def test_a_writer_started_from_a_stale_tail_rereads_the_head_and_leaves_no_gap(
    created: dict[str, Any],
) -> None:
    sid = created["id"]
    streams.append_records(sid, "out", [(streams.envelope({"n": i}), []) for i in range(3)])
    tail = streams.turn_tail(sid)
    assert tail.next_seq == store.read_head(sid, "out") == 3
    writer = streams.OutWriter(sid)
    writer.assume_head(1)  # as if two pages landed after the boot read `.out`
    writer.write_chunk({"n": 3})
    assert writer.flush(timeout=5) == 3
    writer.close()
    assert [r.seq for r in streams.read_after(sid, "out", -1)] == [0, 1, 2, 3]


def test_a_log_never_written_starts_the_writer_at_zero(created: dict[str, Any]) -> None:
    assert streams.turn_tail(created["id"]).next_seq == store.read_head(created["id"], "out") == 0


def _version(ctx: worker.RunContext) -> int:
    session = store.get_session_item(ctx.session_pk)
    assert session is not None
    return int(session.current_run_version or 0)


def api_of(created: dict[str, Any]) -> Api:
    return created["_api"]  # type: ignore[no-any-return]


class _Requests:
    """Every DynamoDB request by (thread name, operation), in order; `mark()` notes where the first
    `.out` page holding a `text-delta` is about to be sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.first_words: int | None = None

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append((threading.current_thread().name, model.name))

    def until_first_words(self) -> Counter[str]:
        """Operations up to and including the first words' page, the run's in-turn watcher and
        heartbeat left out (they run beside the path, not on it)."""
        assert self.first_words is not None, "no page with a text-delta was written"
        on_path = self.calls[: self.first_words + 1]
        return Counter(
            op for thread, op in on_path if not thread.startswith(("turn-input-watcher", "heartbeat-"))
        )


def _kinds(ops: Counter[str]) -> dict[str, int]:
    kinds = {
        "read": ops["GetItem"] + ops["Query"],
        "transaction": ops["TransactWriteItems"],
        "write": ops["UpdateItem"],
    }
    assert sum(kinds.values()) == sum(ops.values()), ops
    return {kind: n for kind, n in kinds.items() if n}


def test_the_wake_path_sends_the_requests_the_aws_estimate_counts(
    api: Api, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/wake_estimate.py prices the wake's serial DynamoDB requests from these counts: a
    request added to the append or to the worker's boot fails here until the estimate follows."""
    resumed: list[str] = []

    class Launcher:
        def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
            return None

        def resume(self, task_token: str) -> None:
            resumed.append(task_token)

    monkeypatch.setattr(runs, "get_launcher", lambda: Launcher())
    monkeypatch.setattr(demo_chat.model, "delay", 0.0)
    keys.set_key_store(keys.StaticKeyStore([ENV]))
    body = create_body("wake")
    body["triggerConfig"]["idleTimeoutInSeconds"] = 1
    created = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key).body
    created["_api"] = api
    event = {"runId": created["runId"], "attempt": 0}
    _append(api, created, "one")
    assert worker.handle(event, LambdaClock()) == {"status": "waiting"}  # answers, idles 1 s
    assert store.park(created["runId"], "token-1")  # what WaitForInput does

    requests = _Requests()
    original = store.append_page

    def append_page(
        session_id: str, io: str, expected_seq: int, records: Any, *args: Any, **kwargs: Any
    ) -> None:
        if io == "out" and requests.first_words is None and any('"text-delta"' in r.body for r in records):
            requests.first_words = len(requests.calls)
        original(session_id, io, expected_seq, records, *args, **kwargs)

    monkeypatch.setattr(store, "append_page", append_page)
    with count_dynamodb_calls() as calls:
        _append(api, created, "two")
    assert resumed == ["token-1"]
    assert _kinds(calls.by_operation()) == wake_estimate.APPEND_REQUESTS

    clients = [m._get_connection().connection.client for m in store.MODELS] + [store.connection().client]
    for client in clients:
        client.meta.events.register("provide-client-params.dynamodb", requests.record, unique_id="wake-path")
    try:
        assert worker.handle(event, LambdaClock()) == {"status": "waiting"}
    finally:
        for client in clients:
            client.meta.events.unregister("provide-client-params.dynamodb", unique_id="wake-path")
    worker_ops = requests.until_first_words()
    worker_ops["TransactWriteItems"] -= 1  # the first page itself
    assert _kinds(worker_ops) == wake_estimate.WORKER_REQUESTS
    assert wake_estimate.FIRST_PAGE_REQUESTS == {"transaction": 1}
