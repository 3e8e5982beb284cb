"""`agent-sessions`: chat with an agent, inspect sessions, tail a session's output.

    agent-sessions chat demo-chat [--chat-id ID]
    agent-sessions sessions list|show ID|close ID|runs ID
    agent-sessions tail CHAT_ID

Base URL and secret key come from --base-url / --secret-key, else the lookup every client shares
(`agent_sessions/client/discovery.py`: the environment, then the URL and dev key the local stack
keeps in its state folder). Errors are one readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from agent_sessions.client._http import session_path
from agent_sessions.client.client import AgentSessions
from agent_sessions.client.discovery import resolve_base_url
from agent_sessions.client.errors import (
    AgentSessionsError,
    APIConnectionError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    SessionClosedError,
)
from agent_sessions.client.sse import RecordStream
from agent_sessions.client.transport import ChatStream, ChatTransport
from agent_sessions.client.types import ChatSessionState


def state_dir() -> Path:
    """Where chat states are kept: `$AGENT_SESSIONS_CLI_STATE_DIR`, else `~/.agent-sessions/chats`."""
    return Path(os.environ.get("AGENT_SESSIONS_CLI_STATE_DIR") or Path.home() / ".agent-sessions" / "chats")


class ChatFiles:
    """Persist each chat's transport state so `chat --chat-id` resumes after a restart."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, chat_id: str) -> Path:
        """The chat's state file (the chat id percent-encoded)."""
        return self.root / f"{session_path(chat_id)}.json"

    def load(self, chat_id: str) -> ChatSessionState | None:
        """The saved state, None when there is none; raises `pydantic.ValidationError` for a corrupt file."""
        path = self.path(chat_id)
        return ChatSessionState.model_validate_json(path.read_text()) if path.exists() else None

    def save(self, chat_id: str, state: ChatSessionState | None) -> None:
        """Write the state (mode 0600: it holds a token); None is ignored."""
        if state is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(chat_id)
        path.write_text(state.model_dump_json())
        path.chmod(0o600)


class Renderer:
    """Prints a turn as it streams: text inline, tools and errors as bracketed notes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def chunk(self, chunk: Any) -> None:
        """Render one AI SDK UI-message chunk; kinds without a rendering are skipped."""
        if not isinstance(chunk, dict):
            return
        kind = chunk.get("type")
        if kind == "text-delta":
            self.write(str(chunk.get("delta", "")))
        elif kind == "tool-input-available":
            self.write(f"\n[{chunk.get('toolName')}({json.dumps(chunk.get('input'))})]")
        elif kind == "tool-output-available":
            self.write(f" → {json.dumps(chunk.get('output'))}\n")
        elif kind == "tool-output-error" or kind == "error":
            self.write(f"\n[error: {chunk.get('errorText')}]")

    def write(self, text: str) -> None:
        """Write and flush (a reply streams as it arrives)."""
        self.out.write(text)
        self.out.flush()


def run_chat(client: AgentSessions, task: str, chat_id: str | None, out: TextIO) -> int:
    """`agent-sessions chat`: an interactive chat with `task` on stdin/`out`, resuming `chat_id`'s
    saved state. Returns the exit code; raises the client's errors (main turns them into one line)."""
    files = ChatFiles(state_dir())
    chat_id = chat_id or f"cli-{uuid.uuid4().hex[:12]}"
    saved = files.load(chat_id)
    transport = ChatTransport(
        task,
        base_url=client.base_url,
        start_session=client.sessions.create_start_session_action(task),
        access_token=lambda cid: client.auth.create_public_token(
            scopes={"read": {"sessions": cid}, "write": {"sessions": cid}}, expiration_time="1h"
        ),
        sessions={chat_id: saved} if saved else None,
        on_session_change=files.save,
    )
    client.sessions.list(limit=1)  # an unreachable server or a refused key fails before the banner
    render = Renderer(out)
    render.write(
        f"Chatting with {task} as chat {chat_id} (Ctrl-C stops a reply, Ctrl-C again or Ctrl-D quits).\n"
    )
    resumed = transport.reconnect(chat_id)
    if resumed is not None:
        render.write("agent> ")
        if not _stream(transport, chat_id, resumed, render):
            return 0
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        if not line.strip():
            continue
        try:
            stream = transport.send_message(chat_id, line)
        except SessionClosedError as exc:
            render.write(f"This chat is closed{f' ({exc.closed_reason})' if exc.closed_reason else ''}.\n")
            return 0
        render.write("agent> ")
        if not _stream(transport, chat_id, stream, render):
            break
    render.write(f"\nResume with: agent-sessions chat {task} --chat-id {chat_id}\n")
    return 0


def _stream(transport: ChatTransport, chat_id: str, stream: ChatStream, render: Renderer) -> bool:
    """Render one turn to its end. The first Ctrl-C asks the agent to stop and keeps rendering until
    the stopped turn completes, so none of its text is left over for the next reply; a second Ctrl-C
    quits (returns False) and `chat --chat-id` resumes the turn later."""
    stopping = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        # The stop is sent from a thread: a handler must not write to the stream it interrupted, and
        # a reply that is silent (a slow model) would otherwise never let it out.
        threading.Thread(target=_request_stop, args=(transport, chat_id, render), daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        for chunk in stream:
            render.chunk(chunk)
    except KeyboardInterrupt:
        stream.close()
        render.write("\n")
        return False
    finally:
        signal.signal(signal.SIGINT, previous)
    render.write(" [stopped]\n" if stopping.is_set() else "\n")
    return True


def _request_stop(transport: ChatTransport, chat_id: str, render: Renderer) -> None:
    render.write(" [stopping]")
    try:
        transport.stop(chat_id)
    except AgentSessionsError as exc:
        render.write(f" [stop failed: {exc}]")


def run_tail(client: AgentSessions, chat_id: str, out: TextIO) -> int:
    """`agent-sessions tail`: print a session's `.out` from the start and follow it until Ctrl-C.
    Raises `NotFoundError` for an unknown chat before streaming."""
    client.sessions.retrieve(chat_id)  # a readable 404 before streaming starts
    records = RecordStream(
        client.http,
        f"{client.base_url}/realtime/v1/sessions/{session_path(chat_id)}/out",
        lambda: client.secret_key,
        timeout_seconds=60,
    )
    render = Renderer(out)
    try:
        for record in records:
            if record.control:
                extra = record.header("session-in-event-id")
                render.write(f"\n[{record.control}{f' in={extra}' if extra else ''}]\n")
            else:
                render.chunk(record.chunk)
    except KeyboardInterrupt:
        render.write("\n")
    return 0


def _print_sessions(sessions: Iterable[Any], out: TextIO) -> None:
    for s in sessions:
        status = "closed" if s.is_closed else "active"
        created = f"{s.created_at:%Y-%m-%d %H:%M}"
        out.write(f"{s.id}  {s.external_id or '-':<28} {s.task_identifier:<16} {status:<7} {created}\n")


def main(argv: list[str] | None = None) -> int:
    """The `agent-sessions` entry point: parse `argv` (default `sys.argv[1:]`), run the command and
    return its exit code: 0, 1 after a one-line error on stderr, 130 after Ctrl-C, 2 for bad usage."""
    parser = argparse.ArgumentParser(
        prog="agent-sessions", description="Talk to agent-sessions from a terminal."
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="default: $AGENT_SESSIONS_URL, else the local stack's URL, else http://127.0.0.1:8787",
    )
    parser.add_argument(
        "--secret-key",
        default=None,
        help="default: $AGENT_SESSIONS_SECRET_KEY, else the local stack's dev key",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="interactive chat with an agent")
    chat.add_argument("task_id")
    chat.add_argument("--chat-id", default=None, help="resume (or name) a chat")
    sessions = commands.add_parser("sessions", help="list, show, close sessions and their runs")
    sessions_commands = sessions.add_subparsers(dest="action", required=True)
    listing = sessions_commands.add_parser("list")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--status", choices=["ACTIVE", "CLOSED", "EXPIRED"])
    for name in ("show", "runs"):
        sessions_commands.add_parser(name).add_argument("session")
    close = sessions_commands.add_parser("close")
    close.add_argument("session")
    close.add_argument("--reason", default=None)
    tail = commands.add_parser("tail", help="watch a session's output live")
    tail.add_argument("chat_id")
    runs = commands.add_parser("runs", help="the kill switch: list live runs, cancel one")
    runs_action = runs.add_mutually_exclusive_group(required=True)
    runs_action.add_argument("--live", action="store_true", help="list the environment's live runs")
    runs_action.add_argument("--cancel", metavar="RUN_ID", help="end this run now")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = sys.stdout
    base_url = resolve_base_url(args.base_url)
    try:
        with AgentSessions(secret_key=args.secret_key, base_url=base_url) as client:
            if args.command == "chat":
                return run_chat(client, args.task_id, args.chat_id, out)
            if args.command == "tail":
                return run_tail(client, args.chat_id, out)
            if args.command == "runs":
                return _runs(client, args, out)
            if args.action == "list":
                _print_sessions(client.sessions.list(limit=args.limit, status=args.status).data, out)
            elif args.action == "show":
                out.write(
                    client.sessions.retrieve(args.session).model_dump_json(indent=2, by_alias=True) + "\n"
                )
            elif args.action == "close":
                closed = client.sessions.close(args.session, reason=args.reason)
                out.write(f"closed {closed.id} at {closed.closed_at}\n")
            elif args.action == "runs":
                for run in client.sessions.runs(args.session):
                    out.write(f"{run.triggered_at:%Y-%m-%d %H:%M:%S}  {run.reason:<13} {run.run_id}\n")
            return 0
    except AuthenticationError:
        return _fail("the secret key was refused (401): check --secret-key or AGENT_SESSIONS_SECRET_KEY")
    except PermissionDeniedError as exc:
        return _fail(f"not allowed (403): {exc.message}")
    except NotFoundError:
        return _fail("no such chat or session (404)")
    except APIConnectionError:
        return _fail(f"cannot reach {base_url}: is the server running? (`make dev` starts one)")
    except AgentSessionsError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


def _runs(client: AgentSessions, args: argparse.Namespace, out: TextIO) -> int:
    if args.cancel:
        out.write(f"canceled {client.runs.cancel(args.cancel)}\n")
        return 0
    for run in client.runs.live():
        idle = f"{time.time() - run['lastInputAt']:.0f}s" if run.get("lastInputAt") else "-"
        out.write(f"{run['id']}  {run['sessionId']}  {run['status']:<9} idle {idle:>7}  {run['createdAt']}\n")
    return 0


def _fail(message: str) -> int:
    sys.stderr.write(f"agent-sessions: error: {message}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
