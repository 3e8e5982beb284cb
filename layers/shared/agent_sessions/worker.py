"""The agent worker: one invocation of a run, as the `agent_run` state machine drives it.

An invocation returns `continue` (near the Lambda deadline: the state machine re-invokes), `waiting`
(idle: the state machine parks a task token at zero compute until an append resumes it) or `done`.
An exception is a failed attempt; the state machine retries up to `maxAttempts`.

Every invocation boots fenced (`store.start_attempt`: still the session's current run, not final,
now the `.out` owner), closes a turn an earlier attempt or run left open, and keeps its lease
renewed by the heartbeat while the agent runs. A run that learns it was replaced exits CANCELED.

Agents are plain callables registered per task identifier (`agents.py`); they get a `RunContext`
(`run_context.py`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from agent_sessions import keys, runs, store, streams, trigger_limits
from agent_sessions.agents import Agent, Outcome, agent, find_agent, load_agents
from agent_sessions.config import get_settings
from agent_sessions.errors import SessionClosed
from agent_sessions.heartbeat import Heartbeat
from agent_sessions.observability import logger, metrics
from agent_sessions.run_context import (
    InputRecord,
    LambdaContextLike,
    RunContext,
    _current,
    current_run_context,
)

__all__ = [
    "Agent",
    "InputRecord",
    "LambdaContextLike",
    "Outcome",
    "RunContext",
    "agent",
    "current_run_context",
    "find_agent",
    "handle",
    "load_agents",
]

SUPERSEDED = "superseded: the session moved on to another run"


def _report_failure(ctx: RunContext, exc: Exception) -> None:
    """The last attempt failed: make it visible on `.out` and release a client waiting on its turn.

    Nothing is written when no turn is waiting: the failure came after the turn-complete of the
    input this run consumed last (a run-state write, say), and a second turn-complete would answer
    that input twice.
    """
    try:
        tail = streams.turn_tail(ctx.session_id)
        if not tail.open_turn and tail.answered is not None and tail.answered >= ctx.cursor:
            return
        ctx.out.write_chunk(
            {"type": "error", "errorText": f"The agent run failed: {type(exc).__name__}: {exc}"}
        )
        ctx.complete_turn(ctx.cursor if ctx.cursor >= 0 else None, error=True, interrupted=True)
    except Exception:
        logger.exception("could not report the failure on .out", extra={"run_id": ctx.run_id})


def _fail_unknown_task(run: store.Run, session: store.SessionModel, attempt: int) -> dict[str, str]:
    """No agent for the task: answer every input so far with an error turn, then fail the run.

    The turn-complete names the newest `.in` seq, so the next append starts one continuation that
    answers only that new input (not a loop), and the recovery sweep finds nothing left to answer.
    """
    task = session.task_identifier or ""
    logger.error("no agent registered", extra={"task": task})
    try:
        store.start_attempt(run, attempt, store.epoch() + get_settings().run_lease_seconds)
    except (store.RunSuperseded, store.RunFinished):
        return {"status": "done"}
    newest = store.get_session_item(session.pk)
    last_in = int((newest or session).in_next_seq or 0) - 1
    answered = str(last_in) if last_in >= 0 else None
    out = streams.OutWriter(session.session_id or "", owner=run.run_id)
    try:
        out.write_chunk({"type": "error", "errorText": f'No agent is registered for task "{task}".'})
        out.write_control(
            "turn-complete", session_in_event_id=answered, session_in_consumed_id=answered or "-1"
        )
        out.close()
    except store.RunSuperseded:
        return {"status": "done"}
    finally:
        store.fail_run(run.run_id, f"no agent registered for task {task!r}")
        metrics.add_metric(name="RunsFailed", unit="Count", value=1)
    return {"status": "done"}


def handle(event: dict[str, Any], lambda_context: LambdaContextLike) -> dict[str, str]:
    """One invocation of a run. Raises on agent failure so the state machine can retry."""
    run_id = str(event["runId"])
    run = store.get_run(run_id)
    if run is None or run.status.is_final:
        return {"status": "done"}
    logger.append_keys(run_id=run_id, session_id=run.session_id)
    session = store.get_session_item(run.session_pk)
    if session is None or session.current_run_id != run_id:
        store.cancel_run(run_id, SUPERSEDED)
        return {"status": "done"}
    if session.closed_at is not None:
        store.complete_run(run_id)
        return {"status": "done"}
    attempt = int(event.get("attempt") or 0)
    environment = next(iter(keys.find_by_id(keys.get_key_store(), session.env_id or "")), None)
    fn = find_agent(session.task_identifier or "")
    if environment is None or fn is None:
        return _fail_unknown_task(run, session, attempt)
    first_invocation = run.status == store.RunStatus.QUEUED or (attempt > 0 and attempt != run.attempt)
    settings = get_settings()
    try:
        run = store.start_attempt(run, attempt, store.epoch() + settings.run_lease_seconds)
    except store.RunSuperseded:
        store.cancel_run(run_id, SUPERSEDED)
        return {"status": "done"}
    except store.RunFinished:
        return {"status": "done"}
    heartbeat = Heartbeat(run_id, settings.run_lease_seconds)
    out = streams.OutWriter(session.session_id or "", owner=run_id)
    ctx = RunContext(
        session,
        run,
        environment,
        lambda_context,
        out,
        attempt=attempt,
        first_invocation=first_invocation,
        heartbeat=heartbeat,
        fenced=True,
    )
    out.assume_head(ctx.tail.next_seq)  # `.out` was just read back: the first page needs no head read
    token = _current.set(ctx)
    heartbeat.start()
    try:
        ctx.close_open_turn()
        outcome = fn(ctx)
        out.close()
    except store.RunSuperseded:
        logger.warning("run replaced; exiting", extra={"run_id": run_id})
        store.cancel_run(run_id, SUPERSEDED)
        return {"status": "done"}
    except Exception as exc:
        metrics.add_metric(name="AttemptsFailed", unit="Count", value=1)
        if attempt + 1 >= trigger_limits.max_attempts(session.trigger_config):
            metrics.add_metric(name="RunsFailed", unit="Count", value=1)
            _report_failure(ctx, exc)
        raise
    finally:
        heartbeat.stop()
        _current.reset(token)
        _close_quietly(out)
    if outcome == "done":
        _end(ctx)
    return {"status": outcome}


def _end(ctx: RunContext) -> None:
    """The agent is done: COMPLETED, unless `.in` holds input this run never consumed.

    The final write is conditioned on the `.in` head against the run's cursor
    (`store.complete_run_if_answered`; a runtime gives back what it read but did not act on,
    `RunContext.give_back`). An append that landed after the run's last look found the run alive
    and started nothing; it refuses the write, and the input goes to a continuation run: swapped in
    while this run is still current, launched once this run is COMPLETED (what `chat.end_run`,
    `max_turns` and `exit_after_preload_idle` promise the next message). Each refusal needs a record
    the run never read, so continuations cannot chain on input nobody answers (a `stop`, say). If
    this process dies before the hand-over, the run's lease runs out and the recovery sweep
    continues the session.
    """
    try:
        store.complete_run_if_answered(ctx.run_id, ctx.session_pk, ctx.cursor)
        return
    except store.InputPending:
        logger.info(
            "input arrived as the run ended; handing it to a continuation", extra={"run_id": ctx.run_id}
        )
    session = store.get_session_item(ctx.session_pk)
    swapped = False
    if session is not None:
        with contextlib.suppress(SessionClosed):  # closed since: no input is answered any more
            _, swapped = runs.end_and_continue(session, ctx.run_id, "continuation", completed=True)
    if not swapped:
        store.complete_run(ctx.run_id)  # not current (another run reads `.in`) or closed


def _close_quietly(out: streams.OutWriter) -> None:
    try:
        out.close()
    except Exception:
        logger.debug("out writer closed with an error already reported", exc_info=True)
