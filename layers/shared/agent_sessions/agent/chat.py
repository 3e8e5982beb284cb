"""`chat`: define agents and steer the running one (history, store, defer, upgrade, end, close).

    from agent_sessions.agent import chat

    @chat.agent(id="my-chat")
    def run(turn):
        yield from turn.stream_text(model)

The run-scoped helpers (`chat.history`, `chat.store`, `chat.defer`, `chat.request_upgrade`, ...)
act on the run whose hook or `run` is executing, found through a context variable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, overload

from agent_sessions.agent.local_state import Local
from agent_sessions.agent.messages import Chunk, UIMessage
from agent_sessions.agent.runtime import ChatRuntime, current_runtime
from agent_sessions.agent.types import (
    AbortSignal,
    AgentDefinition,
    ChatEvent,
    Compaction,
    PendingMessages,
    Turn,
)
from agent_sessions.observability import logger
from agent_sessions.worker import InputRecord, Outcome, RunContext, agent, current_run_context


def _runtime() -> ChatRuntime:
    runtime = current_runtime.get()
    if runtime is None:
        raise RuntimeError("this chat helper only works inside a running chat.agent (a hook or run)")
    return runtime


class History:
    """`chat.history` (TS `chat.history`): the running chat's conversation as AI SDK `UIMessage`
    dicts. Changes are saved with the turn's snapshot after `turn-complete`. Every method raises
    `RuntimeError` outside a running `chat.agent` (a hook or `run`)."""

    def all(self) -> list[UIMessage]:
        """A copy of the conversation, oldest first (TS `chat.history.all()`)."""
        return list(_runtime().messages)

    def append(self, *messages: UIMessage) -> None:
        """Add messages at the end."""
        _runtime().messages.extend(messages)

    def replace(self, messages: list[UIMessage]) -> None:
        """Replace the whole conversation (TS `chat.history.replace`)."""
        _runtime().messages = list(messages)

    def truncate(self, count: int) -> None:
        """Keep the first `count` messages (a negative count keeps none)."""
        runtime = _runtime()
        runtime.messages = runtime.messages[: max(0, count)]

    def remove(self, message_id: str) -> None:
        """Drop the message with this id, if any (TS `chat.history.remove`)."""
        runtime = _runtime()
        runtime.messages = [m for m in runtime.messages if m.get("id") != message_id]

    def rollback_to(self, message_id: str) -> None:
        """Drop every message after `message_id`; nothing when no message has it (TS
        `chat.history.rollbackTo`)."""
        runtime = _runtime()
        ids = [m.get("id") for m in runtime.messages]
        if message_id in ids:
            runtime.messages = runtime.messages[: ids.index(message_id) + 1]


class Store:
    """`chat.store`: a per-session key-value map saved with the history snapshot after every turn, so
    it survives runs (values must be JSON-serializable). Every method raises `RuntimeError` outside a
    running `chat.agent`."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, else `default`."""
        return _runtime().store.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set `key` (saved after the turn)."""
        _runtime().store[key] = value

    def delete(self, key: str) -> None:
        """Remove `key`, if present."""
        _runtime().store.pop(key, None)

    def all(self) -> dict[str, Any]:
        """A copy of the whole map."""
        return dict(_runtime().store)


class ChatSession:
    """The loop of a custom agent (TS `chat.createSession`), from `chat.create_session(payload)`:
    iterate `turns()`, write each turn's chunks, `complete()` it. `outcome` is how the run ends
    (`done`, `continue`, `waiting`); return the session from your `custom_agent` function."""

    def __init__(self, ctx: RunContext, payload: dict[str, Any]) -> None:
        self.ctx = ctx
        self.payload = payload
        self.outcome: Outcome = "done"

    def turns(self) -> Iterator[SessionTurn]:
        """User messages, one `SessionTurn` each, waiting for them (idle timeout, then suspend);
        returns when the run should suspend, continue or stop (see `outcome`) or on a close."""
        while True:
            arrived = self.ctx.wait_input(self.ctx.idle_timeout_seconds)
            if not arrived:
                self.outcome, arrived = self.ctx.idle_outcome()
                if not arrived:
                    return
            for record in arrived:
                chunk = record.chunk if isinstance(record.chunk, dict) else {}
                payload = chunk.get("payload") or {}
                if chunk.get("kind") != "message":
                    continue
                if payload.get("trigger") == "close":
                    self.outcome = "done"
                    return
                yield SessionTurn(self.ctx, record, payload)


class SessionTurn:
    """One user message in a custom agent's loop: `seq` (its `.in` seq), `payload` (the wire's
    `{message, trigger, metadata, chatId}`), `message` (the UI message), `metadata`, `signal`."""

    def __init__(self, ctx: RunContext, record: InputRecord, payload: dict[str, Any]) -> None:
        self.ctx = ctx
        self.seq = record.seq
        self.payload = payload
        self.message: UIMessage | None = payload.get("message")
        self.metadata: dict[str, Any] = dict(payload.get("metadata") or {})
        self.signal = AbortSignal()

    @property
    def text(self) -> str:
        """The message's text parts joined (empty for none)."""
        parts = (self.message or {}).get("parts") or []
        return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")

    def write(self, chunk: Chunk) -> None:
        """Append one UI-message chunk (a dict or text) to `.out`, after a stop check. Raises
        `store.RunSuperseded` when another run took the session over."""
        self.check_stop()
        self.ctx.out.write_chunk(chunk)

    def check_stop(self) -> bool:
        """Look for a `stop` on `.in` without waiting and set `signal`; returns `signal.aborted`.
        Other input is not consumed mid-turn."""
        if not self.signal.aborted:
            for record in self.ctx.peek_input():
                if isinstance(record.chunk, dict) and record.chunk.get("kind") == "stop":
                    self.signal.abort("stop")
                    break
        return self.signal.aborted

    def complete(self) -> None:
        """Write the turn's `turn-complete` (TS `chat.writeTurnComplete`), answering this message.

        Not the stop that ended it: `check_stop` only peeks, so a message sent before the stop may
        still be unread, and naming the stop would count that message as answered."""
        self.ctx.complete_turn(self.seq)


class Chat:
    """`chat`, the agent SDK's entry point (TS `chat` from `@trigger.dev/sdk/ai`): `chat.agent` and
    `chat.custom_agent` define agents; `history`, `store`, `inject`, `local`, `defer`,
    `request_upgrade`, `end_run` and `close` act on the run whose hook or `run` is executing (found
    through a context variable) and raise `RuntimeError` elsewhere."""

    history = History()
    store = Store()

    @overload
    def agent(self, run: Callable[[Turn], Any], /) -> AgentDefinition: ...

    @overload
    def agent(
        self, run: None = None, /, **options: Any
    ) -> Callable[[Callable[[Turn], Any]], AgentDefinition]: ...

    def agent(self, run: Callable[[Turn], Any] | None = None, /, **options: Any) -> Any:
        """Define and register a chat agent (TS `chat.agent({...})`): `chat.agent(id=..., run=fn, ...)`,
        or `@chat.agent(id=..., ...)` on the run function. `options` are `AgentDefinition`'s fields.
        Returns the `AgentDefinition`; a second agent with the same id replaces the first. Raises
        `TypeError` for an unknown option."""
        if run is not None:
            return self._register(AgentDefinition(run=run, **options))
        if "run" in options:
            return self._register(AgentDefinition(**options))

        def decorate(fn: Callable[[Turn], Any]) -> AgentDefinition:
            return self._register(AgentDefinition(run=fn, **options))

        return decorate

    @staticmethod
    def _register(definition: AgentDefinition) -> AgentDefinition:
        agent(definition.id)(definition)
        return definition

    def custom_agent(
        self, id: str
    ) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[[RunContext], Outcome]]:
        """Register a loop you write yourself (TS `chat.customAgent`): `@chat.custom_agent("id")` on
        `fn(payload)`, which usually runs `chat.create_session(payload)` and returns it (or an outcome:
        `done`, `continue`, `waiting`). The payload is the run's (`chatId`, `sessionId`, ...)."""

        def decorate(fn: Callable[[dict[str, Any]], Any]) -> Callable[[RunContext], Outcome]:
            def run(ctx: RunContext) -> Outcome:
                result = fn(ctx.payload)
                if isinstance(result, ChatSession):
                    return result.outcome
                return result if result in ("continue", "waiting", "done") else "done"

            agent(id)(run)
            return run

        return decorate

    def create_session(self, payload: dict[str, Any]) -> ChatSession:
        """The custom loop's session for the running run (TS `chat.createSession`). Raises
        `RuntimeError` outside a running agent."""
        ctx = current_run_context()
        if ctx is None:
            raise RuntimeError("chat.create_session only works inside a running agent")
        return ChatSession(ctx, payload)

    def inject(self, messages: list[dict[str, Any]]) -> None:
        """Queue model messages (`{"role": "system"|"user"|"assistant", "content": str | parts}`) for
        the model's context (TS `chat.inject`): drained when the next turn starts, or at the next
        boundary between model steps. `system` ones are added to that turn's system prompt (that turn
        only); the others stay in the context after the message they followed, never in the
        transcript the client sees. Callable from hooks, `run`, tools and `chat.defer` work; the
        queue survives a suspend and a continuation run. Raises `InvalidInjection` on a bad shape."""
        _runtime().injections.queue(messages)

    def local(self, id: str) -> Local:
        """Declare run-local state (TS `chat.local({id})`) at module level; `init` it in `on_boot`.
        See `agent.local_state` for access, `has_changed()` and what survives a suspend."""
        return Local(id, lambda: _runtime().locals)

    def defer(self, work: Any) -> Future[Any]:
        """Run `work` (a callable or an awaitable) beside the turn (TS `chat.defer`); it is awaited, at
        most 5 s, before `turn-complete`. Returns its `Future`, which keeps any exception (the turn goes
        on)."""
        return _runtime().defer(work)

    def request_upgrade(self) -> None:
        """From on_turn_start / on_validate_messages: hand this message to a new run and exit
        (mirrors `chat.requestUpgrade()`; readers see an `upgrade-required` control record).

        A message is handed over at most once: in the first turn of a run that an upgrade started,
        the call is ignored (and logged). There, the TypeScript SDK runs the new deployed version,
        whose hook no longer asks; here the new run runs the same code, and the same call would start
        run after run for one message."""
        runtime = _runtime()
        if runtime.ctx.reason == "upgrade" and runtime.turns <= 1:
            logger.warning(
                "chat.request_upgrade ignored: this run was started by an upgrade for this message",
                extra={"run_id": runtime.ctx.run_id},
            )
            return
        runtime.upgrade_requested = True

    def end_run(self) -> None:
        """Exit after this turn (TS `chat.endRun()`), with no `upgrade-required`; the next message
        starts a continuation run."""
        _runtime().end_requested = True

    def close(self, reason: str | None = None) -> None:
        """Close the session after this turn (TS `chat.close`): its `turn-complete` carries
        `session-closed`, `.out` gets `session-closed`, later appends get 409 `session_closed`.
        `reason` is cut to 256 characters."""
        _runtime().close_reason = (reason or "")[:256]


chat = Chat()

__all__ = ["AbortSignal", "ChatEvent", "Compaction", "PendingMessages", "Turn", "chat"]
