"""The kill switch: list live runs, cancel one mid-turn, end a run idle of input too long.

Time is moved by shifting `store.epoch`, never by sleeping; runs are driven in-process (a recorder
launcher, the worker's own OutWriter and Heartbeat) so each step is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent_sessions import run_control, runs, store, streams
from agent_sessions.config import reset_settings
from agent_sessions.heartbeat import Heartbeat
from tests.integration.conftest import Api, create_body
from tests.integration.test_run_liveness import (
    IN,
    Resumes,
    _answer,
    chunk_types,
    message,
    out_records,
    quick_body,
    turn_completes,
)
from tests.support import ENV, OTHER_ENV


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Resumes:
    launcher = Resumes()
    monkeypatch.setattr(runs, "get_launcher", lambda: launcher)
    monkeypatch.setattr(run_control, "get_launcher", lambda: launcher)
    return launcher


def streaming_turn(run_id: str, session_id: str, answering: int) -> streams.OutWriter:
    """A worker mid-turn: booted, its heartbeat's lease fresh, a few deltas on `.out`, writer open."""
    run = store.get_run(run_id)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    out = streams.OutWriter(session_id, window_seconds=0, owner=run_id)
    out.stamp_turn(answering)
    out.write_chunk({"type": "start", "messageId": "m1"})
    out.write_chunk({"type": "text-start", "id": "t"})
    out.write_chunk({"type": "text-delta", "id": "t", "delta": "half a "})
    out.flush()
    return out


def cancel(api: Api, run_id: str, token: str = ENV.secret_key) -> Any:
    return api("POST", f"/api/v2/runs/{run_id}/cancel", token=token)


def test_cancel_mid_turn_closes_the_turn_stops_the_worker_and_the_next_message_continues(
    api: Api, aws: Any, recorder: Resumes
) -> None:
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    sid, pat, run_id = created["id"], created["publicAccessToken"], created["runId"]
    seq = api("POST", IN, body=message("first"), token=pat).body["seq"]
    out = streaming_turn(run_id, sid, seq)

    response = cancel(api, run_id)

    assert response.status == 200 and response.body == {"id": run_id}
    assert chunk_types(sid)[-1] == "error"
    assert run_control.CANCELED_BY_OPERATOR in out_records(sid)[-2].body
    assert turn_completes(sid) == [str(seq)], "readers see the turn close, as the answer to its input"
    final = store.get_run(run_id)
    assert final is not None and final.status is store.RunStatus.CANCELED
    # The worker stops: its next page is refused, and so is its next heartbeat.
    out.write_chunk({"type": "text-delta", "id": "t", "delta": "late"})
    with pytest.raises(store.RunSuperseded):
        out.flush()
    with pytest.raises(store.RunSuperseded):
        Heartbeat(run_id, 30).renew()
    assert "late" not in str([r.body for r in out_records(sid)])
    assert cancel(api, run_id).status == 200, "idempotent"
    assert turn_completes(sid) == [str(seq)]

    nxt = api("POST", IN, body=message("second"), token=pat).body["seq"]
    assert recorder.started[-1] != run_id, "the next message starts a continuation"
    assert store.get_run(recorder.started[-1]).previous_run_id == run_id  # type: ignore[union-attr]
    assert _answer(recorder.started[-1]) == {"status": "waiting"}
    assert turn_completes(sid) == [str(seq), str(nxt)]
    assert chunk_types(sid).count("start") == 2


def test_cancel_of_an_idle_run_retires_its_output_and_resumes_a_parked_execution(
    api: Api, aws: Any, recorder: Resumes
) -> None:
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    run_id = created["runId"]
    run = store.get_run(run_id)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    store.prepare_park(run_id, store.epoch() + 3600)
    assert store.park(run_id, "token-1")

    assert cancel(api, run_id).status == 200

    assert recorder.resumed == ["token-1"], "the parked execution wakes and finds its run final"
    assert turn_completes(created["id"]) == [], "no turn was open: nothing written to .out"
    assert store.read_head_and_owner(created["id"], "out")[1] == f"retired:{run_id}"
    assert store.get_run(run_id).status is store.RunStatus.CANCELED  # type: ignore[union-attr]


def test_live_runs_are_listed_per_environment_and_only_for_secret_keys(
    api: Api, aws: Any, recorder: Resumes
) -> None:
    mine = api("POST", "/api/v1/sessions", body=create_body("a"), token=ENV.secret_key).body
    theirs = api("POST", "/api/v1/sessions", body=create_body("b"), token=OTHER_ENV.secret_key).body

    listed = api("GET", "/api/v1/runs/live", token=ENV.secret_key)

    assert listed.status == 200
    assert [(r["id"], r["sessionId"], r["status"]) for r in listed.body["data"]] == [
        (mine["runId"], mine["id"], "QUEUED")
    ]
    assert listed.body["data"][0]["lastInputAt"] > 0
    assert api("GET", "/api/v1/runs/live", token=mine["publicAccessToken"]).status == 403
    assert cancel(api, theirs["runId"]).status == 404, "another environment's run is not found"
    assert cancel(api, "run_nope").status == 404
    assert store.get_run(theirs["runId"]).status is store.RunStatus.QUEUED  # type: ignore[union-attr]
    assert cancel(api, mine["runId"]).status == 200
    assert api("GET", "/api/v1/runs/live", token=ENV.secret_key).body["data"] == []


def test_a_run_without_input_past_the_wall_time_is_ended_by_its_heartbeat(
    api: Api, aws: Any, recorder: Resumes, clock: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_RUN_MAX_SECONDS_WITHOUT_INPUT", "600")
    reset_settings()
    created = api("POST", "/api/v1/sessions", body=quick_body(), token=ENV.secret_key).body
    sid, pat, run_id = created["id"], created["publicAccessToken"], created["runId"]
    seq = api("POST", IN, body=message("loop forever"), token=pat).body["seq"]
    streaming_turn(run_id, sid, seq)
    beat = Heartbeat(run_id, 30)

    clock(599)
    beat.renew()  # within the wall time
    api("POST", IN, body={"kind": "stop"}, token=pat)  # input resets the clock
    clock(599)
    beat.renew()
    assert store.get_run(run_id).status is store.RunStatus.EXECUTING  # type: ignore[union-attr]

    clock(2)
    with pytest.raises(store.RunSuperseded):
        beat.renew()

    assert beat.superseded.is_set()
    assert store.get_run(run_id).status is store.RunStatus.CANCELED  # type: ignore[union-attr]
    assert turn_completes(sid) == [str(seq)]
    assert "run_max_seconds_without_input" in out_records(sid)[-2].body
    reset_settings()
