"""The per-environment cap on live runs: checked only by a request that would start a run (create,
an append to a session whose run ended), refused with 429 `live_runs_limit` before anything is
stored; the live listing and the cap count the same runs. Time is moved by shifting `store.epoch`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent_sessions import recovery, run_control, runs, store
from agent_sessions.config import reset_settings
from tests.integration.conftest import Api, create_body
from tests.integration.test_run_liveness import Recorder, message
from tests.support import ENV, OTHER_ENV, count_dynamodb_calls, table_state

CAP = 2


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    launcher = Recorder()
    monkeypatch.setattr(runs, "get_launcher", lambda: launcher)
    monkeypatch.setattr(run_control, "get_launcher", lambda: launcher)
    return launcher


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A cap of 2 in ENV; OTHER_ENV's override turns it off (0)."""
    monkeypatch.setenv("AGENT_SESSIONS_LIVE_RUNS_LIMIT", str(CAP))
    monkeypatch.setenv("AGENT_SESSIONS_ENV_LIMITS", '{"env_other": {"live_runs": 0}}')
    reset_settings()
    yield
    reset_settings()


def create(api: Api, chat: str, env: Any = ENV) -> Any:
    return api("POST", "/api/v1/sessions", body=create_body(chat), token=env.secret_key)


def append(api: Api, chat: str, pat: str, part_id: str) -> Any:
    path = f"/realtime/v1/sessions/{chat}/in/append"
    return api("POST", path, body=message(part_id, chat), token=pat, headers={"x-part-id": part_id})


def cancel(api: Api, run_id: str) -> None:
    assert api("POST", f"/api/v2/runs/{run_id}/cancel", token=ENV.secret_key).status == 200


def live_listing(api: Api) -> list[str]:
    return [r["id"] for r in api("GET", "/api/v1/runs/live", token=ENV.secret_key).body["data"]]


def in_part_ids(api: Api, chat: str) -> list[str]:
    body = api("GET", f"/realtime/v1/sessions/{chat}/in/records", token=ENV.secret_key).body
    return [r["id"] for r in body["records"]]


def assert_refused(response: Any) -> None:
    assert response.status == 429, response.body
    assert response.body["code"] == "live_runs_limit" and response.body["error"]
    assert response.body["limit"] == "live_runs" and response.body["liveRuns"] == CAP
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-ratelimit-limit"] == str(CAP)
    assert response.headers["x-ratelimit-remaining"] == "0"


def test_a_create_at_the_cap_is_refused_and_stores_nothing_until_a_run_ends(
    api: Api, cap: None, recorder: Recorder
) -> None:
    a, b = create(api, "a").body, create(api, "b").body
    listed = sorted(live_listing(api))
    assert listed == sorted([a["runId"], b["runId"]]), "the listing counts what the cap counts"
    before = table_state()

    assert_refused(create(api, "c"))

    assert table_state() == before, "no session, no run, not even the create rate count"
    assert len(recorder.started) == 2
    again = create(api, "a")  # returns a session whose run is alive: starts nothing, so allowed
    assert again.status == 200 and again.body["runId"] == a["runId"]
    other = create(api, "x", OTHER_ENV)  # another environment, whose override turns the cap off
    assert other.status == 201

    cancel(api, b["runId"])  # a run ending frees its slot at once
    retried = create(api, "c")
    assert retried.status == 201
    assert create(api, "c").status == 200, "the retried create landed once"
    assert len(recorder.started) == 4
    assert_refused(create(api, "d"))


def test_a_message_that_would_continue_an_ended_run_is_refused_at_the_cap_and_lands_once_later(
    api: Api, cap: None, recorder: Recorder
) -> None:
    a = create(api, "a").body
    cancel(api, a["runId"])
    b = create(api, "b").body
    c = create(api, "c").body  # ENV is at its cap again
    before = table_state()

    assert_refused(append(api, "a", a["publicAccessToken"], "m1"))

    assert table_state() == before, "the message is not stored and no run claimed"
    # A live run's append is not checked: no Query, no more requests than without the cap.
    with count_dynamodb_calls() as calls:
        assert append(api, "b", b["publicAccessToken"], "hot").status == 200
    assert "Query" not in calls.by_operation() and calls.total <= 3, calls.by_operation()

    cancel(api, c["runId"])
    started = len(recorder.started)
    landed = append(api, "a", a["publicAccessToken"], "m1")  # the client's resend, same part id
    assert landed.status == 200
    assert len(recorder.started) == started + 1, "the message started one continuation"
    continuation = store.get_run(recorder.started[-1])
    assert continuation is not None and continuation.previous_run_id == a["runId"]
    assert append(api, "a", a["publicAccessToken"], "m1").body["seq"] == landed.body["seq"]
    assert in_part_ids(api, "a").count("m1") == 1, "landed exactly once"
    assert len(recorder.started) == started + 1


def test_a_run_that_died_without_a_final_write_counts_until_the_sweep_finalizes_it(
    api: Api, cap: None, recorder: Recorder, clock: Callable[[float], None]
) -> None:
    a, b = create(api, "a").body, create(api, "b").body
    clock(3600)  # both runs never booted: their launch grace ran out, nothing wrote them final
    assert len(live_listing(api)) == CAP, "a dead run is live until finalized, for the listing too"
    before = table_state()
    assert_refused(append(api, "a", a["publicAccessToken"], "m1"))
    assert table_state() == before

    assert recovery.sweep(Recorder()).taken_over == CAP  # the sweep finalizes the dead runs

    assert live_listing(api) == []
    assert append(api, "a", a["publicAccessToken"], "m1").status == 200
    assert append(api, "b", b["publicAccessToken"], "m2").status == 200
    assert len(live_listing(api)) == CAP
    assert store.count_live_runs(ENV.id, up_to=10) == CAP


def test_a_cap_of_zero_is_off_and_costs_no_request(
    api: Api, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_SESSIONS_LIVE_RUNS_LIMIT", "0")
    reset_settings()
    try:
        for chat in ("a", "b", "c"):
            with count_dynamodb_calls() as calls:
                assert create(api, chat).status == 201
            assert "Query" not in calls.by_operation()
        assert len(live_listing(api)) == 3
    finally:
        reset_settings()
