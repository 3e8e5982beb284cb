"""Send → first `text-delta` at the client, as the trigger.dev transport sees it.

A chat client appends its message to `.in`, then reads `.out` over SSE from its cursor until the
turn's `turn-complete`. `ChatClient` does exactly that over HTTP and times each turn from before the
append to the first `text-delta` record in an SSE frame. The direct-SSE baseline serves the same
offline model straight into a streamed HTTP response (no logs, no DynamoDB) on the same machine and
HTTP server, so the difference is what durability costs.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agent_sessions import store
from agent_sessions.agent.models.base import TextDelta
from agent_sessions.config import get_settings
from agent_sessions.demo_chat import model as demo_model


@dataclass(frozen=True)
class TurnTiming:
    first_token: float
    """Seconds from before the `.in` append to the first `text-delta` read from SSE."""
    complete: float
    """Seconds from before the append to the turn's `turn-complete`."""


@dataclass
class ChatClient:
    """One chat over HTTP: create, then send messages and read each turn's `.out` over SSE."""

    base_url: str
    secret: str
    chat_id: str
    task: str = "demo-chat"
    trigger_config: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    session_id: str = ""
    cursor: str | None = None
    turns: int = 0

    def create(self, http: httpx.Client) -> None:
        body = {
            "type": "chat.agent",
            "externalId": self.chat_id,
            "taskIdentifier": self.task,
            "triggerConfig": {
                "basePayload": {"chatId": self.chat_id, "trigger": "preload"},
                **self.trigger_config,
            },
        }
        auth = {"authorization": f"Bearer {self.secret}"}
        response = http.post("/api/v1/sessions", json=body, headers=auth)
        response.raise_for_status()
        created = response.json()
        self.token, self.session_id = created["publicAccessToken"], created["id"]

    def send(self, http: httpx.Client, text: str, *, on_sent: Callable[[], None] | None = None) -> TurnTiming:
        """Append one user message and read `.out` until its turn-complete; raises on any failure."""
        self.turns += 1
        body = {
            "kind": "message",
            "payload": {
                "chatId": self.chat_id,
                "trigger": "submit-message",
                "message": {
                    "id": f"u{self.turns}",
                    "role": "user",
                    "parts": [{"type": "text", "text": text}],
                },
            },
        }
        started = time.perf_counter()
        response = http.post(
            f"/realtime/v1/sessions/{self.chat_id}/in/append",
            content=json.dumps(body),
            headers={"authorization": f"Bearer {self.token}"},
        )
        response.raise_for_status()
        seq = int(response.json()["seq"])
        if on_sent is not None:
            on_sent()
        first: float | None = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # reconnect from the cursor when a window ends, as clients do
            headers = {
                "authorization": f"Bearer {self.token}",
                "timeout-seconds": "60",
                **({"last-event-id": self.cursor} if self.cursor else {}),
            }
            with http.stream("GET", f"/realtime/v1/sessions/{self.chat_id}/out", headers=headers) as stream:
                stream.raise_for_status()
                for records in _batches(stream.iter_lines()):
                    for record in records:
                        self.cursor = str(record["seq_num"])
                        named = dict(record.get("headers") or [])
                        if first is None and _chunk_type(record) == "text-delta":
                            first = time.perf_counter() - started
                        if (
                            named.get("trigger-control") == "turn-complete"
                            and int(named.get("session-in-event-id", -1)) >= seq
                        ):
                            self.token = named.get("public-access-token") or self.token
                            done = time.perf_counter() - started
                            if first is None:
                                raise RuntimeError("turn completed without a text-delta")
                            return TurnTiming(first, done)
        raise RuntimeError("the turn did not complete within 300 s")


def _batches(lines: Iterator[str]) -> Iterator[list[dict[str, Any]]]:
    for line in lines:
        if line.startswith("data:") and '"records"' in line:
            yield json.loads(line[5:])["records"]


def _chunk_type(record: dict[str, Any]) -> str | None:
    try:
        data = json.loads(record["body"]).get("data")
    except (ValueError, AttributeError):
        return None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    return data.get("type") if isinstance(data, dict) else None


def run_status(session_id: str) -> str | None:
    """Status of the session's current run, read straight from the store."""
    session = store.get_session_item(store.session_pk(get_settings().environment_id, session_id))
    if session is None or session.current_run_id is None:
        return None
    run = store.get_run(session.current_run_id)
    status = getattr(run, "status", None)
    return str(getattr(status, "value", status)) if status is not None else None


def wait_for_status(session_id: str, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while run_status(session_id) != status:
        if time.monotonic() > deadline:
            raise TimeoutError(f"run of {session_id} never reached {status}")
        time.sleep(0.05)


def think_times(n: int, low: float, high: float, seed: int = 7) -> list[float]:
    """Seeded pauses between turns, so every run of the bench meets the pollers in the same phases."""
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(n)]


# ---------------------------------------------------------------- direct-SSE baseline


def _direct_stream(text: str) -> Iterator[bytes]:
    """The demo agent's model straight into the response: text-start, deltas, text-end."""
    yield _sse({"type": "start"})
    yield _sse({"type": "text-start", "id": "t0"})
    for event in demo_model.stream([{"role": "user", "content": [{"type": "text", "text": text}]}]):
        if isinstance(event, TextDelta):
            yield _sse({"type": "text-delta", "id": "t0", "delta": event.text})
    yield _sse({"type": "text-end", "id": "t0"})
    yield _sse({"type": "finish"})


def _sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(chunk)}\n\n".encode()


async def _chat(request: Request) -> StreamingResponse:
    text = (await request.json())["text"]
    return StreamingResponse(_direct_stream(text), media_type="text/event-stream")


class DirectServer:
    """uvicorn + Starlette, as the local stack, serving only `POST /chat` (the baseline)."""

    def __init__(self, port: int) -> None:
        app = Starlette(routes=[Route("/chat", _chat, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, name="direct-sse", daemon=True)

    def __enter__(self) -> DirectServer:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def direct_first_token(http: httpx.Client, text: str) -> float:
    """Seconds from before the POST to the first `text-delta` of the direct stream."""
    started = time.perf_counter()
    first: float | None = None
    with http.stream("POST", "/chat", json={"text": text}) as stream:
        for line in stream.iter_lines():
            if first is None and line.startswith("data:") and '"text-delta"' in line:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("direct stream sent no text-delta")
    return first
