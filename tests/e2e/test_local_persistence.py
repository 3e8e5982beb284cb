"""`make dev` keeps its data: sessions, logs and runs survive Ctrl-C and SIGKILL of the local stack.

Each test runs `python -m agent_sessions.local` as a subprocess on one state directory, restarts
it there, and reads the same chat back over HTTP (and from the CLI, as a user resumes a chat).

The stack is stopped while the chat's run is suspended between turns (idle timeout 1 s), whose
recovery after a restart is a continuation. A stop while a run is executing (mid-turn or in its
warm window) is the run lifecycle's crash case, tested with the lease that detects it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.e2e.conftest import RunningStack, start_stack, stop_stack
from tests.support import SseRead, read_sse

pytestmark = pytest.mark.e2e


class HttpChat:
    """One demo-chat session on a running stack, driven as the transport drives it."""

    def __init__(self, stack: RunningStack, chat_id: str, token: str | None = None) -> None:
        self.stack, self.chat_id = stack, chat_id
        self.secret = {"authorization": f"Bearer {stack.secret_key}"}
        if token is None:
            body = {
                "type": "chat.agent",
                "externalId": chat_id,
                "taskIdentifier": "demo-chat",
                "triggerConfig": {
                    "basePayload": {"chatId": chat_id, "trigger": "preload"},
                    "idleTimeoutInSeconds": 1,
                },
            }
            created = httpx.post(f"{stack.base_url}/api/v1/sessions", json=body, headers=self.secret)
            assert created.status_code == 201, created.text
            token = str(created.json()["publicAccessToken"])
        self.token = token

    def turn(self, text: str, after: int | None) -> SseRead:
        message = {"id": f"u-{time.time_ns()}", "role": "user", "parts": [{"type": "text", "text": text}]}
        payload = {"chatId": self.chat_id, "trigger": "submit-message", "message": message}
        sent = httpx.post(
            f"{self.stack.base_url}/realtime/v1/sessions/{self.chat_id}/in/append",
            content=json.dumps({"kind": "message", "payload": payload}),
            headers={"authorization": f"Bearer {self.token}"},
        )
        assert sent.status_code == 200, sent.text
        return self.read(after, min_in_seq=int(sent.json()["seq"]))

    def read(self, after: int | None, **kwargs: Any) -> SseRead:
        kwargs.setdefault("timeout_seconds", 20)
        return read_sse(self.stack.base_url, self.chat_id, self.token, last_event_id=after, **kwargs)

    def get(self, path: str = "") -> Any:
        response = httpx.get(
            f"{self.stack.base_url}/api/v1/sessions/{self.chat_id}{path}", headers=self.secret
        )
        assert response.status_code == 200, response.text
        return response.json()


def wait_until_suspended(stack: RunningStack) -> None:
    """Until every run of the stack has parked a task token (its idle timeout ran out)."""
    url = next(line.split()[-1] for line in stack.output if "DynamoDB:" in line)
    runs = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
    deadline = time.monotonic() + 20
    while True:
        items = runs.scan(TableName="agent-sessions-runs", ConsistentRead=True)["Items"]
        if items and all("task_token" in item for item in items if item.get("sk", {}).get("S") == "run"):
            return
        assert time.monotonic() < deadline, f"runs never suspended: {items}"
        time.sleep(0.1)


def text_of(read: SseRead) -> str:
    chunks = [r.chunk for r in read.records]
    return "".join(c["delta"] for c in chunks if isinstance(c, dict) and c.get("type") == "text-delta")


def end(stack: RunningStack, how: str) -> None:
    if how == "ctrl-c":
        assert stop_stack(stack) == 0
    else:
        stack.process.kill()  # SIGKILL: no shutdown, no compaction
        stack.process.wait(10)


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_sessions_logs_and_runs_survive_a_restart(tmp_path: Path, how: str) -> None:
    first = start_stack(tmp_path)
    try:
        chat = HttpChat(first, "kept-chat")
        answered = chat.turn("remember this", after=None)
        assert "You said: remember this." in text_of(answered)
        session, runs = chat.get(), chat.get("/runs")
        wait_until_suspended(first)
    finally:
        end(first, how)

    second = start_stack(tmp_path)
    try:
        data_line = next(line for line in second.output if "Data:" in line)
        assert str(tmp_path / "dynamodb.jsonl") in data_line
        chat = HttpChat(second, "kept-chat", token=chat.token)
        assert chat.get()["id"] == session["id"]
        assert chat.get("/runs")["data"][: len(runs["data"])] == runs["data"]
        replayed = chat.read(None)
        assert [(r.seq, r.body) for r in replayed.records] == [(r.seq, r.body) for r in answered.records]
        again = chat.turn("and this", after=replayed.records[-1].seq)
        assert "You said: and this." in text_of(again)
    finally:
        stop_stack(second)


def test_a_cli_resume_continues_the_chat_after_a_restart(tmp_path: Path) -> None:
    state, cli_state = tmp_path / "stack", tmp_path / "cli"

    def cli(stack: RunningStack, line: str) -> str:
        env = {
            **os.environ,
            "AGENT_SESSIONS_URL": stack.base_url,
            "AGENT_SESSIONS_SECRET_KEY": stack.secret_key,
            "AGENT_SESSIONS_CLI_STATE_DIR": str(cli_state),
            "PYTHONUNBUFFERED": "1",
        }
        result = subprocess.run(
            [sys.executable, "-m", "agent_sessions.client.cli", "chat", "demo-chat", "--chat-id", "cli-kept"],
            input=line + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = start_stack(state)
    try:
        session_id = HttpChat(first, "cli-kept").get()["id"]  # created with a 1 s idle timeout
        assert "You said: before the restart." in cli(first, "before the restart")
        wait_until_suspended(first)
    finally:
        end(first, "sigkill")

    second = start_stack(state)
    try:
        assert "You said: after the restart." in cli(second, "after the restart")
        chat = HttpChat(second, "cli-kept", token=second.secret_key)
        assert chat.get()["id"] == session_id, "the resume continued the old session"
        everything = text_of(chat.read(None, until_control=None, timeout_seconds=3))
        assert "You said: before the restart." in everything and "You said: after the restart." in everything
    finally:
        stop_stack(second)
