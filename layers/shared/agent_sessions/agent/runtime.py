"""The `chat.agent` turn loop: boot, hooks in the reference order, turns, stop and steering, idle.

One `ChatRuntime` lives for one worker invocation. Everything that must outlive it — the message
history, `chat.store`, the `.in` cursor — is in DynamoDB: the history and store in the session's
snapshot, the cursor in the last `turn-complete`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from agent_sessions import runs, sessions, store
from agent_sessions.agent.history import ChatHistory
from agent_sessions.agent.merge import merge_message
from agent_sessions.agent.messages import Chunk, MessageAccumulator, UIMessage, invalid_message_reason
from agent_sessions.agent.models.base import Model, stream_text
from agent_sessions.agent.models.tools import Tool
from agent_sessions.agents import Outcome
from agent_sessions.ids import new_record_id
from agent_sessions.models import CloseSessionBody
from agent_sessions.observability import logger
from agent_sessions.run_context import InputRecord, RunContext

DEFER_TIMEOUT_SECONDS = 5.0
MAX_TURNS = 100
WATCH_INTERVAL_SECONDS = 0.05

current_runtime: contextvars.ContextVar[ChatRuntime | None] = contextvars.ContextVar(
    "chat_runtime", default=None
)


class AbortSignal:
    """Set when the turn is stopped (`{kind:"stop"}`) or the session closes mid-turn."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    @property
    def aborted(self) -> bool:
        return self._event.is_set()

    def abort(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


@dataclass
class Compaction:
    """Replace all but the last `keep_last` messages with a summary when `should_compact` says so."""

    should_compact: Callable[[list[UIMessage]], bool]
    summarize: Callable[[list[UIMessage]], str]
    keep_last: int = 4


@dataclass
class PendingMessages:
    """Steering: messages sent mid-turn are injected between model steps when `should_inject` agrees."""

    should_inject: Callable[[UIMessage], bool] = lambda _message: True


@dataclass
class Turn:
    """What `run` receives for one turn."""

    chat_id: str
    run_id: str
    turn: int
    trigger: str
    messages: list[UIMessage]
    message: UIMessage | None
    client_data: Any
    metadata: dict[str, Any]
    signal: AbortSignal
    continuation: bool
    previous_run_id: str | None
    preloaded: bool
    _steering: Callable[[], list[UIMessage]] = field(repr=False, default=lambda: [])

    def stream_text(
        self, model: Model, *, tools: Iterable[Tool] = (), system: str | None = None, max_steps: int = 5
    ) -> Iterable[Chunk]:
        """Stream the model's answer to this turn's messages, running tools, honouring stop and steering."""
        return stream_text(
            model,
            self.messages,
            tools=list(tools),
            system=system,
            max_steps=max_steps,
            signal=self.signal,
            pending=self._steering,
        )


@dataclass
class ChatEvent:
    """The argument of every lifecycle hook; fields that do not apply to a hook are None."""

    chat_id: str
    run_id: str
    messages: list[UIMessage]
    client_data: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    message: UIMessage | None = None
    trigger: str | None = None
    turn: int | None = None
    continuation: bool = False
    previous_run_id: str | None = None
    phase: str | None = None
    action: Any = None
    response: UIMessage | None = None
    stopped: bool = False
    error: BaseException | None = None


@dataclass
class AgentDefinition:
    id: str
    run: Callable[[Turn], Any] | None = None
    idle_timeout_in_seconds: float | None = None
    """Warm wait after a turn before suspending: this, else the session's `idleTimeoutInSeconds`, else 30."""
    client_data_schema: type[BaseModel] | None = None
    action_schema: type[BaseModel] | None = None
    hydrate_messages: Callable[[ChatEvent], Any] | None = None
    on_preload: Callable[[ChatEvent], Any] | None = None
    on_chat_start: Callable[[ChatEvent], Any] | None = None
    on_validate_messages: Callable[[ChatEvent], Any] | None = None
    on_turn_start: Callable[[ChatEvent], Any] | None = None
    on_turn_complete: Callable[[ChatEvent], Any] | None = None
    on_chat_suspend: Callable[[ChatEvent], Any] | None = None
    on_action: Callable[[ChatEvent], Any] | None = None
    compaction: Compaction | None = None
    pending_messages: PendingMessages | None = None
    max_turns: int = MAX_TURNS

    def __call__(self, ctx: RunContext) -> Outcome:
        return ChatRuntime(self, ctx).run()


class TurnError(Exception):
    """Raised inside a turn; becomes an `error` chunk and an error `turn-complete`."""


class ChatRuntime:
    def __init__(self, definition: AgentDefinition, ctx: RunContext) -> None:
        self.definition = definition
        self.ctx = ctx
        self.messages: list[UIMessage] = []
        self.store: dict[str, Any] = {}
        self.history = ChatHistory(ctx.session_id)
        self.queue: deque[InputRecord] = deque()
        self.steering: list[InputRecord] = []
        self.injected: list[int] = []
        self.defers: list[Future[Any]] = []
        self.upgrade_requested = False
        self.end_requested = False
        self.close_reason: str | None = None
        self.turns = 0
        self.previous_run_id = ctx.payload.get("previousRunId")
        self.continuation = bool(ctx.payload.get("continuation")) or ctx.attempt > 0
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"defer-{ctx.run_id}")
        self._lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle

    def run(self) -> Outcome:
        token = current_runtime.set(self)
        try:
            self._boot()
            while True:
                if (
                    self.close_reason is not None
                    or self.end_requested
                    or self.turns >= self.definition.max_turns
                ):
                    return self._exit()
                if self.ctx.near_deadline():
                    return "continue"
                record = self._next_input()
                if isinstance(record, str):
                    return record
                self._dispatch(record)
                if self.upgrade_requested:
                    return "done"
        finally:
            current_runtime.reset(token)
            self._executor.shutdown(wait=False)
            self._loop.close()

    def _boot(self) -> None:
        self._load()
        payload = self.ctx.payload
        if not self.ctx.first_invocation:
            return
        if payload.get("trigger") == "preload" and not self.continuation:
            self._hook(
                self.definition.on_preload,
                self._event(
                    metadata=payload.get("metadata") or {}, client_data=self._client_data_or_none(payload)
                ),
            )
        elif payload.get("trigger") == "submit-message" and payload.get("message") and not self.continuation:
            self._turn(None, payload)

    def _next_input(self) -> InputRecord | Outcome:
        if self.queue:
            return self.queue.popleft()
        idle = self.definition.idle_timeout_in_seconds
        arrived = self.ctx.wait_input(idle if idle is not None else self.ctx.idle_timeout_seconds)
        if not arrived:
            if self.ctx.near_deadline():
                return "continue"
            phase = "turn" if self.turns else ("continuation" if self.continuation else "preload")
            self._hook(self.definition.on_chat_suspend, self._event(phase=phase))
            outcome, arrived = self.ctx.idle_outcome()
            if not arrived:
                return outcome
        self.queue.extend(arrived)
        return self.queue.popleft()

    def _dispatch(self, record: InputRecord) -> None:
        chunk = record.chunk if isinstance(record.chunk, dict) else {}
        if chunk.get("kind") != "message":
            return  # a stop with no turn running, or an input kind this runtime does not handle
        payload = chunk.get("payload") or {}
        if not isinstance(payload, dict):
            # answered as a malformed message (error + turn-complete), not by failing the whole run
            self._turn(record.seq, {"trigger": "submit-message", "message": payload})
            return
        trigger = payload.get("trigger")
        if trigger == "close":
            self.end_requested = True
        elif trigger == "action":
            self._action(record.seq, payload)
        elif trigger in ("submit-message", "regenerate-message"):
            self._turn(record.seq, payload)

    def _exit(self) -> Outcome:
        if self.close_reason is not None:
            self.ctx.out.write_control("session-closed", session_closed_reason=self.close_reason or None)
            self.ctx.out.flush()
            session = store.get_session_item(self.ctx.session_pk)
            if session is not None:
                sessions.close(
                    session, CloseSessionBody(reason=self.close_reason or None, callingRunId=self.ctx.run_id)
                )
        return "done"

    # ------------------------------------------------------------ turns

    def _turn(self, seq: int | None, payload: dict[str, Any]) -> None:
        definition = self.definition
        signal = AbortSignal()
        metadata = dict(payload.get("metadata") or {})
        incoming = payload.get("message")
        trigger = str(payload.get("trigger"))
        accumulator = MessageAccumulator(f"msg_{new_record_id()}")
        watcher = _InputWatcher(self, signal)
        error: BaseException | None = None
        index = self.turns
        first_of_chat = index == 0 and not self.continuation and not self.messages
        self.ctx.begin_turn(seq)
        self.turns += 1
        watcher.start()
        try:
            if incoming is not None and (reason := invalid_message_reason(incoming)) is not None:
                # refused before it reaches history: stored there, it would fail every later turn
                raise TurnError(f"Invalid message: {reason}")
            client_data = self._client_data(metadata)
            event = self._event(
                metadata=metadata, client_data=client_data, message=incoming, trigger=trigger, turn=index
            )
            if incoming is not None and definition.on_validate_messages is not None:
                validated = self._hook(definition.on_validate_messages, event)
                if isinstance(validated, dict):
                    incoming = event.message = validated
            if self.upgrade_requested:
                watcher.stop()
                self._upgrade()
                return
            self._hydrate(event, incoming, trigger)
            event.messages = self.messages
            if first_of_chat:
                self._hook(definition.on_chat_start, event)
            self._hook(definition.on_turn_start, event)
            if self.upgrade_requested:
                watcher.stop()
                self._upgrade()
                return
            turn = Turn(
                chat_id=self.ctx.chat_id,
                run_id=self.ctx.run_id,
                turn=index,
                trigger=trigger,
                messages=list(self.messages),
                message=incoming,
                client_data=client_data,
                metadata=metadata,
                signal=signal,
                continuation=self.continuation,
                previous_run_id=self.previous_run_id,
                preloaded=self.ctx.payload.get("trigger") == "preload",
                _steering=self._take_steering,
            )
            result = definition.run(turn) if definition.run is not None else None
            self._pipe(result, accumulator, signal)
        except store.RunSuperseded:
            raise
        except Exception as exc:
            error = exc
            logger.warning("turn failed", extra={"run_id": self.ctx.run_id, "error": type(exc).__name__})
            self._write({"type": "error", "errorText": str(exc) or type(exc).__name__}, accumulator)
        finally:
            watcher.stop()
        if self.upgrade_requested:
            return
        self._requeue_steering()
        answered = max([s for s in (seq, watcher.stop_seq, *self.injected) if s is not None], default=None)
        self.injected = []
        accumulator.close_open_parts()
        if accumulator.message["parts"]:
            self.messages.append(accumulator.message)
        self._await_defers()
        self._compact(accumulator)
        self.ctx.complete_turn(answered, error=error is not None, closed_reason=self.close_reason)
        done = self._event(
            response=accumulator.message,
            stopped=signal.aborted,
            error=error,
            turn=index,
            trigger=trigger,
            metadata=metadata,
            message=incoming,
        )
        self._safe_hook(definition.on_turn_complete, done)
        self._save()

    def _action(self, seq: int, payload: dict[str, Any]) -> None:
        """Actions are not turns: only hydrate and `on_action` run, and the turn-complete has no token."""
        accumulator = MessageAccumulator(f"msg_{new_record_id()}")
        error: BaseException | None = None
        self.ctx.begin_turn(seq)
        try:
            action = payload.get("action")
            if self.definition.action_schema is not None:
                try:
                    action = self.definition.action_schema.model_validate(action)
                except ValidationError as exc:
                    raise TurnError(f"Invalid action: {exc.errors()[0].get('msg')}") from exc
            event = self._event(action=action, metadata=dict(payload.get("metadata") or {}), trigger="action")
            self._hydrate(event, None, "action")
            event.messages = self.messages
            result = self._hook(self.definition.on_action, event)
            self._pipe(result, accumulator, AbortSignal())
        except store.RunSuperseded:
            raise
        except Exception as exc:
            error = exc
            self._write({"type": "error", "errorText": str(exc) or type(exc).__name__}, accumulator)
        if accumulator.message["parts"]:
            self.messages.append(accumulator.message)
        self._await_defers()
        self.ctx.complete_turn(seq, error=error is not None, with_token=False)
        self._save()

    def _hydrate(self, event: ChatEvent, incoming: UIMessage | None, trigger: str) -> None:
        """Fold this turn's incoming message into history: a message whose id is already there is
        merged into it (`merge.merge_message`), a new one appended. A `hydrate_messages` hook's list
        replaces history and only gets the merge: the hook decides which messages exist."""
        hydrated = None
        if self.definition.hydrate_messages is not None:
            hydrated = self._hook(self.definition.hydrate_messages, event)
        if isinstance(hydrated, list):
            self.messages = list(hydrated)
        elif trigger == "regenerate-message":
            while self.messages and self.messages[-1].get("role") != "user":
                self.messages.pop()
        if incoming is None:
            return
        for i, existing in enumerate(self.messages):
            if existing.get("id") == incoming.get("id"):
                self.messages[i] = merge_message(existing, incoming)
                return
        if not isinstance(hydrated, list):
            self.messages.append(incoming)

    def _client_data(self, metadata: dict[str, Any]) -> Any:
        schema = self.definition.client_data_schema
        if schema is None:
            return metadata
        try:
            return schema.model_validate(metadata)
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            raise TurnError(f"Invalid client data: {details}") from exc

    def _client_data_or_none(self, payload: dict[str, Any]) -> Any:
        try:
            return self._client_data(dict(payload.get("metadata") or {}))
        except TurnError:
            return None

    # ------------------------------------------------------------ output

    def _pipe(self, result: Any, accumulator: MessageAccumulator, signal: AbortSignal) -> None:
        """Write whatever `run`/`on_action` produced: chunks, strings, (async) iterables of them."""
        started = False
        text_id: str | None = None
        finished = False
        for item in self._iterate(result):
            if signal.aborted:
                break
            if isinstance(item, str):
                if not started:
                    started = self._start(accumulator)
                if text_id is None:
                    text_id = new_record_id()
                    self._write({"type": "text-start", "id": text_id}, accumulator)
                self._write({"type": "text-delta", "id": text_id, "delta": item}, accumulator)
                continue
            if not isinstance(item, dict) or "type" not in item:
                raise TurnError(f"run produced {type(item).__name__}, expected UI-message chunks or text")
            if item["type"] == "start":
                started = True
            elif not started:
                started = self._start(accumulator)
            finished = finished or item["type"] == "finish"
            self._write(item, accumulator)
        if text_id is not None:
            self._write({"type": "text-end", "id": text_id}, accumulator)
        if started and not finished:
            self._write({"type": "finish"}, accumulator)

    def _start(self, accumulator: MessageAccumulator) -> bool:
        self._write({"type": "start", "messageId": accumulator.message["id"]}, accumulator)
        return True

    def _iterate(self, result: Any) -> Iterable[Any]:
        if inspect.isawaitable(result):
            result = self._loop.run_until_complete(_awaited(result))
        if result is None:
            return
        if isinstance(result, str | dict):
            yield result
            return
        if hasattr(result, "__aiter__"):
            iterator = result.__aiter__()
            while True:
                try:
                    yield self._loop.run_until_complete(iterator.__anext__())
                except StopAsyncIteration:
                    return
        yield from result

    def _write(self, chunk: Chunk, accumulator: MessageAccumulator) -> None:
        accumulator.add(chunk)
        self.ctx.out.write_chunk(chunk)

    # ------------------------------------------------------------ hooks, defer, steering

    def _event(self, **fields: Any) -> ChatEvent:
        return ChatEvent(
            chat_id=self.ctx.chat_id,
            run_id=self.ctx.run_id,
            messages=self.messages,
            continuation=self.continuation,
            previous_run_id=self.previous_run_id,
            **fields,
        )

    def _hook(self, hook: Callable[[ChatEvent], Any] | None, event: ChatEvent) -> Any:
        if hook is None:
            return None
        result = hook(event)
        if inspect.isawaitable(result):
            result = self._loop.run_until_complete(_awaited(result))
        return result

    def _safe_hook(self, hook: Callable[[ChatEvent], Any] | None, event: ChatEvent) -> None:
        try:
            self._hook(hook, event)
        except Exception:
            logger.exception("on_turn_complete failed", extra={"run_id": self.ctx.run_id})

    def defer(self, work: Any) -> Future[Any]:
        context = contextvars.copy_context()
        if inspect.isawaitable(work):
            future = self._executor.submit(context.run, asyncio.run, _awaited(work))
        else:
            future = self._executor.submit(context.run, work)
        with self._lock:
            self.defers.append(future)
        return future

    def _await_defers(self) -> None:
        with self._lock:
            pending, self.defers = self.defers, []
        if pending:
            wait_futures(pending, timeout=DEFER_TIMEOUT_SECONDS)

    def _take_steering(self) -> list[UIMessage]:
        """Hand queued steering messages to the model loop; they become part of this turn's answer."""
        with self._lock:
            taken, self.steering = self.steering, []
        messages = [record.chunk["payload"]["message"] for record in taken]
        self.messages.extend(messages)
        self.injected.extend(record.seq for record in taken)
        return messages

    def _requeue_steering(self) -> None:
        """Steering messages the turn ended before injecting run as the next turns, in order."""
        with self._lock:
            left, self.steering = self.steering, []
        self.queue.extendleft(reversed(left))

    def on_mid_turn_input(self, record: InputRecord, signal: AbortSignal) -> int | None:
        """Called by the watcher for each record that arrives mid-turn; returns a stop's seq."""
        chunk = record.chunk if isinstance(record.chunk, dict) else {}
        if chunk.get("kind") == "stop":
            signal.abort("stop")
            return record.seq
        payload = chunk.get("payload") or {}
        if chunk.get("kind") == "message" and payload.get("trigger") == "close":
            signal.abort("close")
            self.end_requested = True
            return record.seq
        message = payload.get("message")
        policy = self.definition.pending_messages
        is_message = payload.get("trigger") == "submit-message" and isinstance(message, dict)
        if is_message and policy is not None and policy.should_inject(dict(message or {})):
            with self._lock:
                self.steering.append(record)
            return None
        self.queue.append(record)
        return None

    def _compact(self, accumulator: MessageAccumulator) -> None:
        compaction = self.definition.compaction
        if compaction is None or not compaction.should_compact(self.messages):
            return
        keep = self.messages[-compaction.keep_last :] if compaction.keep_last else []
        older = self.messages[: len(self.messages) - len(keep)]
        if not older:
            return
        summary = compaction.summarize(older)
        self.messages = [
            {
                "id": f"summary_{new_record_id()}",
                "role": "system",
                "parts": [{"type": "text", "text": summary}],
            },
            *keep,
        ]
        self.ctx.out.write_chunk(
            {"type": "data-compaction", "data": {"summarized": len(older)}, "transient": True}
        )

    # ------------------------------------------------------------ run control

    def _upgrade(self) -> None:
        """Hand the unanswered message to a new run, which the server swaps in atomically."""

        def announce() -> None:
            self.ctx.out.write_control("upgrade-required")
            self.ctx.out.flush()

        session = store.get_session_item(self.ctx.session_pk)
        if session is not None:
            runs.end_and_continue(session, self.ctx.run_id, "upgrade", before_launch=announce)

    # ------------------------------------------------------------ persistence

    def _load(self) -> None:
        self.messages, self.store = self.history.load()

    def _save(self) -> None:
        try:
            self.history.save(self.messages, self.store, self.ctx.cursor)
        except store.HistoryConflict:
            # Another run saved this chat since we loaded it: this run is superseded, and its
            # view of the history must not overwrite the current run's. Adopt what is stored.
            logger.warning("history saved by another run; reloading", extra={"run_id": self.ctx.run_id})
            self._load()


class _InputWatcher:
    """Reads `.in` while a turn runs, so stops abort it and new messages queue or steer."""

    def __init__(self, runtime: ChatRuntime, signal: AbortSignal) -> None:
        self.runtime = runtime
        self.signal = signal
        self.stop_seq: int | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="turn-input-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._done.wait(WATCH_INTERVAL_SECONDS):
            try:
                for record in self.runtime.ctx.poll_input():
                    seq = self.runtime.on_mid_turn_input(record, self.signal)
                    if seq is not None:
                        self.stop_seq = seq
            except Exception:
                logger.exception("watching input failed", extra={"run_id": self.runtime.ctx.run_id})


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
