"""The `agent_run` state machine itself, executed by moto's Step Functions interpreter.

moto never runs our Lambda code, so each test scripts the worker's answers; a failed invocation is
scripted as an over-6-MB response, the one function error moto's simple Lambda backend produces.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import lambda_simple_backends

from agent_sessions import launchers, store
from agent_sessions.config import reset_settings

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "agent_run.asl.json"
ACCOUNT, REGION = "123456789012", "us-east-1"
CRASH = "x" * 6_000_100


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("AGENT_SESSIONS_DYNAMODB_URL", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        reset_settings()
        store.configure()
        store.create_tables()
        yield boto3.client("stepfunctions", region_name=REGION)


def machine(client: Any, *, suspend_timeout: int | None = None, cycles: int | None = None) -> str:
    definition = ASL.read_text()
    definition = definition.replace(
        "${AgentFunctionArn}", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:agent-worker"
    )
    definition = definition.replace("${RunsTableName}", store.RunModel.Meta.table_name)
    if suspend_timeout is not None:
        definition = definition.replace('"TimeoutSeconds": 3600', f'"TimeoutSeconds": {suspend_timeout}')
    # moto's port of the interpreter cannot run the optimized startExecution integration (it drops
    # the PascalCase parameters AWS requires); the same call through its aws-sdk path, spelled as
    # boto3 spells it, behaves as AWS runs the definition.
    handover = json.loads(definition)
    handover["States"]["Handover"]["Resource"] = "arn:aws:states:::aws-sdk:sfn:startExecution"
    handover["States"]["Handover"]["Parameters"] = {
        "stateMachineArn.$": "$$.StateMachine.Id",
        "name.$": "States.Format('{}-g{}', $.runId, $.cycle.generation)",
        "input.$": "States.JsonToString($.handover)",
    }
    definition = json.dumps(handover)
    if cycles is not None:
        definition = definition.replace(
            '"NumericGreaterThanEquals": 1000', f'"NumericGreaterThanEquals": {cycles}'
        )
    arn = client.create_state_machine(
        name=f"agent-run-{time.time_ns()}", definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
    )["stateMachineArn"]
    return str(arn)


def script(*results: str) -> None:
    queue = lambda_simple_backends[ACCOUNT][REGION].lambda_simple_results_queue
    queue.clear()
    queue.extend(results)


def status(name: str) -> str:
    return json.dumps({"status": name})


def new_run(run_id: str) -> None:
    store.create_run(
        run_id=run_id,
        session_id="session_x",
        session_pk="env#session_x",
        payload={},
        reason="initial",
        previous_run_id=None,
        lease_until=store.epoch() + 60,
    )


def start(client: Any, arn: str, run_id: str, max_attempts: int = 1) -> str:
    new_run(run_id)
    launcher = launchers.StepFunctionsLauncher(arn, client=client)
    return str(launcher.start(run_id=run_id, session_id="session_x", max_attempts=max_attempts))


def wait_done(client: Any, execution: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = client.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError("execution did not finish")


def invocations(client: Any, execution: str) -> int:
    events = client.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return sum(1 for e in events if e["type"] == "TaskScheduled" and "lambda" in json.dumps(e, default=str))


def wait_for_token(run_id: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = store.get_run(run_id)
        if run and run.task_token:
            return str(run.task_token)
        time.sleep(0.05)
    raise AssertionError("the state machine never parked its token")


def test_continue_loops_until_done(sfn: Any) -> None:
    script(status("continue"), status("continue"), status("done"))
    execution = start(sfn, machine(sfn), "run_loop")
    assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
    assert invocations(sfn, execution) == 3


def test_failures_are_retried_up_to_max_attempts_then_the_run_fails(sfn: Any) -> None:
    script(CRASH, CRASH, CRASH)
    execution = start(sfn, machine(sfn), "run_fail", max_attempts=2)
    described = wait_done(sfn, execution, timeout=40)
    assert described["status"] == "FAILED"
    assert invocations(sfn, execution) == 2
    assert store.get_run("run_fail").status == "FAILED"  # type: ignore[union-attr]


def test_a_failure_within_the_budget_recovers(sfn: Any) -> None:
    script(CRASH, status("done"))
    execution = start(sfn, machine(sfn), "run_recover", max_attempts=2)
    assert wait_done(sfn, execution, timeout=40)["status"] == "SUCCEEDED"


def test_waiting_parks_the_token_and_an_append_resumes_it(sfn: Any) -> None:
    arn = machine(sfn)
    script(status("waiting"), status("done"))
    execution = start(sfn, arn, "run_wait")
    token = wait_for_token("run_wait")
    assert store.get_run("run_wait").status == "WAITING"  # type: ignore[union-attr]
    old = store.signal_input("run_wait", 3)
    assert old is not None and old.task_token == token
    launchers.StepFunctionsLauncher(arn, client=sfn).resume(token)
    assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
    assert invocations(sfn, execution) == 2


def test_input_that_arrives_before_the_park_skips_the_wait(sfn: Any) -> None:
    script(status("waiting"), status("done"))
    new_run("run_race")
    store.signal_input("run_race", 0)
    execution = launchers.StepFunctionsLauncher(machine(sfn), client=sfn).start(
        run_id="run_race", session_id="session_x", max_attempts=1
    )
    assert wait_done(sfn, str(execution))["status"] == "SUCCEEDED"
    run = store.get_run("run_race")
    assert run is not None and run.task_token is None, "never parked: the conditional write lost to the input"


def test_suspend_timeout_expires_the_run(sfn: Any) -> None:
    script(status("waiting"))
    execution = start(sfn, machine(sfn, suspend_timeout=1), "run_expire")
    assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
    run = store.get_run("run_expire")
    assert run is not None and run.status == "EXPIRED" and run.task_token is None


TRANSIENT = {
    "DynamoDb.InternalServerErrorException",
    "DynamoDb.ThrottlingException",
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceededException",
}


def test_every_dynamodb_task_retries_transient_errors_and_ends_in_a_final_status() -> None:
    states = json.loads(ASL.read_text())["States"]
    sdk = {
        name: s
        for name, s in states.items()
        if str(s.get("Resource", "")).startswith("arn:aws:states:::aws-sdk:dynamodb")
    }
    assert set(sdk) == {"WaitForInput", "MarkExpired", "MarkFailed"}
    for name, state in sdk.items():
        retried = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
        assert retried >= TRANSIENT, f"{name} does not retry {TRANSIENT - retried}"
    wait_catches = [c["Next"] for c in states["WaitForInput"]["Catch"]]
    assert wait_catches[-1] == "MarkFailed", "any other WaitForInput error fails the run (a final status)"


def test_a_long_lived_run_hands_over_to_a_fresh_execution_before_the_history_limit(sfn: Any) -> None:
    script(status("continue"), status("continue"), status("continue"), status("done"))
    arn = machine(sfn, cycles=2)
    execution = start(sfn, arn, "run_long")
    assert wait_done(sfn, execution)["status"] == "SUCCEEDED"
    assert invocations(sfn, execution) == 2, "two cycles, then the handover"
    names = {e["name"]: e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
    assert set(names) == {"run_long", "run_long-g1"}
    successor = wait_done(sfn, names["run_long-g1"])
    assert successor["status"] == "SUCCEEDED"
    assert json.loads(successor["input"]) == {
        "runId": "run_long",
        "sessionId": "session_x",
        "maxAttempts": 1,
        "generation": 1,
    }
    assert invocations(sfn, names["run_long-g1"]) == 2


def test_mark_failed_never_overwrites_a_final_status(sfn: Any) -> None:
    script(CRASH)
    new_run("run_canceled")
    store.cancel_run("run_canceled", "superseded")
    execution = launchers.StepFunctionsLauncher(machine(sfn), client=sfn).start(
        run_id="run_canceled", session_id="session_x", max_attempts=1
    )
    assert wait_done(sfn, str(execution), timeout=40)["status"] == "FAILED"
    assert store.get_run("run_canceled").status == "CANCELED"  # type: ignore[union-attr]
