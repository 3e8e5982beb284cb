"""The Node transport and the Python client on the same session, each watching what the other sends."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from typing import Any

import pytest

from agent_sessions.client import AgentSessions, ChatTransport, RecordStream
from tests.e2e.conftest import NODE_DIR, RunningStack

pytestmark = pytest.mark.e2e


def reply(text: str) -> str:
    return f"You said: {text}. This reply is streamed word by word by demo-chat."


def node(scenario: str, stack: RunningStack, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [shutil.which("node") or "node", "e2e.mjs", scenario],
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "BASE_URL": stack.base_url, "SECRET_KEY": stack.secret_key, **env},
    )


def test_python_watches_with_a_read_token_while_node_sends(local_stack: RunningStack) -> None:
    with AgentSessions(local_stack.secret_key, local_stack.base_url) as client:
        started = client.sessions.create_start_session_action("demo-chat")({"chat_id": "interop-1"})
        read_only = client.auth.create_public_token(scopes={"read": {"sessions": "interop-1"}})
        seen: list[Any] = []

        def watch() -> None:
            url = f"{client.base_url}/realtime/v1/sessions/interop-1/out"
            for record in RecordStream(client.http, url, lambda: read_only, timeout_seconds=20):
                seen.append(record)
                if record.control == "turn-complete":
                    return

        watcher = threading.Thread(target=watch)
        watcher.start()
        sender = node("send-existing", local_stack, CHAT_ID="interop-1", PAT=started.public_access_token)
        assert sender.wait(60) == 0, sender.stderr.read() if sender.stderr else ""
        watcher.join(30)
    text = "".join(r.chunk["delta"] for r in seen if r.chunk and r.chunk.get("type") == "text-delta")
    assert text == reply("from node")


def test_node_watches_while_python_sends(local_stack: RunningStack) -> None:
    with AgentSessions(local_stack.secret_key, local_stack.base_url) as client:
        transport = ChatTransport(
            "demo-chat",
            base_url=client.base_url,
            start_session=client.sessions.create_start_session_action("demo-chat"),
            access_token=lambda cid: client.auth.create_public_token(scopes={"write": {"sessions": cid}}),
        )
        transport.preload("interop-2")
        read_only = client.auth.create_public_token(scopes={"read": {"sessions": "interop-2"}})
        watcher = node("watch", local_stack, CHAT_ID="interop-2", READ_TOKEN=read_only)
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "watching"
        assert transport.send_message("interop-2", "from python").text() == reply("from python")
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    watched = next(json.loads(line) for line in out.splitlines() if line.startswith('{"watched"'))
    assert watched == {"watched": reply("from python")}
