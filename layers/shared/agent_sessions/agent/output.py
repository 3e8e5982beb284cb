"""Piping what `run` / `on_action` produce onto `.out` as AI SDK UI-message chunks.

`run` may return or yield chunks, plain strings (text), or (async) iterables of them. Invariant: a
turn that produced anything writes exactly one `start` first (with the assistant message id) and one
`finish` last, strings are wrapped in one text part, and every chunk written is also folded into the
turn's assistant message, so `.out` and the saved history describe the same message.

A turn that continues a paused assistant message (after a tool answer or an approval) keeps that
message's id in its `start`, whatever `run` put there, and opens a new step before its first new
content: the AI SDK client appends to the message it holds, and reads "every call in the last step
is answered" (`lastAssistantMessageIsCompleteWithToolCalls`) from the last step, so without the
new step it would resend the answer again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from agent_sessions.agent.messages import Chunk, MessageAccumulator
from agent_sessions.agent.types import AbortSignal, TurnError
from agent_sessions.ids import new_record_id
from agent_sessions.streams import OutWriter

CONTINUING_CHUNKS = frozenset(
    {"start", "finish", "error", "abort", "message-metadata", "finish-step"}
    | {"tool-output-available", "tool-output-error", "tool-output-denied", "tool-approval-request"}
)
"""Chunks that settle what the paused message already holds (or carry no content): no new step."""


class OutputPipe:
    def __init__(self, out: OutWriter, resolve: Callable[[Any], Any]) -> None:
        self.out = out
        self._resolve = resolve

    def pipe(self, result: Any, accumulator: MessageAccumulator, signal: AbortSignal) -> None:
        """Write whatever `run`/`on_action` produced: chunks, strings, (async) iterables of them."""
        started = False
        text_id: str | None = None
        finished = False
        step_due = accumulator.continuing
        for item in self._iterate(result):
            if signal.aborted:
                break
            if isinstance(item, str):
                if not started:
                    started = self._start(accumulator)
                if step_due:
                    step_due = self._step(accumulator)
                if text_id is None:
                    text_id = new_record_id()
                    self.write({"type": "text-start", "id": text_id}, accumulator)
                self.write({"type": "text-delta", "id": text_id, "delta": item}, accumulator)
                continue
            if not isinstance(item, dict) or "type" not in item:
                raise TurnError(f"run produced {type(item).__name__}, expected UI-message chunks or text")
            kind = item["type"]
            if kind == "start":
                started = True
                if accumulator.continuing:
                    item = {**item, "messageId": accumulator.message["id"]}
            elif not started:
                started = self._start(accumulator)
            if kind == "start-step":
                step_due = False
            elif step_due and kind not in CONTINUING_CHUNKS:
                step_due = self._step(accumulator)
            finished = finished or kind == "finish"
            self.write(cast(Chunk, item), accumulator)  # checked above: a dict with a type
        if text_id is not None:
            self.write({"type": "text-end", "id": text_id}, accumulator)
        if started and not finished:
            self.write({"type": "finish"}, accumulator)

    def write(self, chunk: Chunk, accumulator: MessageAccumulator) -> None:
        accumulator.add(chunk)
        self.out.write_chunk(chunk)

    def _step(self, accumulator: MessageAccumulator) -> bool:
        self.write({"type": "start-step"}, accumulator)
        return False

    def _start(self, accumulator: MessageAccumulator) -> bool:
        self.write({"type": "start", "messageId": accumulator.message["id"]}, accumulator)
        return True

    def _iterate(self, result: Any) -> Iterable[Any]:
        result = self._resolve(result)
        if result is None:
            return
        if isinstance(result, str | dict):
            yield result
            return
        if hasattr(result, "__aiter__"):
            iterator = result.__aiter__()
            while True:
                try:
                    yield self._resolve(iterator.__anext__())
                except StopAsyncIteration:
                    return
        yield from result
