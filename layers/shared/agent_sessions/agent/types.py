"""The public types of `chat.agent`: what an agent is declared with and what its hooks and `run` get.

Plain data and the stop signal only; the loop that uses them is `runtime.ChatRuntime`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from agent_sessions.agent.messages import Chunk, UIMessage
from agent_sessions.agent.models.base import Model, stream_text
from agent_sessions.agent.models.tools import Tool
from agent_sessions.transcript import TranscriptStorage

if TYPE_CHECKING:
    from agent_sessions.agent.writer import ChatWriter
    from agent_sessions.agents import Outcome
    from agent_sessions.run_context import RunContext

MAX_TURNS = 100


class AbortSignal:
    """The turn's stop signal (the TS `signal` / `chat.stopSignal`, an `AbortSignal`): set when the
    client stops the turn (`{kind:"stop"}` on `.in`) or the session closes mid-turn. Thread-safe:
    check `aborted` between steps, or block on `wait()`. `reason` says why (`"stop"`, ...)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    @property
    def aborted(self) -> bool:
        """True once the turn was stopped (TS `signal.aborted`)."""
        return self._event.is_set()

    def abort(self, reason: str) -> None:
        """Stop the turn with `reason`; only the first call counts (TS `AbortController.abort`)."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped or `timeout` seconds passed (None: no limit); returns `aborted`."""
        return self._event.wait(timeout)


@dataclass
class Compaction:
    """The `compaction` option (TS `compaction: {shouldCompact, summarize}`): after each turn, before
    its `turn-complete`, when `should_compact(messages)` is True, every message but the last
    `keep_last` is replaced by one `system` message holding `summarize(older_messages)` (a string),
    and a transient `data-compaction` chunk (`{"summarized": count}`) tells the client. Neither
    callable should raise: an exception there is a crash of the run attempt (retried)."""

    should_compact: Callable[[list[UIMessage]], bool]
    summarize: Callable[[list[UIMessage]], str]
    keep_last: int = 4


@dataclass
class PendingMessages:
    """The `pending_messages` option (TS `pendingMessages: {shouldInject}`): user messages sent while
    a turn runs are injected into it between model steps when `should_inject(message)` is True, and
    announced by a transient `data-pending-message-injected` chunk; the others become the next turns."""

    should_inject: Callable[[UIMessage], bool] = lambda _message: True


@dataclass
class Turn:
    """What `run` receives for one turn (the TS `run()` payload).

    `messages`: the whole conversation as AI SDK `UIMessage` dicts, this turn's user message last;
    `message`: that message (None for a turn driven by the run's payload); `trigger`:
    `submit-message`, `regenerate-message` or `action`; `turn`: the turn's index in this run (0-based,
    restarts at 0 in every run); `client_data`: the validated client data (`client_data_schema`
    instance, else the raw metadata); `metadata`: the message's metadata; `signal`: the stop signal;
    `continuation` / `previous_run_id`: this run continues an earlier one; `preloaded`: the run was
    started by a preload. Messages queued with `chat.inject` are already in `messages` (conversation
    lane) and in `system_prompt()` (instructions lane); `stream_text` applies both.
    """

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
    _injected: Callable[[], list[UIMessage]] = field(repr=False, default=lambda: [])
    _system: Callable[[str | None], str | None] = field(repr=False, default=lambda base: base)

    def system_prompt(self, base: str | None = None) -> str | None:
        """`base` plus the instructions `chat.inject` queued for this turn (`role: "system"`), the
        way the TS `chat.toStreamTextOptions()` delivers them; `base` alone when there are none."""
        return self._system(base)

    def stream_text(
        self, model: Model, *, tools: Iterable[Tool] = (), system: str | None = None, max_steps: int = 5
    ) -> Iterable[Chunk]:
        """Stream `model`'s answer to this turn's messages (TS `streamText(...)` piped by `run()`):
        yields AI SDK UI-message chunks (`text-delta`, `reasoning-delta`, `tool-input-available`,
        `tool-output-available`, ...), runs `tools` (at most `max_steps` model calls), stops at
        `signal`, and injects steering messages and `chat.inject` messages between steps. `system`
        is the system prompt (plus injected instructions). Model errors propagate and end the turn
        with an `error` chunk."""
        return stream_text(
            model,
            self.messages,
            tools=list(tools),
            system=self.system_prompt(system),
            max_steps=max_steps,
            signal=self.signal,
            pending=self._steering,
            inject=self._injected,
        )


@dataclass
class ChatEvent:
    """The argument of every lifecycle hook (the TS hook events, e.g. `onTurnStart`'s); fields that
    do not apply to a hook are None / empty.

    `messages`: the conversation (UI messages); `message`: the user message of the turn; `trigger`
    and `turn` as on `Turn`; `phase` (`on_chat_suspend`): `preload`, `turn` or `continuation`;
    `action`: the validated action (`on_action`); `response`: the assistant message just written,
    `stopped` and `error` (`on_before_turn_complete`, `on_turn_complete`); `preloaded` (`on_boot`):
    the run was started by a preload; `writer` (`on_preload`, `on_compacted`,
    `on_before_turn_complete`): a `ChatWriter` for chunks of your own; `summary` / `summarized`
    (`on_compacted`): the summary text and the messages it replaced.
    """

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
    preloaded: bool = False
    writer: ChatWriter | None = None
    summary: str | None = None
    summarized: list[UIMessage] | None = None


@dataclass
class AgentDefinition:
    """What `chat.agent(...)` registers (the TS `chat.agent({...})` options), called with a run's
    context to run it.

    `id`: the task identifier clients name. `run(turn)` returns or yields the reply: a string, UI
    chunks, or an iterable of either (see docs/agents.md). `client_data_schema` / `action_schema`:
    pydantic models validating client data and actions (invalid data ends the turn with an error).
    Hooks get a `ChatEvent` and may be sync or async: `on_boot` (every fresh run, continuations
    and retry attempts included, before anything else; not on a resume), `on_recovery_boot` (gets a
    `RecoveryBootEvent`, may return a `RecoveryBootResult`; see `agent.recovery_boot`),
    `hydrate_messages` (returns the history to use), `on_preload`, `on_chat_start`,
    `on_validate_messages` (may return a replacement message), `on_turn_start`, `on_compacted`,
    `on_before_turn_complete` (may write last chunks), `on_turn_complete`, `on_chat_suspend`,
    `on_chat_resume`, `on_action`. `exit_after_preload_idle`: a preloaded run that gets no message
    in its idle window ends instead of suspending. `compaction`,
    `pending_messages`: see their classes. `max_turns`: turns per run before it ends (the next
    message starts a continuation). `storage`: where the transcript is kept (see the field). A
    hook that raises during a turn ends that turn with an `error` chunk; `on_turn_complete` errors
    are logged.
    """

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
    on_boot: Callable[[ChatEvent], Any] | None = None
    on_recovery_boot: Callable[[Any], Any] | None = None
    on_before_turn_complete: Callable[[ChatEvent], Any] | None = None
    on_compacted: Callable[[ChatEvent], Any] | None = None
    on_chat_resume: Callable[[ChatEvent], Any] | None = None
    exit_after_preload_idle: bool = False
    compaction: Compaction | None = None
    pending_messages: PendingMessages | None = None
    max_turns: int = MAX_TURNS
    storage: TranscriptStorage | None = None
    """Where the chat's transcript is kept; None: the session's DynamoDB history (see transcripts)."""

    def __call__(self, ctx: RunContext) -> Outcome:
        """Run this agent for one run invocation; returns how the run ends (`done`, `continue`,
        `waiting`). Raises `store.RunSuperseded` when another run took the session over."""
        from agent_sessions.agent.runtime import ChatRuntime  # the loop imports these types

        return ChatRuntime(self, ctx).run()


class TurnError(Exception):
    """Raised inside a turn; becomes an `error` chunk and an error `turn-complete`."""
