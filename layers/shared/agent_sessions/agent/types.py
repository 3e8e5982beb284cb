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

if TYPE_CHECKING:
    from agent_sessions.agents import Outcome
    from agent_sessions.run_context import RunContext

MAX_TURNS = 100


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
        from agent_sessions.agent.runtime import ChatRuntime  # the loop imports these types

        return ChatRuntime(self, ctx).run()


class TurnError(Exception):
    """Raised inside a turn; becomes an `error` chunk and an error `turn-complete`."""
