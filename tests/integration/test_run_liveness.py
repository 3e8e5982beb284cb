"""Liveness is a lease (issue 8, items 1, 5 and 8 in-process): a run that is not provably alive is
replaced, a claimed run that never launches cannot wedge its session, a claim whose reply was
lost is our own win, and a run that died mid-turn has its turn closed and its input answered once.

Time is moved by shifting `store.epoch`, never by sleeping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agent_sessions import recovery, runs, sessions, store, streams, worker
from agent_sessions.launchers import Launcher
from tests.integration.conftest import Api, create_body
from tests.support import ENV, count_dynamodb_calls, reply_lost

IN = "/realtime/v1/sessions/chat-1/in/append"


def session(key: str = "chat-1") -> store.SessionModel:
    return sessions.resolve(ENV.id, key)


def message(text: str, chat_id: str = "chat-1") -> str:
    return json.dumps(
        {
            "kind": "message",
            "payload": {
                "chatId": chat_id,
                "trigger": "submit-message",
                "message": {
                    "id": f"u-{time.time_ns()}",
                    "role": "user",
                    "parts": [{"type": "text", "text": text}],
                },
            },
        }
    )


@dataclass
class LambdaClock:
    remaining_ms: int = 15 * 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def executions(aws: Any) -> int:
    return len(aws.client.list_executions(stateMachineArn=aws.state_machine_arn)["executions"])


def run_items() -> dict[str, store.Run]:
    """The current run and the chain of runs it continues (previous_run_id)."""
    found: dict[str, store.Run] = {}
    run_id = session().current_run_id
    while run_id:
        run = store.get_run(run_id)
        assert run is not None
        found[run_id] = run
        run_id = run.previous_run_id
    return found


def out_records(session_id: str) -> list[store.StoredRecord]:
    return streams.read_after(session_id, "out", -1, limit=1000)


def turn_completes(session_id: str) -> list[str | None]:
    return [
        streams.header(r, "session-in-event-id")
        for r in out_records(session_id)
        if streams.control_kind(r) == "turn-complete"
    ]


def chunk_types(session_id: str) -> list[str]:
    return [json.loads(r.body)["data"]["type"] for r in out_records(session_id) if r.body]


# -- a claimed run that never launches -------------------------------------------------------


def test_a_failed_audit_write_after_the_claim_does_not_wedge_the_session(
    api: Api, created: dict[str, Any], aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's reproduction: the SessionRun write fails once during a continuation launch."""
    store.complete_run(created["runId"])
    real = store.put_session_run
    failures = [RuntimeError("audit write failed")]

    def flaky(*args: Any, **kwargs: Any) -> None:
        if failures:
            raise failures.pop()
        real(*args, **kwargs)

    monkeypatch.setattr(store, "put_session_run", flaky)
    pat = created["publicAccessToken"]
    for i in range(4):
        assert api("POST", IN, body=message(f"m{i}"), token=pat).status == 200
    current = store.get_run(session().current_run_id or "")
    assert current is not None and runs.is_alive(current) and current.status is store.RunStatus.QUEUED
    assert executions(aws) == 2, "initial + the continuation the second append started"
    failed = [r for r in run_items().values() if r.error == "launch failed"]
    assert len(failed) == 1 and failed[0].status is store.RunStatus.FAILED


def test_a_claim_that_never_launched_is_replaced_once_its_launch_grace_runs_out(
    api: Api, created: dict[str, Any], aws: Any, clock: Callable[[float], None]
) -> None:
    """A process death between the claim and the launch: the QUEUED lease is the launch grace."""
    store.complete_run(created["runId"])
    stuck = runs._new_run(session(), "continuation", previous_run_id=created["runId"])
    s = session()
    store.swap_current_run(
        s.pk, s.current_run_id, int(s.current_run_version), stuck
    )  # …then the process died
    pat = created["publicAccessToken"]
    api("POST", IN, body=message("within the grace"), token=pat)
    assert session().current_run_id == stuck, "a QUEUED run within its launch grace is alive"
    clock(61 + 5)
    api("POST", IN, body=message("after the grace"), token=pat)
    assert session().current_run_id != stuck
    dead = store.get_run(stuck)
    assert dead is not None and dead.status is store.RunStatus.FAILED and dead.error == runs.LEASE_EXPIRED
    assert executions(aws) == 2


def test_a_run_that_renewed_its_lease_wins_against_a_takeover(created: dict[str, Any]) -> None:
    seen = store.get_run(created["runId"])
    assert seen is not None
    store.start_attempt(seen, 0, store.epoch() + 30)  # the worker boots and renews after we looked
    assert store.take_over(seen, runs.LEASE_EXPIRED) is False
    assert store.get_run(created["runId"]).status is store.RunStatus.EXECUTING  # type: ignore[union-attr]


def test_an_executing_run_whose_lease_ran_out_is_replaced_by_the_next_append(
    api: Api, created: dict[str, Any], aws: Any, clock: Callable[[float], None]
) -> None:
    run = store.get_run(created["runId"])
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    pat = created["publicAccessToken"]
    api("POST", IN, body=message("alive"), token=pat)
    assert session().current_run_id == created["runId"]
    clock(30 + 5 + 1)
    api("POST", IN, body=message("dead"), token=pat)
    assert session().current_run_id != created["runId"]
    assert store.get_run(created["runId"]).status is store.RunStatus.FAILED  # type: ignore[union-attr]


def test_an_append_to_a_live_run_still_costs_three_requests_with_leases(
    api: Api, created: dict[str, Any]
) -> None:
    pat = created["publicAccessToken"]
    api("POST", IN, body="warm", token=pat)
    with count_dynamodb_calls() as calls:
        api("POST", IN, body="measured", token=pat)
    assert calls.total == 3, calls.by_operation()


# -- a conditional write whose reply was lost ---------------------------------------------------


def test_a_session_claim_whose_reply_was_lost_is_recognised_as_won(created: dict[str, Any], aws: Any) -> None:
    store.complete_run(created["runId"])
    with reply_lost("UpdateItem", "current_run_version") as fault:
        result = runs.ensure_live_run(session(), "continuation")
    assert fault.fired == 1, "the claim landed and its retry met its own write"
    assert result.triggered and session().current_run_id == result.run_id
    claimed = store.get_run(result.run_id)
    assert claimed is not None and claimed.status is store.RunStatus.QUEUED, "not cancelled as a loser"
    assert len(run_items()) == 2, "no second continuation was created"
    assert executions(aws) == 2


@pytest.mark.parametrize("transition", ["complete", "fail", "cancel"])
def test_a_final_transition_whose_reply_was_lost_is_not_an_error(
    created: dict[str, Any], transition: str
) -> None:
    op = {
        "complete": store.complete_run,
        "cancel": lambda r: store.cancel_run(r, "x"),
        "fail": lambda r: store.fail_run(r, "x"),
    }
    status = {"complete": "COMPLETED", "fail": "FAILED", "cancel": "CANCELED"}[transition]
    with reply_lost("UpdateItem", status) as fault:
        op[transition](created["runId"])
    assert fault.fired == 1
    assert store.get_run(created["runId"]).status.is_final  # type: ignore[union-attr]


def test_a_takeover_whose_reply_was_lost_counts_as_taken(
    created: dict[str, Any], clock: Callable[[float], None]
) -> None:
    seen = store.get_run(created["runId"])
    assert seen is not None
    clock(120)
    with reply_lost("UpdateItem", "lease_expires_at") as fault:
        assert store.take_over(seen, runs.LEASE_EXPIRED) is True
    assert fault.fired == 1


def test_a_boot_whose_reply_was_lost_is_idempotent(created: dict[str, Any]) -> None:
    run = store.get_run(created["runId"])
    assert run is not None
    with reply_lost("TransactWriteItems", "current_run_id") as fault:
        booted = store.start_attempt(run, 0, store.epoch() + 30)
    assert fault.fired == 1 and booted.status is store.RunStatus.EXECUTING


# -- a run that died mid-turn -----------------------------------------------------------------


def _die_mid_turn(run_id: str, session_id: str, answering: int, deltas: int = 5) -> None:
    """What a run leaves behind when its process dies after `deltas` text-deltas of a turn."""
    run = store.get_run(run_id)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    out = streams.OutWriter(session_id, window_seconds=0, owner=run_id)
    out.stamp_turn(answering)
    out.write_chunk({"type": "start", "messageId": "m1"})
    out.write_chunk({"type": "text-start", "id": "t"})
    for i in range(deltas):
        out.write_chunk({"type": "text-delta", "id": "t", "delta": f"w{i} "})
    out.close()


class Recorder:
    """A launcher that records starts; the test runs each started run's worker itself."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
        self.started.append(run_id)
        return None

    def resume(self, task_token: str) -> None:
        raise LookupError("Task token is not valid or has timed out")


def quick_body() -> dict[str, Any]:
    body = create_body()
    body["triggerConfig"]["idleTimeoutInSeconds"] = 1
    return body


def _answer(run_id: str) -> dict[str, str]:
    """One invocation of the run: answer what is pending, idle a second, suspend."""
    return worker.handle({"runId": run_id, "attempt": 0}, LambdaClock())


def test_the_sweep_closes_a_dead_runs_open_turn_and_the_next_message_is_answered_once(
    api: Api, aws: Any, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(runs, "get_launcher", lambda: recorder)
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    sid, pat = created["id"], created["publicAccessToken"]
    seq = api("POST", IN, body=message("first"), token=pat).body["seq"]
    _die_mid_turn(created["runId"], sid, seq)
    assert recovery.sweep(recorder).found == 0, "nothing is expired yet"
    clock(30 + 5 + 1)
    report = recovery.sweep(recorder)
    assert (report.taken_over, report.turns_closed, report.continued) == (1, 1, 0)
    assert chunk_types(sid)[-2:] == ["text-delta", "error"]
    assert turn_completes(sid) == [str(seq)], "closed as the answer to the message it was answering"
    assert recovery.sweep(recorder).found == 0, "a recovered run leaves the live index"

    nxt = api("POST", IN, body=message("second"), token=pat).body["seq"]
    assert recorder.started == [created["runId"], recorder.started[-1]], "one continuation"
    assert _answer(recorder.started[-1]) == {"status": "waiting"}
    assert turn_completes(sid) == [str(seq), str(nxt)], "the next message answered once, the first not again"
    assert chunk_types(sid).count("start") == 2


def test_a_continuation_closes_the_open_turn_itself_when_a_message_comes_first(
    api: Api, aws: Any, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(runs, "get_launcher", lambda: recorder)
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    sid, pat = created["id"], created["publicAccessToken"]
    seq = api("POST", IN, body=message("first"), token=pat).body["seq"]
    _die_mid_turn(created["runId"], sid, seq)
    clock(30 + 5 + 1)
    nxt = api("POST", IN, body=message("second"), token=pat).body["seq"]
    assert len(recorder.started) == 2, "the append took the dead run over and continued"
    _answer(recorder.started[-1])
    assert turn_completes(sid) == [str(seq), str(nxt)]
    records = out_records(sid)
    closing = next(r for r in records if r.body and json.loads(r.body)["data"]["type"] == "error")
    assert "stopped mid-turn" in json.loads(closing.body)["data"]["errorText"]
    assert recovery.sweep(recorder).continued == 0


def test_the_sweep_continues_a_session_whose_input_no_turn_answered(
    api: Api, aws: Any, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that died before any output: its input is answered by a continuation, without a message."""
    recorder = Recorder()
    monkeypatch.setattr(runs, "get_launcher", lambda: recorder)
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    run = store.get_run(created["runId"])
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    seq = api("POST", IN, body=message("unanswered"), token=created["publicAccessToken"]).body["seq"]
    clock(30 + 5 + 1)
    report = recovery.sweep(recorder)
    assert (report.taken_over, report.turns_closed, report.continued) == (1, 0, 1)
    _answer(recorder.started[-1])
    assert turn_completes(created["id"]) == [str(seq)]


def test_a_superseded_runs_late_page_is_refused(api: Api, created: dict[str, Any]) -> None:
    run = store.get_run(created["runId"])
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    old = streams.OutWriter(created["id"], window_seconds=0, owner=created["runId"])
    old.write_chunk({"type": "start"})
    old.flush()
    new_id, _ = runs.end_and_continue(session(), created["runId"], "manual", launcher=Recorder())
    new = store.get_run(new_id)
    assert new is not None
    store.start_attempt(new, 0, store.epoch() + 30)
    old.write_chunk({"type": "text-delta", "id": "t", "delta": "late"})
    with pytest.raises(store.RunSuperseded):
        old.flush()
    assert chunk_types(created["id"]) == ["start"]


def test_a_heartbeat_renews_the_lease_and_learns_when_the_run_was_replaced(created: dict[str, Any]) -> None:
    from agent_sessions.heartbeat import Heartbeat

    run = store.get_run(created["runId"])
    assert run is not None
    booted = store.start_attempt(run, 0, store.epoch() + 1)
    beat = Heartbeat(created["runId"], ttl_seconds=30)
    beat.renew()
    assert store.get_run(created["runId"]).lease_expires_at > booted.lease_expires_at + 20  # type: ignore[union-attr]
    store.cancel_run(created["runId"], "superseded")
    with pytest.raises(store.RunSuperseded):
        beat.renew()
    assert beat.superseded.is_set()


def test_recorder_is_a_launcher() -> None:
    _: Launcher = Recorder()


# -- the timeout race: an append takes the token just as WaitForInput times out ----------------


class TimedOutResume(Recorder):
    """`resume` finds the token timed out; `meanwhile` runs first (the old execution's next step)."""

    def __init__(self, meanwhile: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def resume(self, task_token: str) -> None:
        if self.meanwhile is not None:
            self.meanwhile()
        raise LookupError("Task token is not valid or has timed out")


def _suspended_session(api: Api, launcher: Recorder) -> tuple[dict[str, Any], str]:
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    assert _answer(created["runId"]) == {"status": "waiting"}
    assert store.park(created["runId"], "token-1")
    return created, created["runId"]


@pytest.mark.parametrize("winner", ["expiry", "old_execution"])
def test_the_timeout_race_answers_exactly_once(
    api: Api, aws: Any, monkeypatch: pytest.MonkeyPatch, winner: str
) -> None:
    """The state machine's MarkExpired finds the token gone (the append took it) and goes back to
    InvokeAgent while the append, whose resume failed, expires the run and continues. Either the
    append's expiry lands first (the old execution then finds the run final) or the old execution
    boots first (the expiry then finds it EXECUTING): one answer either way."""
    launcher = TimedOutResume()
    monkeypatch.setattr(runs, "get_launcher", lambda: launcher)
    created, old = _suspended_session(api, launcher)
    if winner == "old_execution":
        launcher.meanwhile = lambda: _answer(old) and None
    seq = api("POST", IN, body=message("race"), token=created["publicAccessToken"]).body["seq"]
    if winner == "expiry":
        assert store.get_run(old).status is store.RunStatus.EXPIRED  # type: ignore[union-attr]
        assert _answer(old) == {"status": "done"}, "the old execution going back to InvokeAgent stops"
        assert len(launcher.started) == 2
        _answer(launcher.started[-1])
    else:
        assert len(launcher.started) == 1, "the old execution answered; no continuation"
        assert session().current_run_id == old
    assert turn_completes(created["id"]) == [str(seq)]
    assert chunk_types(created["id"]).count("start") == 1


# -- an unknown task ----------------------------------------------------------------------------


def test_a_run_for_an_unknown_task_fails_fast_with_an_error_turn_and_no_loop(
    api: Api, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the API cannot know the registry (AWS without a configured list), the run says so."""
    launcher = Recorder()
    monkeypatch.setattr(runs, "get_launcher", lambda: launcher)
    body = create_body(task="nosuchagent")
    created = api("POST", "/api/v1/sessions", body=body, token=ENV.secret_key).body
    pat = created["publicAccessToken"]
    first = api("POST", IN, body=message("hello?"), token=pat).body["seq"]
    assert _answer(created["runId"]) == {"status": "done"}
    failed = store.get_run(created["runId"])
    assert failed is not None and failed.status is store.RunStatus.FAILED
    assert turn_completes(created["id"]) == [str(first)]
    error = json.loads(out_records(created["id"])[0].body)["data"]
    assert error == {"type": "error", "errorText": 'No agent is registered for task "nosuchagent".'}
    assert recovery.sweep(launcher).continued == 0, "nothing left unanswered: no relaunch loop"
    assert len(launcher.started) == 1
    second = api("POST", IN, body=message("anyone?"), token=pat).body["seq"]
    assert len(launcher.started) == 2, "one continuation per new message"
    _answer(launcher.started[-1])
    assert turn_completes(created["id"]) == [str(first), str(second)]


def test_a_configured_task_list_refuses_an_unknown_task_at_create(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_sessions.config import reset_settings

    monkeypatch.setenv("AGENT_SESSIONS_TASK_IDENTIFIERS", '["demo-chat"]')
    reset_settings()
    refused = api("POST", "/api/v1/sessions", body=create_body(task="nosuchagent"), token=ENV.secret_key)
    assert refused.status == 422 and refused.body["code"] == "unknown_task"
    assert api("POST", "/api/v1/sessions", body=create_body(), token=ENV.secret_key).status == 201
    monkeypatch.delenv("AGENT_SESSIONS_TASK_IDENTIFIERS")
    reset_settings()


class Resumes(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.resumed: list[str] = []

    def resume(self, task_token: str) -> None:
        self.resumed.append(task_token)


def test_an_input_signal_whose_reply_was_lost_still_resumes_the_parked_run(
    api: Api, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal takes the parked token; its retry meets a run with no token, yet must resume."""
    launcher = Resumes()
    monkeypatch.setattr(runs, "get_launcher", lambda: launcher)
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    run = store.get_run(created["runId"])
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    assert store.park(created["runId"], "token-parked")
    with reply_lost("UpdateItem", "pending_input") as fault:
        assert api("POST", IN, body=message("wake up"), token=created["publicAccessToken"]).status == 200
    assert fault.fired == 1
    assert launcher.resumed == ["token-parked"]
    assert len(launcher.started) == 1, "resumed, not replaced"


def test_a_park_whose_reply_was_lost_is_recognised(created: dict[str, Any]) -> None:
    run = store.get_run(created["runId"])
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    with reply_lost("UpdateItem", "WAITING") as fault:
        assert store.park(created["runId"], "token-1") is True
    assert fault.fired == 1


def test_a_runs_table_from_before_the_live_index_gets_it_at_start(aws: Any) -> None:
    """A local state dir kept from an older version: the live indexes are added, not assumed."""
    client = store.connection().client
    table = store.RunModel.Meta.table_name
    client.delete_table(TableName=table)
    client.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    store.create_tables()
    indexes = client.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == ["live_by_env", "live_by_lease"]
    assert recovery.sweep(Recorder()).found == 0


def test_a_run_create_whose_reply_was_lost_is_recognised(created: dict[str, Any]) -> None:
    s = session()
    with reply_lost("PutItem", "run_lostreply") as fault:
        run = store.create_run(
            run_id="run_lostreply",
            session_id=s.session_id,
            session_pk=s.pk,
            payload={},
            reason="continuation",
            previous_run_id=None,
            lease_until=store.epoch() + 60,
        )
    assert fault.fired == 1 and run.status is store.RunStatus.QUEUED
