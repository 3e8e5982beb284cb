"""Lambda wiring shared by every thin handler: observability decorators, resolver, worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from agent_sessions import store
from agent_sessions.observability import get_tracer, logger, metrics

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _observed(fn: Handler) -> Handler:
    return logger.inject_lambda_context(clear_state=True)(
        get_tracer().capture_lambda_handler(metrics.log_metrics(fn))
    )


def http_handler(*routers: APIGatewayHttpRouter) -> Handler:
    """A Lambda handler serving the given routers; the resolver is built on first use."""
    state: dict[str, Any] = {}

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if "resolver" not in state:
            from agent_sessions.http.api import build_resolver

            store.configure()
            state["resolver"] = build_resolver(routers)
        from agent_sessions.http.paths import canonical_event_path

        return dict(state["resolver"].resolve(canonical_event_path(event), context))

    return _observed(handle)


def worker_handler() -> Handler:
    """The agent worker. Emits `WorkerGbSeconds` per invocation (memory GB x wall seconds, what
    Lambda bills), the largest cost term of a deployment, failed invocations included."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        from agent_sessions import worker

        started = time.monotonic()
        try:
            store.configure()
            return worker.handle(event, context)
        finally:
            memory_gb = int(getattr(context, "memory_limit_in_mb", 0) or 0) / 1024
            metrics.add_metric(
                name="WorkerGbSeconds", unit="Seconds", value=memory_gb * (time.monotonic() - started)
            )

    return _observed(handle)


def reaper_handler() -> Handler:
    """The recovery sweep (agent_sessions.recovery) as a scheduled function."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        from dataclasses import asdict

        from agent_sessions import recovery

        store.configure()
        report = recovery.sweep()
        metrics.add_metric(name="RunsRecovered", unit="Count", value=report.taken_over)
        metrics.add_metric(name="TurnsClosedByRecovery", unit="Count", value=report.turns_closed)
        return asdict(report)

    return _observed(handle)
