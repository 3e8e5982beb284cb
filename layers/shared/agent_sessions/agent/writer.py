"""`ChatWriter`: the `writer` some hooks get, to write UI-message chunks onto `.out` themselves.

The TS hooks' `writer` (`onPreload`, `onBeforeTurnComplete`, `onCompacted`, `onRecoveryBoot`).
During a turn a non-transient `data-*` chunk written here also joins the turn's assistant message
(the response `on_turn_complete` sees and the history keeps); a transient one is only streamed.
"""

from __future__ import annotations

from typing import Any, cast

from agent_sessions.agent.messages import Chunk, MessageAccumulator
from agent_sessions.streams import OutWriter


class ChatWriter:
    def __init__(self, out: OutWriter, accumulator: MessageAccumulator | None = None) -> None:
        self._out = out
        self._accumulator = accumulator

    def write(self, chunk: dict[str, Any]) -> None:
        """Write one UI-message chunk (a dict with a `type`) now; raises ValueError without one."""
        if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
            raise ValueError("writer.write takes a UI-message chunk: a dict with a string 'type'")
        if self._accumulator is not None:
            self._accumulator.add(cast(Chunk, chunk))
        self._out.write_chunk(chunk)

    __call__ = write
