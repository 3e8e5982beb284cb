"""Calling the agent's hooks and `chat.defer` work, sync or async, from the run's thread.

One `HookRunner` per run owns the event loop that awaits async hooks, async `run` results and async
iterators (one loop, so an async generator's steps all run on it), and the executor that runs
deferred work. Invariant: every deferred piece of work submitted before a turn completes is awaited
(at most `DEFER_TIMEOUT_SECONDS`) before that turn's `turn-complete` is written.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from agent_sessions.agent.types import ChatEvent
from agent_sessions.observability import logger

DEFER_TIMEOUT_SECONDS = 5.0


class HookRunner:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._loop = asyncio.new_event_loop()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix=f"defer-{run_id}")
        self._lock = threading.Lock()
        self._defers: list[Future[Any]] = []

    def resolve(self, value: Any) -> Any:
        """`value` itself, or what it resolves to when it is awaitable (run on this run's loop)."""
        if inspect.isawaitable(value):
            return self._loop.run_until_complete(_awaited(value))
        return value

    def call(self, hook: Callable[[ChatEvent], Any] | None, event: ChatEvent) -> Any:
        """The hook's result (awaited when async), or None when the agent has no such hook."""
        if hook is None:
            return None
        return self.resolve(hook(event))

    def call_safely(self, hook: Callable[[ChatEvent], Any] | None, event: ChatEvent) -> None:
        """Call a hook whose failure must not fail the turn (it is logged)."""
        try:
            self.call(hook, event)
        except Exception:
            logger.exception(
                "hook failed", extra={"run_id": self.run_id, "hook": getattr(hook, "__name__", "?")}
            )

    def defer(self, work: Any) -> Future[Any]:
        """Run `work` (callable or awaitable) beside the turn, in the caller's context variables."""
        context = contextvars.copy_context()
        if inspect.isawaitable(work):
            future = self._executor.submit(context.run, asyncio.run, _awaited(work))
        else:
            future = self._executor.submit(context.run, work)
        with self._lock:
            self._defers.append(future)
        return future

    def await_defers(self) -> None:
        with self._lock:
            pending, self._defers = self._defers, []
        if pending:
            wait_futures(pending, timeout=DEFER_TIMEOUT_SECONDS)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
        self._loop.close()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
