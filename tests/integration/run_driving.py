"""Driving runs in-process for the run-ending and mid-turn-input tests: a recording launcher, a
session per test, appends, one worker invocation at a time, and what the session's turns answered.

A helper module, not a test module: `test_run_endings` registers agents with module state at import,
and a test module imported under a second name (`tests.integration.test_…` beside pytest's own
import) would register them again with a second copy of that state.
"""

from __future__ import annotations

import pytest

from agent_sessions import run_control, runs, store, worker
from tests.integration.conftest import Api, create_body
from tests.integration.test_run_liveness import IN, LambdaClock, Resumes, message, turn_completes
from tests.support import ENV


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> Resumes:
    recorder = Resumes()
    monkeypatch.setattr(runs, "get_launcher", lambda: recorder)
    monkeypatch.setattr(run_control, "get_launcher", lambda: recorder)
    return recorder


def start(api: Api, task: str) -> tuple[str, str, str]:
    """A new session of `task`: (session id, its token, its first run)."""
    created = api("POST", "/api/v1/sessions", body=create_body(task=task), token=ENV.secret_key).body
    return created["id"], created["publicAccessToken"], created["runId"]


def send(api: Api, pat: str, text: str) -> int:
    response = api("POST", IN, body=message(text), token=pat)
    assert response.status == 200, response.body
    return int(response.body["seq"])


def handle(run_id: str) -> dict[str, str]:
    return worker.handle({"runId": run_id, "attempt": 0}, LambdaClock())


def status(run_id: str) -> store.RunStatus:
    run = store.get_run(run_id)
    assert run is not None
    return run.status


def answered(session_id: str) -> list[int]:
    return [int(seq) for seq in turn_completes(session_id) if seq is not None]
