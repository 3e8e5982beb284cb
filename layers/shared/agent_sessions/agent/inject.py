"""`chat.inject`: model messages queued by task code, and where they enter the model's context.

Two lanes, as in the reference runtime (`background-injection.mdx`):

- a `system` message is an *instruction*: it is appended to the system prompt of the next turn
  only (every model step of that turn), then cleared;
- any other role (`user`, `assistant`) is *conversation*: from the turn that drains it on, the model
  sees it after the message it followed, for the rest of the chat. It is never part of the UI
  transcript (clients do not see it); a history edit that removes its anchor drops it.

The queue is drained at the start of a turn (before `run`) and at each boundary between model steps.
Everything here is plain JSON (`state()` / `from_state()`), so the runtime saves it with the chat's
history: a queue filled during the idle wait survives a suspend and a continuation run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from agent_sessions.agent.messages import ModelMessage, UIMessage
from agent_sessions.ids import new_record_id

ROLES = ("system", "user", "assistant")
INJECTED_ID_PREFIX = "inj_"


class InvalidInjection(ValueError):
    """`chat.inject` got something that is not a list of model messages with a known role."""


@dataclass(frozen=True)
class Drained:
    """What one drain hands the model: instruction text for this turn, conversation for good."""

    instructions: tuple[str, ...] = ()
    conversation: tuple[UIMessage, ...] = ()


@dataclass
class Injections:
    """The queue (`pending`) and the conversational messages already placed (`anchored`).

    Thread-safe: `queue` is called from deferred work and tools while the turn loop drains.
    """

    pending: list[ModelMessage] = field(default_factory=list)
    anchored: list[dict[str, Any]] = field(default_factory=list)
    """`{"after": <message id or None>, "message": <UI message>}`, in injection order."""
    instructions: list[str] = field(default_factory=list)
    """System text drained for the turn that is running (cleared when the next turn drains)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def queue(self, messages: list[ModelMessage]) -> None:
        """Queue model messages (`{"role", "content"}`); raises InvalidInjection on a bad shape."""
        checked = [_checked(m) for m in messages]
        with self._lock:
            self.pending.extend(checked)

    def begin_turn(self, anchor: str | None) -> Drained:
        """Start of a turn: last turn's instructions end; drain the queue after `anchor`."""
        with self._lock:
            self.instructions = []
        return self.drain(anchor)

    def drain(self, anchor: str | None, *, conversation_only: bool = False) -> Drained:
        """Take everything queued: system text joins this turn's instructions, the rest is placed
        after the message `anchor` (the newest message of the conversation). `conversation_only`
        (a boundary between model steps): system messages stay queued for the next turn, whose
        system prompt is set when it starts."""
        with self._lock:
            if conversation_only:
                taken = [m for m in self.pending if m["role"] != "system"]
                self.pending = [m for m in self.pending if m["role"] == "system"]
            else:
                taken, self.pending = self.pending, []
            instructions: list[str] = []
            conversation: list[UIMessage] = []
            for message in taken:
                if message["role"] == "system":
                    instructions.append(_text(message))
                    continue
                ui = _as_ui(message, f"{INJECTED_ID_PREFIX}{new_record_id()}")
                self.anchored.append({"after": anchor, "message": ui})
                conversation.append(ui)
            self.instructions.extend(instructions)
        return Drained(tuple(instructions), tuple(conversation))

    def system(self, base: str | None) -> str | None:
        """The system prompt for this turn's model calls: `base` plus the drained instructions."""
        with self._lock:
            extra = list(self.instructions)
        if not extra:
            return base
        return "\n\n".join([*([base] if base else []), *extra])

    def context(self, messages: list[UIMessage]) -> list[UIMessage]:
        """`messages` with every placed conversational injection after its anchor.

        Injections whose anchor is gone (compaction, a history edit) are dropped for good.
        """
        with self._lock:
            ids = {m.get("id") for m in messages}
            self.anchored = [a for a in self.anchored if a["after"] is None or a["after"] in ids]
            by_anchor: dict[Any, list[UIMessage]] = {}
            for placed in self.anchored:
                by_anchor.setdefault(placed["after"], []).append(placed["message"])
        out: list[UIMessage] = list(by_anchor.get(None, []))
        for message in messages:
            out.append(message)
            out.extend(by_anchor.get(message.get("id"), []))
        return out

    def state(self) -> dict[str, Any]:
        """JSON to save with the history (empty dict when there is nothing to keep)."""
        with self._lock:
            if not self.pending and not self.anchored:
                return {}
            return {"pending": list(self.pending), "anchored": list(self.anchored)}

    @classmethod
    def from_state(cls, state: Any) -> Injections:
        if not isinstance(state, dict):
            return cls()
        pending = [m for m in state.get("pending") or [] if _valid(m)]
        anchored = [
            a
            for a in state.get("anchored") or []
            if isinstance(a, dict) and isinstance(a.get("message"), dict)
        ]
        return cls(pending=pending, anchored=anchored)


def _valid(message: Any) -> bool:
    return isinstance(message, dict) and message.get("role") in ROLES and "content" in message


def _checked(message: Any) -> ModelMessage:
    if not _valid(message):
        raise InvalidInjection(
            "chat.inject takes model messages: {'role': 'system'|'user'|'assistant', 'content': ...}"
        )
    content = message["content"]
    if not isinstance(content, str) and not (
        isinstance(content, list) and all(isinstance(p, dict) for p in content)
    ):
        raise InvalidInjection("an injected message's content is a string or a list of parts")
    return {"role": message["role"], "content": content}


def _text(message: ModelMessage) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def _as_ui(message: ModelMessage, message_id: str) -> UIMessage:
    """The UI form the runtime's model conversion reads (text parts), marked as injected."""
    return {
        "id": message_id,
        "role": message["role"],
        "parts": [{"type": "text", "text": _text(message)}],
        "metadata": {"injected": True},
    }
