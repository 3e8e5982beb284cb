"""How a run gets compute: Step Functions on AWS, threads in the local stack (`local.launcher`)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Protocol

from agent_sessions.config import get_settings


class Launcher(Protocol):
    def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
        """Begin executing the run; returns an execution reference worth recording, if any."""

    def resume(self, task_token: str) -> None:
        """Wake a run suspended on input; raises if the token is no longer valid."""


@cache
def _sfn_client() -> Any:
    import boto3

    return boto3.client("stepfunctions", region_name=get_settings().region)


class StepFunctionsLauncher:
    """One Standard execution per run, named by the run id so a retried start is idempotent."""

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or _sfn_client()

    def start(self, *, run_id: str, session_id: str, max_attempts: int) -> str | None:
        response = self.client.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=run_id,
            input=json.dumps(
                {"runId": run_id, "sessionId": session_id, "maxAttempts": max_attempts, "generation": 0}
            ),
        )
        return str(response["executionArn"])

    def resume(self, task_token: str) -> None:
        self.client.send_task_success(taskToken=task_token, output=json.dumps({"resumed": True}))


_launcher: Launcher | None = None


def get_launcher() -> Launcher:
    global _launcher
    if _launcher is None:
        settings = get_settings()
        if settings.launcher != "stepfunctions" or not settings.state_machine_arn:
            raise RuntimeError("no launcher configured: set AGENT_SESSIONS_STATE_MACHINE_ARN")
        _launcher = StepFunctionsLauncher(settings.state_machine_arn)
    return _launcher


def set_launcher(launcher: Launcher | None) -> None:
    global _launcher
    _launcher = launcher
