"""The `make dev` banner's CLI hint reaches the stack it announces, whatever port and state dir it runs on."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from agent_sessions.client import cli
from agent_sessions.client.discovery import write_local_base_url
from agent_sessions.local.__main__ import chat_command
from agent_sessions.local.stack import LocalStack

KEY = "tr_dev_" + "B4nnerK3y000000000000000"


def started(stack: LocalStack) -> LocalStack:
    """What a started stack leaves in its state folder: its dev key (generated) and its URL."""
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    (stack.state_dir / "secret-key").write_text(stack.secret_key + "\n")
    write_local_base_url(stack.state_dir, stack.base_url)
    return stack


def run_banner_command(command: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Run the printed command as a shell in the project folder would, with no client environment."""
    for name in ("AGENT_SESSIONS_URL", "AGENT_SESSIONS_SECRET_KEY", "AGENT_SESSIONS_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    words = shlex.split(command)
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        monkeypatch.setenv(name, value)
    assert words[0] == ".venv/bin/agent-sessions"
    seen: dict[str, str] = {}

    def fake_chat(client: object, task_id: str, chat_id: str | None, out: object) -> int:
        seen["url"] = str(client.base_url)  # type: ignore[attr-defined]
        seen["key"] = str(client.secret_key)  # type: ignore[attr-defined]
        seen["task"] = task_id
        return 0

    monkeypatch.setattr(cli, "run_chat", fake_chat)
    assert cli.main(words[1:]) == 0
    return seen


def test_the_default_state_dir_gets_the_short_command_on_any_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`AGENT_SESSIONS_PORT=18811 make dev` printed a command that tried 127.0.0.1:8787: the CLI now
    finds the URL the stack wrote beside its dev key."""
    monkeypatch.chdir(tmp_path)
    stack = started(LocalStack(port=18811, secret_key=KEY, state_dir=Path(".agent-sessions")))
    command = chat_command(stack)
    assert command == ".venv/bin/agent-sessions chat demo-chat"
    seen = run_banner_command(command, monkeypatch)
    assert seen == {"url": "http://127.0.0.1:18811", "key": KEY, "task": "demo-chat"}


def test_another_state_dir_is_named_so_the_cli_reaches_this_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stack = started(LocalStack(port=8791, secret_key=KEY, state_dir=tmp_path / "else where"))
    seen = run_banner_command(chat_command(stack), monkeypatch)
    assert seen == {"url": "http://127.0.0.1:8791", "key": KEY, "task": "demo-chat"}


def test_a_key_from_the_environment_is_named_since_no_file_holds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    stack = LocalStack(port=8792, secret_key=KEY, state_dir=Path(".agent-sessions"))
    write_local_base_url(stack.state_dir, stack.base_url)
    seen = run_banner_command(chat_command(stack), monkeypatch)
    assert seen == {"url": "http://127.0.0.1:8792", "key": KEY, "task": "demo-chat"}
