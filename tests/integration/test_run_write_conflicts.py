"""Run-state writes that meet a `TransactionConflictException` are resent, not surfaced.

DynamoDB refuses a single-item write touching an item inside a running transaction with that error
(the write did not land); botocore's standard retry mode does not resend it. Surfaced, it failed a
worker attempt *after* its turn-complete, and the failure path then answered the same input twice.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from agent_sessions import store
from tests.faults import Fault, FaultProxy, Rule


def _run(run_id: str) -> store.Run:
    return store.create_run(
        run_id=run_id,
        session_id="session_conflict",
        session_pk="env#conflict",
        payload={},
        reason="initial",
        previous_run_id=None,
        lease_until=store.epoch() + 60,
    )


def _on_run(run_id: str) -> object:
    return lambda body: f"run#{run_id}" in str(body.get("Key"))


def test_a_run_write_that_meets_a_transaction_conflict_is_resent(faulty_dynamodb: FaultProxy) -> None:
    with faulty_dynamodb.paused():
        _run("run_conflict1")
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="UpdateItem", where=_on_run("run_conflict1"), times=2))
    assert store.complete_run("run_conflict1")
    assert len(faulty_dynamodb.injected(Fault.CONFLICT)) == 2
    with faulty_dynamodb.paused():
        fetched = store.get_run("run_conflict1")
    assert fetched is not None and fetched.status is store.RunStatus.COMPLETED


def test_a_session_write_that_meets_a_transaction_conflict_is_resent(faulty_dynamodb: FaultProxy) -> None:
    with faulty_dynamodb.paused():
        store.SessionModel("env#conflict", kind="session", session_id="session_conflict").save()
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="UpdateItem"))
    store.update_session("env#conflict", [store.SessionModel.metadata.set({"a": 1})])
    assert len(faulty_dynamodb.injected(Fault.CONFLICT)) == 1
    with faulty_dynamodb.paused():
        item = store.get_session_item("env#conflict")
    assert item is not None and item.metadata == {"a": 1}


def test_a_conflict_that_never_clears_surfaces(faulty_dynamodb: FaultProxy) -> None:
    with faulty_dynamodb.paused():
        _run("run_conflict2")
    faulty_dynamodb.add(
        Rule(Fault.CONFLICT, operation="UpdateItem", where=_on_run("run_conflict2"), times=99)
    )
    with pytest.raises(UpdateError) as raised:
        store.complete_run("run_conflict2")
    assert raised.value.cause_response_code == "TransactionConflictException"


def _error(code: str) -> UpdateError:
    return UpdateError(
        "update failed", cause=ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")
    )


def test_transient_errors_are_retried_and_others_are_not() -> None:
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise _error("ThrottlingException")
        return True

    assert store.retry_transient(flaky, first_delay=0) is True
    assert len(calls) == 3

    def always() -> bool:
        calls.append(1)
        raise _error("InternalServerError")

    calls.clear()
    with pytest.raises(UpdateError):
        store.retry_transient(always, first_delay=0)
    assert len(calls) == store.TRANSIENT_ATTEMPTS

    def broken() -> bool:
        calls.append(1)
        raise _error("ValidationException")

    calls.clear()
    with pytest.raises(UpdateError):
        store.retry_transient(broken, first_delay=0)
    assert len(calls) == 1, "only transient errors are retried"


def test_an_input_signal_that_meets_a_transaction_conflict_is_resent(faulty_dynamodb: FaultProxy) -> None:
    """The append's signal to a suspended run: lost, the run slept through the message."""
    with faulty_dynamodb.paused():
        _run("run_conflict3")
        assert store.park("run_conflict3", "token-1")
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="UpdateItem", where=_on_run("run_conflict3"), times=2))
    seen = store.signal_input("run_conflict3", 4)
    assert seen is not None and seen.task_token == "token-1", "the parked token was taken"
    assert len(faulty_dynamodb.injected(Fault.CONFLICT)) == 2


def test_a_launch_audit_write_that_meets_a_transaction_conflict_is_resent(
    faulty_dynamodb: FaultProxy,
) -> None:
    """Surfaced, it failed the launch of a run that had just won its claim (make chaos)."""
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="PutItem", where=lambda body: "session#" in str(body)))
    store.put_session_run("session_conflict", "run_conflict4", "initial", store.now())
    assert len(faulty_dynamodb.injected(Fault.CONFLICT)) == 1
    with faulty_dynamodb.paused():
        assert [e.run_id for e in store.list_session_runs("session_conflict")] == ["run_conflict4"]
