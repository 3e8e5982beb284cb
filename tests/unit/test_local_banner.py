"""The `make dev` banner's CLI hint reaches the stack it announces, whatever port and state dir it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_sessions.client import cli
from agent_sessions.local.__main__ import chat_command
from agent_sessions.local.stack import LocalStack

KEY = "tr_dev_" + "B4nnerK3y000000000000000"


def test_the_default_stack_gets_the_short_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stack = LocalStack(port=8787, secret_key=KEY, state_dir=Path(".agent-sessions"))
    assert chat_command(stack) == ".venv/bin/agent-sessions chat demo-chat"


def test_another_port_and_state_dir_are_named_so_the_cli_reaches_this_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`AGENT_SESSIONS_PORT=8791 make dev` printed the plain command, which then could not reach
    127.0.0.1:8787 from another shell."""
    monkeypatch.chdir(tmp_path)
    stack = LocalStack(port=8791, secret_key=KEY, state_dir=tmp_path / "elsewhere")
    command = chat_command(stack).split()
    monkeypatch.delenv("AGENT_SESSIONS_URL", raising=False)
    monkeypatch.delenv("AGENT_SESSIONS_SECRET_KEY", raising=False)
    monkeypatch.delenv("AGENT_SESSIONS_STATE_DIR", raising=False)
    seen: dict[str, str] = {}

    def fake_chat(client: object, task_id: str, chat_id: str | None, out: object) -> int:
        seen["url"] = str(client.base_url)  # type: ignore[attr-defined]
        seen["key"] = str(client.secret_key)  # type: ignore[attr-defined]
        seen["task"] = task_id
        return 0

    monkeypatch.setattr(cli, "run_chat", fake_chat)
    assert cli.main(command[1:]) == 0
    assert seen == {"url": "http://127.0.0.1:8791", "key": KEY, "task": "demo-chat"}
