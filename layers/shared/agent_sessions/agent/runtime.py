"""The `chat.agent` turn loop: boot, hooks in the reference order, turns, actions, idle and exit.

One `ChatRuntime` lives for one worker invocation. Everything that must outlive it — the message
history, `chat.store`, the `.in` cursor — is in DynamoDB: the history and store in the session's
snapshot (`history.ChatHistory`), the cursor in the last `turn-complete`. Beside the history it
saves the run state: `chat.inject`'s queue (`inject`), `chat.local` values (`local_state`) and
whether the run suspended; it is saved after every turn and before the run suspends, hands over
or exits, so deferred work that injects during the idle wait reaches the next turn of this run or
of a continuation.

Hook order (the reference's): a fresh run (first run, continuation, retry attempt) boots with
`on_boot` → `on_recovery_boot` (only after a turn was interrupted: `recovery_boot`) → `on_preload`
(preloaded first runs); a run woken from a suspend starts with `on_chat_resume`. A turn:
`on_validate_messages` → `hydrate_messages` → `on_chat_start` (first turn of a chat) →
`on_turn_start` → `run` → deferred work → compaction → `on_compacted` → `on_before_turn_complete` →
`turn-complete` → `on_turn_complete`. Idle: `on_chat_suspend` → suspend.

The concerns around the loop live beside it: the public types (`types`), piping `run`'s output onto
`.out` (`output`), calling hooks and deferred work (`hooks`), mid-turn input and steering
(`steering`, read by the `input_watcher` thread) and compaction (`compaction`).
"""

from __future__ import annotations

import contextvars
from collections import deque
from concurrent.futures import Future
from typing import Any

from pydantic import ValidationError

from agent_sessions import runs, sessions, store
from agent_sessions.agent import budget
from agent_sessions.agent.compaction import compact
from agent_sessions.agent.hooks import HookRunner
from agent_sessions.agent.inject import Injections
from agent_sessions.agent.input_watcher import InputWatcher
from agent_sessions.agent.local_state import RunLocals
from agent_sessions.agent.merge import merge_message
from agent_sessions.agent.messages import MessageAccumulator, UIMessage, invalid_message_reason
from agent_sessions.agent.output import OutputPipe
from agent_sessions.agent.recovery_boot import (
    RecoveryBootEvent,
    RecoveryBootResult,
    default_chain,
    read_interrupted,
)
from agent_sessions.agent.steering import Steering
from agent_sessions.agent.transcript_storage import history_for
from agent_sessions.agent.types import AbortSignal, AgentDefinition, ChatEvent, Turn, TurnError
from agent_sessions.agent.writer import ChatWriter
from agent_sessions.agents import Outcome
from agent_sessions.ids import new_record_id
from agent_sessions.models import CloseSessionBody
from agent_sessions.observability import logger
from agent_sessions.run_context import InputRecord, RunContext


def regenerate_from(messages: list[UIMessage], message_id: Any) -> list[UIMessage]:
    """History after `regenerate({messageId})`, cut exactly where the AI SDK client cuts its copy."""
    ids = [m.get("id") for m in messages]
    if message_id is not None and message_id in ids:
        i = ids.index(message_id)
        return messages[: i if messages[i].get("role") == "assistant" else i + 1]
    kept = list(messages)
    while kept and kept[-1].get("role") != "user":
        kept.pop()
    return kept


current_runtime: contextvars.ContextVar[ChatRuntime | None] = contextvars.ContextVar(
    "chat_runtime", default=None
)


class ChatRuntime:
    def __init__(self, definition: AgentDefinition, ctx: RunContext) -> None:
        self.definition = definition
        self.ctx = ctx
        self.messages: list[UIMessage] = []
        self.store: dict[str, Any] = {}
        self.history = history_for(
            definition.storage,
            session_id=ctx.session_id,
            chat_id=ctx.chat_id,
            run_id=ctx.run_id,
            client_data=ctx.payload.get("metadata"),
        )
        self.queue: deque[InputRecord] = deque()
        self.steering = Steering(definition.pending_messages, self.queue, replayed_through=ctx.tail.consumed)
        self.hooks = HookRunner(ctx.run_id)
        self.output = OutputPipe(ctx.out, self.hooks.resolve)
        self.upgrade_requested = False
        self.end_requested = False
        self.close_reason: str | None = None
        self.turns = 0
        self.previous_run_id = ctx.payload.get("previousRunId")
        self.continuation = bool(ctx.payload.get("continuation")) or ctx.attempt > 0
        self.preloaded = ctx.payload.get("trigger") == "preload"
        self.injections = Injections()
        self.locals = RunLocals(ctx.run_id)
        self.run_state: dict[str, Any] = {}
        """Saved beside the history: `inject`, `locals`, `suspended` (a run id), `recovered` (a seq)."""

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
                    self._settle()
                    return "continue"
                record = self._next_input()
                if isinstance(record, str):
                    return record
                self._dispatch(record)
                if self.upgrade_requested:
                    return "done"
        finally:
            self._flush_history()
            current_runtime.reset(token)
            self.hooks.close()

    def _boot(self) -> None:
        self._load()
        payload = self.ctx.payload
        if not self.ctx.first_invocation:
            if self.run_state.get("suspended") == self.ctx.run_id:
                self._resumed()
            return
        client_data = self._client_data_or_none(payload)
        self.hooks.call(
            self.definition.on_boot,
            self._event(
                metadata=payload.get("metadata") or {}, client_data=client_data, preloaded=self.preloaded
            ),
        )
        if self.continuation:
            self._recover(client_data)
        if payload.get("trigger") == "preload" and not self.continuation:
            self.hooks.call(
                self.definition.on_preload,
                self._event(
                    metadata=payload.get("metadata") or {},
                    client_data=client_data,
                    preloaded=True,
                    writer=ChatWriter(self.ctx.out),
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
                self._settle()
                return "continue"
            if self._exit_after_preload():
                arrived = self.ctx.poll_input()  # the last look before ending; see docs/agents.md
                if not arrived:
                    self._settle()
                    return "done"
                self.queue.extend(arrived)
                return self.queue.popleft()
            phase = "turn" if self.turns else ("continuation" if self.continuation else "preload")
            self.hooks.call(self.definition.on_chat_suspend, self._event(phase=phase))
            if self.definition.on_chat_resume is not None:  # only then is the marker worth a write
                self.run_state["suspended"] = self.ctx.run_id
            self._settle()
            outcome, arrived = self.ctx.idle_outcome()
            if not arrived:
                return outcome
            self._resumed()  # input came in the last look: the run goes on without suspending
        self.queue.extend(arrived)
        return self.queue.popleft()

    def _exit_after_preload(self) -> bool:
        """`exit_after_preload_idle`: a preloaded first run that never got a message ends here."""
        return (
            self.definition.exit_after_preload_idle
            and self.preloaded
            and not self.continuation
            and self.turns == 0
            and not self.messages
        )

    def _resumed(self) -> None:
        self.run_state.pop("suspended", None)
        self.hooks.call(
            self.definition.on_chat_resume, self._event(phase="turn" if self.messages else "preload")
        )

    def _settle(self) -> None:
        """Before the run suspends, hands over or ends: let deferred work finish (bounded) and save,
        so what it injected (and this run's locals) is there for whoever runs next."""
        self.hooks.await_defers()
        self._save()

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
        if self.queue:  # read, never acted on: the next run answers them
            self.ctx.give_back(self.queue[0].seq)
        self._settle()
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
        watcher = InputWatcher(self.ctx, signal, self.steering.on_input)
        consumed_before = self.ctx.cursor
        error: BaseException | None = None
        index = self.turns
        first_of_chat = index == 0 and not self.continuation and not self.messages
        # daily caps (budget.py), counted in the same request that confirms this run is current
        started = budget.start_turn(
            self.ctx.session_id, self.ctx.environment.id, fence=self.ctx.pending_fence(seq)
        )
        self.ctx.begin_turn(seq, fenced=started.fenced)
        self.turns += 1
        watcher.start()
        try:
            if started.refused is not None:
                raise started.refused
            if incoming is not None and (reason := invalid_message_reason(incoming)) is not None:
                # refused before it reaches history: stored there, it would fail every later turn
                raise TurnError(f"Invalid message: {reason}")
            client_data = self._client_data(metadata)
            event = self._event(
                metadata=metadata, client_data=client_data, message=incoming, trigger=trigger, turn=index
            )
            if incoming is not None and definition.on_validate_messages is not None:
                validated = self.hooks.call(definition.on_validate_messages, event)
                if isinstance(validated, dict):
                    incoming = event.message = validated
            if self.upgrade_requested:
                watcher.stop()
                self._upgrade()
                return
            self._hydrate(event, incoming, trigger, payload.get("messageId"))
            event.messages = self.messages
            accumulator = self._accumulator(incoming, trigger)
            if first_of_chat:
                self.hooks.call(definition.on_chat_start, event)
            self.hooks.call(definition.on_turn_start, event)
            if self.upgrade_requested:
                watcher.stop()
                self._upgrade()
                return
            self.injections.begin_turn(self.messages[-1].get("id") if self.messages else None)
            response_id = accumulator.message["id"]
            turn = Turn(
                chat_id=self.ctx.chat_id,
                run_id=self.ctx.run_id,
                turn=index,
                trigger=trigger,
                messages=self.injections.context(self.messages),
                message=incoming,
                client_data=client_data,
                metadata=metadata,
                signal=signal,
                continuation=self.continuation,
                previous_run_id=self.previous_run_id,
                preloaded=self.preloaded,
                _steering=self._take_steering,
                _injected=lambda: list(
                    self.injections.drain(response_id, conversation_only=True).conversation
                ),
                _system=self.injections.system,
            )
            result = definition.run(turn) if definition.run is not None else None
            self.output.pipe(result, accumulator, signal)
        except store.RunSuperseded:
            raise
        except Exception as exc:
            error = exc
            logger.warning("turn failed", extra={"run_id": self.ctx.run_id, "error": type(exc).__name__})
            self.output.write({"type": "error", "errorText": str(exc) or type(exc).__name__}, accumulator)
        finally:
            watcher.stop()
            budget.end_turn()
            if self.steering.close_requested:
                self.end_requested = True
        if self.upgrade_requested:
            return
        self.steering.requeue()
        delivered = watcher.delivered if watcher.delivered is not None else -1
        answered = self._answered_through(max(consumed_before, delivered))
        accumulator.close_open_parts()
        self._keep(accumulator)
        self.hooks.await_defers()
        writer = ChatWriter(self.ctx.out, accumulator)
        self._compact(index, writer)
        done = self._event(
            response=accumulator.message,
            stopped=signal.aborted,
            error=error,
            turn=index,
            trigger=trigger,
            metadata=metadata,
            message=incoming,
        )
        done.writer = writer
        self.hooks.call_safely(definition.on_before_turn_complete, done)
        done.writer = None
        if accumulator.message["parts"] and not any(m is accumulator.message for m in self.messages):
            self.messages.append(accumulator.message)
        self.ctx.complete_turn(answered, error=error is not None, closed_reason=self.close_reason)
        done.messages = self.messages
        self.hooks.call_safely(definition.on_turn_complete, done)
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
            result = self.hooks.call(self.definition.on_action, event)
            self.output.pipe(result, accumulator, AbortSignal())
        except store.RunSuperseded:
            raise
        except Exception as exc:
            error = exc
            self.output.write({"type": "error", "errorText": str(exc) or type(exc).__name__}, accumulator)
        self._keep(accumulator)
        self.hooks.await_defers()
        answered = self._answered_through(self.ctx.cursor)
        self.ctx.complete_turn(answered, error=error is not None, with_token=False)
        self._save()

    def _answered_through(self, consumed: int) -> int | None:
        """What a turn-complete names as answered (`session-in-event-id`): the highest `.in` seq
        through which every record this run consumed is answered or let go. That is just below the
        first record still waiting in the queue, else `consumed`; None before any input.

        Not the highest seq the turn answered: with a message still queued below it, a run booting
        from that would skip the queued message, and its sender's client would take this turn's
        end for its own. The queue holds every consumed record not acted on yet, and a turn
        answers nothing above one (`Steering`'s order), so no seq at or below this is answered
        twice either.
        """
        through = min(record.seq for record in self.queue) - 1 if self.queue else consumed
        return through if through >= 0 else None

    def _hydrate(
        self, event: ChatEvent, incoming: UIMessage | None, trigger: str, message_id: Any = None
    ) -> None:
        """Fold this turn's incoming message into history: a message whose id is already there is
        merged into it (`merge.merge_message`), a new one appended. A `hydrate_messages` hook's list
        replaces history and only gets the merge: the hook decides which messages exist.

        A regenerate cuts history as the AI SDK client's `regenerate({messageId})` cuts its own
        copy, so both hold the same messages afterwards: from an assistant message, that message and
        everything after it go; from a user message, everything after it. Without a `messageId` (or
        one history does not hold) the trailing assistant messages go."""
        hydrated = None
        if self.definition.hydrate_messages is not None:
            hydrated = self.hooks.call(self.definition.hydrate_messages, event)
        if isinstance(hydrated, list):
            self.messages = list(hydrated)
        elif trigger == "regenerate-message":
            self.messages = regenerate_from(self.messages, message_id)
        if incoming is None:
            return
        for i, existing in enumerate(self.messages):
            if existing.get("id") == incoming.get("id"):
                self.messages[i] = merge_message(existing, incoming)
                return
        if not isinstance(hydrated, list):
            self.messages.append(incoming)

    def _accumulator(self, incoming: UIMessage | None, trigger: str) -> MessageAccumulator:
        """The turn's assistant message. It continues the last message of history (same id, new
        parts appended) when that is an assistant message and the turn is an answer to it (the
        incoming message is that assistant message: a tool output or an approval) or a regenerate
        whose cut left it last — as the AI SDK client continues the last assistant message it holds.
        Otherwise a new message."""
        last = self.messages[-1] if self.messages else None
        if last is None or last.get("role") != "assistant":
            return MessageAccumulator(f"msg_{new_record_id()}")
        answers_it = incoming is not None and incoming.get("id") == last.get("id")
        if answers_it or trigger == "regenerate-message":
            return MessageAccumulator(str(last["id"]), continues=last)
        return MessageAccumulator(f"msg_{new_record_id()}")

    def _keep(self, accumulator: MessageAccumulator) -> None:
        """Put the turn's assistant message in history: in place of the message it continues."""
        message = accumulator.message
        if accumulator.continuing:
            for i, existing in enumerate(self.messages):
                if existing.get("id") == message["id"]:
                    self.messages[i] = message
                    return
        if message["parts"]:
            self.messages.append(message)

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

    def _event(self, **fields: Any) -> ChatEvent:
        return ChatEvent(
            chat_id=self.ctx.chat_id,
            run_id=self.ctx.run_id,
            messages=self.messages,
            continuation=self.continuation,
            previous_run_id=self.previous_run_id,
            **fields,
        )

    def _take_steering(self) -> list[UIMessage]:
        messages = self.steering.take()
        self.messages.extend(messages)
        return messages

    def _compact(self, turn: int, writer: ChatWriter) -> None:
        compacted = compact(self.messages, self.definition.compaction)
        if compacted is None:
            return
        summarized = self.messages[: compacted.summarized]
        self.messages = compacted.messages
        self.ctx.out.write_chunk(
            {"type": "data-compaction", "data": {"summarized": compacted.summarized}, "transient": True}
        )
        summary = "".join(str(p.get("text", "")) for p in compacted.messages[0].get("parts") or [])
        self.hooks.call_safely(
            self.definition.on_compacted,
            self._event(turn=turn, summary=summary, summarized=summarized, writer=writer),
        )

    # ------------------------------------------------------------ recovery boot

    def _recover(self, client_data: Any) -> None:
        """A turn was interrupted before this boot (`recovery_boot`): put it into the conversation
        (by default) and let `on_recovery_boot` decide otherwise. Once per interrupted turn."""
        if not self.ctx.tail.interrupted:
            return
        interrupted = read_interrupted(self.ctx.session_id)
        if interrupted is None or interrupted.partial is None:
            return
        if self.run_state.get("recovered") == interrupted.closed_at_seq:
            return
        later = [
            r.chunk["payload"]["message"]
            for r in self.ctx.peek_input()
            if isinstance(r.chunk, dict)
            and r.chunk.get("kind") == "message"
            and isinstance(r.chunk.get("payload"), dict)
            and isinstance(r.chunk["payload"].get("message"), dict)
            and r.chunk["payload"]["message"].get("role") == "user"
        ]
        event = RecoveryBootEvent(
            chat_id=self.ctx.chat_id,
            run_id=self.ctx.run_id,
            previous_run_id=self.previous_run_id,
            settled_messages=list(self.messages),
            in_flight_users=[*([interrupted.user] if interrupted.user else []), *later],
            partial_assistant=interrupted.partial,
            pending_tool_calls=interrupted.pending_tool_calls,
            writer=ChatWriter(self.ctx.out),
            client_data=client_data,
        )
        result: Any = None
        if self.definition.on_recovery_boot is not None:
            try:
                result = self.hooks.resolve(self.definition.on_recovery_boot(event))
            except Exception:  # as the reference: a failing hook falls back to the default
                logger.exception(
                    "on_recovery_boot failed; keeping the default", extra={"run_id": self.ctx.run_id}
                )
        chosen = result if isinstance(result, RecoveryBootResult) else RecoveryBootResult()
        again = list(chosen.recovered_turns or [])
        if chosen.chain is not None:
            self.messages = list(chosen.chain)
        elif not again:
            self.messages = default_chain(self.messages, interrupted)
        self.run_state["recovered"] = interrupted.closed_at_seq
        self.ctx.out.flush()
        if chosen.before_boot is not None:
            self.hooks.resolve(chosen.before_boot())  # its errors fail the boot, as in the reference
        self._save()
        for message in again:
            self._turn(interrupted.answering, {"trigger": "submit-message", "message": message})

    # ------------------------------------------------------------ run control

    def defer(self, work: Any) -> Future[Any]:
        """`chat.defer`: run `work` beside the turn; awaited before the turn completes."""
        return self.hooks.defer(work)

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
        self.run_state = dict(getattr(self.history, "state", None) or {})
        if self.run_state.get("suspended") not in (None, self.ctx.run_id):
            del self.run_state["suspended"]  # an earlier run's: this one never suspended yet
        self.injections = Injections.from_state(self.run_state.get("inject"))
        self.locals = RunLocals.from_state(self.ctx.run_id, self.run_state.get("locals"))

    def _state(self) -> dict[str, Any]:
        state = {k: v for k, v in self.run_state.items() if k not in ("inject", "locals")}
        if injected := self.injections.state():
            state["inject"] = injected
        if kept := self.locals.state():
            state["locals"] = kept
        return state

    def _flush_history(self) -> None:
        try:
            self.history.flush()
        except Exception:  # the run is ending either way; the storage logged why
            logger.exception("retrying the transcript save failed", extra={"run_id": self.ctx.run_id})

    def _save(self) -> None:
        try:
            answered = self._answered_through(self.ctx.cursor)
            self.history.save(
                self.messages, self.store, answered, self.ctx.turn_complete_seq, state=self._state()
            )
        except store.HistoryConflict:
            # Another run saved this chat since we loaded it: this run is superseded, and its
            # view of the history must not overwrite the current run's. Adopt what is stored.
            logger.warning("history saved by another run; reloading", extra={"run_id": self.ctx.run_id})
            self._load()
