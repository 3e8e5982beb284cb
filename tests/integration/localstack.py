"""A local stack in the test process (moto server + real HTTP) and a small chat driver for it."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx

from agent_sessions import store
from agent_sessions.local.stack import LocalStack
from tests.support import SseRead, read_sse

SUSPEND_TIMEOUT = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Chat:
    def __init__(self, stack: LocalStack, chat_id: str, task: str = "demo-chat", **config: Any) -> None:
        self.stack, self.chat_id = stack, chat_id
        self.http = httpx.Client(base_url=stack.base_url, timeout=30)
        body = {
            "type": "chat.agent",
            "externalId": chat_id,
            "taskIdentifier": task,
            "triggerConfig": {"basePayload": {"chatId": chat_id, "trigger": "preload"}, **config},
        }
        created = self.http.post("/api/v1/sessions", json=body, headers=self.secret).json()
        self.created = created
        self.token = created["publicAccessToken"]

    @property
    def secret(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.stack.secret_key}"}

    def append(self, body: dict[str, Any], part_id: str | None = None) -> int:
        headers = {"authorization": f"Bearer {self.token}", **({"x-part-id": part_id} if part_id else {})}
        response = self.http.post(
            f"/realtime/v1/sessions/{self.chat_id}/in/append", content=json.dumps(body), headers=headers
        )
        assert response.status_code == 200, response.text
        return int(response.json()["seq"])

    def send(self, text: str, part_id: str | None = None, metadata: dict[str, Any] | None = None) -> int:
        message = {"id": f"u-{time.time_ns()}", "role": "user", "parts": [{"type": "text", "text": text}]}
        payload: dict[str, Any] = {"chatId": self.chat_id, "trigger": "submit-message", "message": message}
        if metadata is not None:
            payload["metadata"] = metadata
        return self.append({"kind": "message", "payload": payload}, part_id)

    def action(self, action: Any) -> int:
        return self.append(
            {"kind": "message", "payload": {"chatId": self.chat_id, "trigger": "action", "action": action}}
        )

    def turn(
        self, text: str, *, after: SseRead | None = None, metadata: dict[str, Any] | None = None
    ) -> SseRead:
        """Send `text` and read `.out` (after the previous turn, if given) until its turn-complete."""
        seq = self.send(text, metadata=metadata)
        cursor = after.records[-1].seq if after is not None else None
        return read_sse(self.stack.base_url, self.chat_id, self.token, last_event_id=cursor, min_in_seq=seq)

    def stop(self) -> int:
        response = self.http.post(
            f"/realtime/v1/sessions/{self.chat_id}/in/append",
            content='{"kind":"stop"}',
            headers={"authorization": f"Bearer {self.token}"},
        )
        return int(response.json()["seq"])

    def runs(self) -> list[dict[str, Any]]:
        return list(
            self.http.get(f"/api/v1/sessions/{self.chat_id}/runs", headers=self.secret).json()["data"]
        )

    def session(self) -> dict[str, Any]:
        return dict(self.http.get(f"/api/v1/sessions/{self.chat_id}", headers=self.secret).json())


def text_of(records: list[Any]) -> str:
    return "".join(r.chunk["delta"] for r in records if r.chunk and r.chunk.get("type") == "text-delta")


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def run_status(run_id: str) -> store.RunStatus | None:
    run = store.get_run(run_id)
    return run.status if run is not None else None
