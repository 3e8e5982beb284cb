"""`python -m agent_sessions.local`: the local stack, as `make dev` runs it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from contextlib import suppress
from pathlib import Path

from agent_sessions.local.journal import JournalInUse
from agent_sessions.local.stack import LocalStack
from agent_sessions.worker import load_agents


def _data_line(stack: LocalStack) -> str:
    if stack.data_path is None:
        return "kept by the DynamoDB endpoint above"
    return f"{stack.data_path} (kept across restarts; delete it while stopped to start empty)"


def chat_command(stack: LocalStack) -> str:
    """The CLI command that reaches this stack from the repository root in another shell. The CLI
    finds the URL and dev key the stack wrote to its state folder (`client/discovery.py`), so only a
    folder other than `.agent-sessions` needs naming; the port never does."""
    words = []
    state_dir = Path(stack.state_dir).resolve()
    if state_dir != Path(".agent-sessions").resolve():
        words.append(f"AGENT_SESSIONS_STATE_DIR={shlex.quote(str(state_dir))}")
    key_file = state_dir / "secret-key"
    if not key_file.is_file() or key_file.read_text().strip() != stack.secret_key:
        words.append(f"AGENT_SESSIONS_SECRET_KEY={shlex.quote(stack.secret_key)}")  # set by the environment
    return " ".join([*words, ".venv/bin/agent-sessions", "chat", "demo-chat"])


def announce(stack: LocalStack) -> None:
    print(
        "agent-sessions local stack\n"
        f"  URL:        {stack.base_url}\n"
        f"  Secret key: {stack.secret_key}\n"
        f"  DynamoDB:   {stack.dynamodb_url}\n"
        f"  Data:       {_data_line(stack)}\n"
        f"  Agents:     {', '.join(load_agents())}\n"
        f"Chat in a terminal: {chat_command(stack)}   (web chat: open the URL)\n"
        "Ctrl-C stops it.",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-sessions-local", description="Run the local stack.")
    parser.add_argument("--host", default=os.environ.get("AGENT_SESSIONS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AGENT_SESSIONS_PORT", "8787")))
    args = parser.parse_args(argv)
    try:
        with suppress(KeyboardInterrupt):
            LocalStack(host=args.host, port=args.port).serve_forever(on_ready=announce)
    except JournalInUse as exc:
        print(f"agent-sessions: {exc}", file=sys.stderr, flush=True)
        return 1
    print("agent-sessions: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
