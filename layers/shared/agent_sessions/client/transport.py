"""`ChatTransport`: the Python twin of `TriggerChatTransport`, speaking the same wire protocol.

It keeps, per chat, the state the TypeScript transport persists (`public_access_token`,
`last_event_id`, ...), starts sessions lazily through your `start_session` callback, appends user
messages to `.in` and returns the turn's UI-message chunks from `.out` as a `ChatStream`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, cast

import httpx

from agent_sessions.client._http import HttpCore, session_path
from agent_sessions.client.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    SessionClosedError,
)
from agent_sessions.client.sse import RecordStream
from agent_sessions.client.types import ChatSessionState, Record, StartSessionResult, TriggeredEvent
from agent_sessions.ui_messages import TextDeltaChunk, UIMessageChunk

StartSession = Callable[[dict[str, Any]], StartSessionResult | Mapping[str, Any]]
AccessToken = Callable[[str], str]
SessionChange = Callable[[str, ChatSessionState | None], None]
OnTriggered = Callable[[TriggeredEvent], None]
RUN_HEADER = "turn-run-id"
"""On a turn's first `.out` record: the run answering it (`streams.RUN_HEADER` on the server)."""
RUN_REASON_HEADER = "turn-run-reason"


class ChatStream:
    """One turn's UI-message chunks (the `ReadableStream<UIMessageChunk>` the TS transport's
    `sendMessages` returns). Iterate it: each item is an AI SDK chunk dict (`{"type": "text-delta",
    "id", "delta"}`, `tool-input-available`, `error`, ...); it ends at the turn's `turn-complete`, or
    at `session-closed`. Afterwards `completed` (the turn completed), `closed_session` and `chunks`
    (everything yielded) describe it.

    Iterating raises what the reader raises: `StreamEnded` (no progress within the reconnect budget),
    `AuthenticationError` after one failed token refresh, `APIConnectionError`. Closing it (or leaving
    its `with` block) drops the connection; the turn keeps running on the server, and the next send or
    `reconnect` on the same chat skips or resumes it.
    """

    def __init__(
        self,
        records: RecordStream,
        since_in_seq: int | None,
        on_record: Callable[[Record], None],
        on_end: Callable[[Record | None], None],
        *,
        unread_turn_in_seq: int | None = None,
    ) -> None:
        self._records = records
        self._since = since_in_seq
        self._unread_turn = unread_turn_in_seq
        self._on_record = on_record
        self._on_end = on_end
        self._iterator: Iterator[UIMessageChunk] | None = None
        self.completed = False
        self.closed_session = False
        self.chunks: list[UIMessageChunk] = []

    def __iter__(self) -> Iterator[UIMessageChunk]:
        if self._iterator is None:
            self._iterator = self._chunks()
        return self._iterator

    def _chunks(self) -> Iterator[UIMessageChunk]:
        end: Record | None = None
        # A previous turn that was left unread (its stream closed early, e.g. by Ctrl-C after a stop)
        # is replayed from the saved cursor before this one: hold chunks until its turn-complete and
        # drop them there, so they are never shown as this turn's reply.
        held: list[Any] | None = [] if self._unread_turn is not None else None
        try:
            for record in self._records:
                self._on_record(record)
                if record.is_command:
                    continue
                control = record.control
                if control == "turn-complete":
                    answered = record.header("session-in-event-id")
                    if self._since is not None and answered is not None and int(answered) < self._since:
                        if held is not None:  # a previous turn's boundary: what came before is its reply
                            held = [] if int(answered) < (self._unread_turn or 0) else None
                        continue
                    yield from self._release(held)
                    self.completed, end = True, record
                    return
                if control == "session-closed":
                    yield from self._release(held)
                    self.closed_session, end = True, record
                    return
                if control:
                    continue
                chunk = record.chunk
                if chunk is None or (
                    isinstance(chunk, dict) and str(chunk.get("type", "")).startswith("trigger:")
                ):
                    continue
                if held is not None:
                    held.append(chunk)
                    continue
                self.chunks.append(cast(UIMessageChunk, chunk))  # as the agent wrote it
                yield cast(UIMessageChunk, chunk)
            yield from self._release(held)
            self.completed = self._records.settled
        finally:
            self._on_end(end)

    def _release(self, held: list[Any] | None) -> Iterator[UIMessageChunk]:
        """Held chunks that no earlier boundary claimed are this turn's (e.g. both inputs answered
        by one turn): yield them rather than lose them."""
        for chunk in held or ():
            self.chunks.append(chunk)
            yield chunk

    def text(self) -> str:
        """Read the turn to its end and return the reply's text (its `text-delta`s joined; TS
        `text()` on `AgentChat`'s stream). Raises
        what iterating raises."""
        for _ in self:
            pass
        return "".join(_text_delta(c) for c in self.chunks)

    def close(self) -> None:
        """Drop the connection; safe to call twice or before iterating."""
        if self._iterator is not None and hasattr(self._iterator, "close"):
            self._iterator.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text_delta(chunk: UIMessageChunk) -> str:
    if not isinstance(chunk, dict) or chunk.get("type") != "text-delta":  # `.out` may hold any JSON
        return ""
    return str(cast(TextDeltaChunk, chunk)["delta"])


class ChatTransport:
    """The Python twin of the TS SDK's `TriggerChatTransport`: one per agent (`task`), many chats,
    each addressed by its chat id (the session's external id).

    `access_token(chat_id) -> str` mints a token scoped to the chat (read + write), called on a 401/403
    and when no `start_session` is given. `start_session({"chat_id", "task_id", "client_data"})` creates
    the session on your server (see `Sessions.create_start_session_action`) and is called once per
    chat, lazily, even when sends race. `sessions` restores persisted `ChatSessionState`s;
    `on_session_change(chat_id, state)` is called on every change (persist it);
    `on_turn_complete(chat_id, state)` after each completed turn. `client_data` is merged into every
    message's `metadata`. `stream_timeout_seconds` is the server's long-poll window per SSE
    connection. `adopt_turn_tokens=False` keeps your token instead of the fresh one each
    `turn-complete` carries. `base_url` defaults through `agent_sessions.client.discovery`; pass
    `http=` to share an `httpx.Client`. Thread-safe per chat for sends racing a first start.
    """

    def __init__(
        self,
        task: str,
        *,
        access_token: AccessToken,
        start_session: StartSession | None = None,
        base_url: str | None = None,
        client_data: Mapping[str, Any] | None = None,
        sessions: Mapping[str, ChatSessionState | Mapping[str, Any]] | None = None,
        on_session_change: SessionChange | None = None,
        on_turn_complete: Callable[[str, ChatSessionState], None] | None = None,
        stream_timeout_seconds: int = 120,
        adopt_turn_tokens: bool = True,
        http: httpx.Client | None = None,
        on_triggered: OnTriggered | None = None,
    ) -> None:
        self.task = task
        self._access_token = access_token
        self._start_session = start_session
        self._core = HttpCore(base_url, http, timeout=60.0)
        self.client_data = dict(client_data or {})
        self._states: dict[str, ChatSessionState] = {
            chat_id: ChatSessionState.model_validate(state) for chat_id, state in (sessions or {}).items()
        }
        self.on_session_change = on_session_change
        self.on_turn_complete = on_turn_complete
        self.stream_timeout_seconds = stream_timeout_seconds
        self._adopt_tokens = adopt_turn_tokens
        self._lock = threading.Lock()
        self._starting: dict[str, Future[ChatSessionState]] = {}
        self.on_triggered = on_triggered
        self._runs: dict[str, str] = {}
        """The newest run each chat is known to have (reported through `on_triggered` once)."""

    # ------------------------------------------------------------ state

    def get_session(self, chat_id: str) -> ChatSessionState | None:
        """The chat's persistable state, or None before its session started (TS `getSession`)."""
        return self._states.get(chat_id)

    def set_session(self, chat_id: str, state: ChatSessionState | Mapping[str, Any]) -> None:
        """Adopt a persisted state for the chat (TS `setSession`); a mapping is validated, raising
        `pydantic.ValidationError` when malformed."""
        self._set(chat_id, ChatSessionState.model_validate(state))

    def session_status(self, chat_id: str) -> str:
        """`"closed"` once the chat's session is known closed, else `"open"` (TS `sessionStatus`)."""
        state = self._states.get(chat_id)
        return "closed" if state is not None and state.closed else "open"

    def _set(self, chat_id: str, state: ChatSessionState) -> None:
        self._states[chat_id] = state
        if self.on_session_change is not None:
            self.on_session_change(chat_id, state)

    def _update(self, chat_id: str, **changes: Any) -> ChatSessionState:
        state = self._states[chat_id].model_copy(update=changes)
        self._set(chat_id, state)
        return state

    # ------------------------------------------------------------ sessions

    def preload(self, chat_id: str) -> ChatSessionState:
        """Start the session (and its first run) before the first message, so the agent boots while
        the user types (TS `preload`). Returns the state; a chat already started is left as is.
        Raises what `start_session` raises."""
        return self._ensure_session(chat_id)

    def _ensure_session(self, chat_id: str) -> ChatSessionState:
        state = self._states.get(chat_id)
        if state is not None:
            return state
        return self._start(chat_id)

    def _start(self, chat_id: str) -> ChatSessionState:
        """Call `start_session` once per chat even when sends race: later callers wait for the first."""
        with self._lock:
            pending = self._starting.get(chat_id)
            owner = pending is None
            if owner:
                pending = self._starting[chat_id] = Future()
        assert pending is not None
        if not owner:
            return pending.result()
        try:
            if self._start_session is None:
                token = self._access_token(chat_id)
                state = ChatSessionState(public_access_token=token)
            else:
                result = self._start_session(
                    {"chat_id": chat_id, "task_id": self.task, "client_data": self.client_data}
                )
                parsed = (
                    StartSessionResult.model_validate(result)
                    if not isinstance(result, StartSessionResult)
                    else result
                )
                previous = self._states.get(chat_id)
                state = ChatSessionState(
                    public_access_token=parsed.public_access_token,
                    last_event_id=previous.last_event_id if previous else None,
                )
            self._set(chat_id, state)
            pending.set_result(state)
            if self._start_session is not None:
                self._triggered(chat_id, parsed.run_id, "initial")
            return state
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._starting.pop(chat_id, None)

    # ------------------------------------------------------------ sending

    def send_message(
        self, chat_id: str, message: str | Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None
    ) -> ChatStream:
        """Append a user message to the chat's `.in` and return the stream of the turn that answers
        it (TS `sendMessages` with trigger `submit-message`). `message` is text or a whole AI SDK
        `UIMessage` dict (`{"id", "role": "user", "parts": [...]}`); `metadata` is merged over
        `client_data`. Starts the session first when needed. The append keeps one part id across its
        retries (one token refresh on 401/403, one session restart on 404), so it lands once.
        Raises `SessionClosedError` (also when the state already says closed),
        `PayloadTooLargeError` over 1 MiB, `AuthenticationError` / `PermissionDeniedError` after the
        refresh, `APIConnectionError`."""
        ui_message = (
            {
                "id": f"msg_{uuid.uuid4().hex[:16]}",
                "role": "user",
                "parts": [{"type": "text", "text": message}],
            }
            if isinstance(message, str)
            else dict(message)
        )
        return self._send(chat_id, {"message": ui_message, "trigger": "submit-message"}, metadata)

    def send_action(
        self, chat_id: str, action: Any, *, metadata: Mapping[str, Any] | None = None
    ) -> ChatStream:
        """Send a custom action (any JSON value the agent's `actions` schema accepts) and stream the
        turn that answers it (TS `sendAction`). Raises as `send_message`."""
        return self._send(chat_id, {"trigger": "action", "action": action}, metadata)

    def _send(self, chat_id: str, fields: dict[str, Any], metadata: Mapping[str, Any] | None) -> ChatStream:
        """Append a `kind:"message"` input (client data merged into its metadata) and stream the turn."""
        payload: dict[str, Any] = {**fields, "chatId": chat_id}
        merged = {**self.client_data, **dict(metadata or {})}
        if merged:
            payload["metadata"] = merged
        state = self._ensure_session(chat_id)
        unread_turn = (state.active_input_seq or 0) if state.is_streaming else None
        if state.closed:
            raise SessionClosedError(
                409,
                {
                    "error": "The chat is closed",
                    "code": "session_closed",
                    "closedReason": state.closed_reason,
                },
            )
        seq = self._append(chat_id, {"kind": "message", "payload": payload})
        self._update(chat_id, active_input_seq=seq, is_streaming=True)
        return self._stream(chat_id, since_in_seq=seq, unread_turn_in_seq=unread_turn)

    def stop(self, chat_id: str) -> bool:
        """Stop the chat's current generation (TS `stopGeneration`): appends `{kind: "stop"}`; the
        agent keeps the partial answer, ends the turn with `turn-complete` and stays alive. Read the
        turn's stream to that end. Returns False for a chat this transport never started. Raises
        as `send_message`."""
        if chat_id not in self._states:
            return False
        self._append(chat_id, {"kind": "stop"})
        return True

    def _append(self, chat_id: str, body: dict[str, Any]) -> int:
        """401/403: one token refresh; 404: recreate via start_session; each retry keeps the part id."""
        part_id = str(uuid.uuid4())
        content = json.dumps(body, separators=(",", ":"))
        refreshed = recreated = False
        while True:
            token = self._states[chat_id].public_access_token
            try:
                response = self._core.request(
                    "POST",
                    f"/realtime/v1/sessions/{session_path(chat_id)}/in/append",
                    token=token,
                    content=content,
                    headers={"x-part-id": part_id, "x-trigger-source": "sdk"},
                )
                return int(response["seq"])
            except (AuthenticationError, PermissionDeniedError):
                if refreshed:
                    raise
                refreshed = True
                self._update(chat_id, public_access_token=self._access_token(chat_id))
            except NotFoundError:
                if recreated or self._start_session is None:
                    raise
                recreated = True
                self._states.pop(chat_id, None)
                self._start(chat_id)
            except SessionClosedError as exc:
                self._update(
                    chat_id,
                    closed=True,
                    closed_reason=exc.closed_reason,
                    is_streaming=False,
                    active_input_seq=None,
                )
                raise

    # ------------------------------------------------------------ reading

    def reconnect(self, chat_id: str) -> ChatStream | None:
        """Resume reading a turn that was streaming (e.g. after a restart, from a persisted state),
        from the saved `last_event_id` (TS `reconnectToStream`). None when nothing is streaming or the
        chat is closed; the server also answers at once when the session is settled."""
        state = self._states.get(chat_id)
        if state is None or state.closed or not state.is_streaming:
            return None
        return self._stream(
            chat_id, since_in_seq=state.active_input_seq, peek_settled=state.active_input_seq is None
        )

    def _stream(
        self,
        chat_id: str,
        *,
        since_in_seq: int | None,
        peek_settled: bool = False,
        unread_turn_in_seq: int | None = None,
    ) -> ChatStream:
        state = self._states[chat_id]
        records = RecordStream(
            self._core.http,
            self._core.url(f"/realtime/v1/sessions/{session_path(chat_id)}/out"),
            lambda: self._states[chat_id].public_access_token,
            cursor=int(state.last_event_id) if state.last_event_id is not None else None,
            timeout_seconds=self.stream_timeout_seconds,
            max_empty_windows=5,
            peek_settled=peek_settled,
            refresh_token=lambda: (
                self._update(chat_id, public_access_token=self._access_token(chat_id)).public_access_token
            ),
        )
        cursor: dict[str, str | None] = {"last": state.last_event_id}

        def on_record(record: Record) -> None:
            cursor["last"] = str(record.seq)
            run_id = record.header(RUN_HEADER)
            if run_id:
                self._triggered(chat_id, run_id, record.header(RUN_REASON_HEADER) or "continuation")

        def on_end(end: Record | None) -> None:
            if end is None:
                if records.settled:
                    self._update(
                        chat_id, is_streaming=False, active_input_seq=None, last_event_id=cursor["last"]
                    )
                return
            changes: dict[str, Any] = {
                "is_streaming": False,
                "active_input_seq": None,
                "last_event_id": cursor["last"],
            }
            token = end.header("public-access-token")
            if token and self._adopt_tokens:
                changes["public_access_token"] = token
            if end.control == "session-closed" or end.header("session-closed") == "true":
                changes.update(closed=True, closed_reason=end.header("session-closed-reason"))
            updated = self._update(chat_id, **changes)
            if end.control == "turn-complete" and self.on_turn_complete is not None:
                self.on_turn_complete(chat_id, updated)

        return ChatStream(records, since_in_seq, on_record, on_end, unread_turn_in_seq=unread_turn_in_seq)

    def _triggered(self, chat_id: str, run_id: str, reason: str) -> None:
        """Report a run this chat has not reported yet (`on_triggered`)."""
        with self._lock:
            if self._runs.get(chat_id) == run_id:
                return
            self._runs[chat_id] = run_id
        if self.on_triggered is not None:
            self.on_triggered(TriggeredEvent(chat_id=chat_id, run_id=run_id, reason=reason))

    def close(self) -> None:
        """Close the HTTP client, unless it was passed in as `http=`."""
        self._core.close()

    def __enter__(self) -> ChatTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
