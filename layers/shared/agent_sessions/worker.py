"""The agent worker: one invocation of a run, as the `agent_run` state machine drives it.

An invocation returns `continue` (near the Lambda deadline: the state machine re-invokes), `waiting`
(idle: the state machine parks a task token at zero compute until an append resumes it) or `done`.
An exception is a failed attempt; the state machine retries up to `maxAttempts`.

Agents are plain callables registered per task identifier; they get a `RunContext` — the stream
API: read `.in` after the run's cursor, write `.out` through the coalescing writer, complete turns.
"""

from __future__ import annotations

import contextvars
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent_sessions import auth, keys, runs, sessions, store, streams, trigger_limits
from agent_sessions.config import get_settings
from agent_sessions.envelopes import envelope_data
from agent_sessions.observability import logger

Outcome = Literal["continue", "waiting", "done"]
Agent = Callable[["RunContext"], Outcome]

_AGENTS: dict[str, Agent] = {}
_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("run_context", default=None)


def current_run_context() -> RunContext | None:
    return _current.get()


DEFAULT_AGENT_MODULES = ("agent_sessions.demo_chat",)


def agent(task_identifier: str) -> Callable[[Agent], Agent]:
    """Register an agent for a task identifier."""

    def register(fn: Agent) -> Agent:
        _AGENTS[task_identifier] = fn
        return fn

    return register


def load_agents() -> list[str]:
    """Import the agent modules (bundled and `AGENT_SESSIONS_AGENT_MODULES`); returns the task ids."""
    for module in (*DEFAULT_AGENT_MODULES, *get_settings().agent_modules):
        importlib.import_module(module)
    return sorted(_AGENTS)


def find_agent(task_identifier: str) -> Agent | None:
    if task_identifier not in _AGENTS:
        load_agents()
    return _AGENTS.get(task_identifier)


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class InputRecord:
    seq: int
    chunk: Any
    """The parsed `ChatInputChunk` (or the raw string when the body is not JSON)."""


class RunContext:
    """What an agent sees of its run: the session's logs, its clock, and its turn boundaries."""

    def __init__(
        self,
        session: store.SessionModel,
        run: store.RunModel,
        environment: keys.Environment,
        lambda_context: LambdaContextLike,
        out: streams.OutWriter,
        *,
        attempt: int = 0,
        first_invocation: bool = True,
    ) -> None:
        settings = get_settings()
        self.session_id = session.session_id or ""
        self.session_pk = session.pk
        self.chat_id = sessions.addressing_key(session)
        self.run_id = run.run_id or ""
        self.payload: dict[str, Any] = dict(run.payload or {})
        self.attempt = attempt
        self.first_invocation = first_invocation
        """False when re-invoked after `continue` or a suspend, so once-per-run hooks fire once."""
        self.environment = environment
        self.out = out
        self._lambda_context = lambda_context
        self._margin_ms = settings.worker_deadline_margin_ms
        self._token_ttl = settings.session_token_ttl_seconds
        self._read_bytes = settings.read_max_bytes
        self._backoff = streams.PollBackoff(settings.sse_poll_min_seconds, settings.sse_poll_max_seconds)
        last = streams.last_turn_complete(self.session_id)
        answered = streams.header(last, "session-in-event-id") if last else None
        self.cursor = int(answered) if answered and answered.lstrip("-").isdigit() else -1
        """Highest `.in` seq consumed by this run."""

    @property
    def idle_timeout_seconds(self) -> float:
        return float(trigger_limits.idle_timeout_seconds(self.payload.get("idleTimeoutInSeconds")))

    def near_deadline(self) -> bool:
        return self._lambda_context.get_remaining_time_in_millis() < self._margin_ms

    def poll_input(self) -> list[InputRecord]:
        """Records after the cursor, without waiting: about `read_max_bytes` at a time (or one
        larger record), so a backlog of near-limit inputs never has to fit in memory at once."""
        records = streams.read_after(self.session_id, "in", self.cursor, max_bytes=self._read_bytes)
        if records:
            self.cursor = records[-1].seq
        return [InputRecord(r.seq, envelope_data(r.body)) for r in records]

    def peek_input(self) -> list[InputRecord]:
        """Records after the cursor, without consuming them."""
        return [
            InputRecord(r.seq, envelope_data(r.body))
            for r in streams.read_after(self.session_id, "in", self.cursor, max_bytes=self._read_bytes)
        ]

    def wait_input(self, timeout: float) -> list[InputRecord]:
        """Block until input arrives, `timeout` passes or the deadline nears."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.poll_input()
            if found:
                self._backoff.got_records()
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.near_deadline():
                return []
            time.sleep(min(self._backoff.idle(), remaining))

    def idle_outcome(self) -> tuple[Outcome, list[InputRecord]]:
        """Nothing to do: `continue` near the deadline, else clear the input flag and suspend.

        The flag is cleared *before* the last look at `.in`: an append after that look sets it
        again, and the state machine then refuses to park and re-invokes us.
        """
        if self.near_deadline():
            return "continue", []
        store.update_run(self.run_id, [store.RunModel.pending_input.remove()])
        late = self.poll_input()
        return ("continue", late) if late else ("waiting", [])

    def complete_turn(
        self,
        answered_seq: int | None,
        *,
        error: bool = False,
        with_token: bool = True,
        closed_reason: str | None = None,
    ) -> None:
        """Write `turn-complete` and wait until it is committed.

        `session-in-event-id` is the seq of the input this turn answers (the client matches it
        against its own send; None for a turn driven by the run's payload); error and action turns
        carry no fresh token, like the reference runtime.
        """
        fresh = with_token and not error
        token = (
            auth.turn_token(self.environment, self.chat_id, self.run_id, self._token_ttl) if fresh else None
        )
        closing = closed_reason is not None
        self.out.write_control(
            "turn-complete",
            public_access_token=token,
            session_in_event_id=str(answered_seq) if answered_seq is not None else None,
            session_in_consumed_id=str(self.cursor),
            session_closed="true" if closing else None,
            session_closed_reason=closed_reason or None if closing else None,
        )
        self.out.flush()


def _report_failure(ctx: RunContext, exc: Exception) -> None:
    """The last attempt failed: make it visible on `.out` and release a client waiting on its turn."""
    try:
        ctx.out.write_chunk(
            {"type": "error", "errorText": f"The agent run failed: {type(exc).__name__}: {exc}"}
        )
        ctx.complete_turn(ctx.cursor if ctx.cursor >= 0 else None, error=True)
    except Exception:
        logger.exception("could not report the failure on .out", extra={"run_id": ctx.run_id})


def handle(event: dict[str, Any], lambda_context: LambdaContextLike) -> dict[str, str]:
    """One invocation of a run. Raises on agent failure so the state machine can retry."""
    run_id = str(event["runId"])
    run = store.get_run(run_id)
    if run is None or run.status in runs.FINAL_STATUSES:
        return {"status": "done"}
    logger.append_keys(run_id=run_id, session_id=run.session_id)
    session = store.get_session_item(run.session_pk or "")
    if session is None or session.current_run_id != run_id:
        store.update_run(run_id, [store.RunModel.status.set(runs.CANCELED)])
        return {"status": "done"}
    if session.closed_at is not None:
        store.update_run(run_id, [store.RunModel.status.set(runs.COMPLETED)])
        return {"status": "done"}
    environment = next(iter(keys.find_by_id(keys.get_key_store(), session.env_id or "")), None)
    fn = find_agent(session.task_identifier or "")
    if environment is None or fn is None:
        store.update_run(
            run_id,
            [store.RunModel.status.set(runs.FAILED), store.RunModel.error.set("no agent for this task")],
        )
        logger.error("no agent registered", extra={"task": session.task_identifier})
        return {"status": "done"}
    attempt = int(event.get("attempt") or 0)
    first_invocation = run.status == runs.QUEUED or (attempt > 0 and attempt != int(run.attempt or 0))
    store.update_run(
        run_id,
        [
            store.RunModel.status.set(runs.EXECUTING),
            store.RunModel.attempt.set(attempt),
            store.RunModel.pending_input.remove(),
        ],
    )
    out = streams.OutWriter(session.session_id or "")
    ctx = RunContext(
        session, run, environment, lambda_context, out, attempt=attempt, first_invocation=first_invocation
    )
    token = _current.set(ctx)
    try:
        outcome = fn(ctx)
    except Exception as exc:
        if attempt + 1 >= trigger_limits.max_attempts(session.trigger_config):
            _report_failure(ctx, exc)
        raise
    finally:
        _current.reset(token)
        out.close()
    if outcome == "done":
        store.update_run(run_id, [store.RunModel.status.set(runs.COMPLETED)])
    return {"status": outcome}
