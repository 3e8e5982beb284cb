"""Lambda wiring shared by every thin handler: observability decorators, resolver, worker.

Cold start (issue 10): a handler module (`functions/*/app.py`) imports only this module, which
imports nothing beyond the standard library. What an invocation needs (Powertools' logger, metrics
and X-Ray tracer, the routes and the domain behind them, pydantic-settings, PynamoDB and botocore)
is loaded by `LazyHandler.prepare`: on the first invocation, or already during init when Lambda
initializes the environment ahead of traffic (provisioned concurrency, SnapStart), where loading
early keeps it off every request. `bench/imports.py` measures both the import and `prepare`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
RouterName = Literal["token", "start", "control", "append"]
"""The routers of `agent_sessions.http.api` (`api.ROUTERS`), one per HTTP API function."""

INIT_AHEAD_OF_TRAFFIC = ("provisioned-concurrency", "snap-start")
"""Values of `AWS_LAMBDA_INITIALIZATION_TYPE` for which init runs before any request waits on it."""


class LazyHandler:
    """A Lambda handler whose imports and construction happen on first use.

    `build` returns the real handler; it runs once, on the first call or on `prepare()`. Lambda
    invokes one event at a time per execution environment, so no lock is needed.
    """

    def __init__(self, build: Callable[[], Handler]) -> None:
        self._build = build
        self._handler: Handler | None = None
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in INIT_AHEAD_OF_TRAFFIC:
            self.prepare()

    def prepare(self) -> Handler:
        """Import and build the real handler now (idempotent); returns it."""
        if self._handler is None:
            self._handler = self._build()
        return self._handler

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.prepare()(event, context)


def _observed(fn: Handler) -> Handler:
    from agent_sessions.observability import get_tracer, logger, metrics

    return logger.inject_lambda_context(clear_state=True)(
        get_tracer().capture_lambda_handler(metrics.log_metrics(fn))
    )


def http_handler(*routers: RouterName) -> LazyHandler:
    """A Lambda handler serving the named routers of `agent_sessions.http.api` (`api.ROUTERS`)."""

    def build() -> Handler:
        from agent_sessions import store
        from agent_sessions.http.api import ROUTERS, build_resolver
        from agent_sessions.http.paths import canonical_event_path

        store.configure()
        resolver: APIGatewayHttpResolver = build_resolver([ROUTERS[name] for name in routers])

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return dict(resolver.resolve(canonical_event_path(event), context))

        return _observed(handle)

    return LazyHandler(build)


def worker_handler() -> LazyHandler:
    """The agent worker. Emits `WorkerGbSeconds` per invocation (memory GB x wall seconds, what
    Lambda bills), the largest cost term of a deployment, failed invocations included."""

    def build() -> Handler:
        from agent_sessions import store, worker
        from agent_sessions.observability import metrics

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
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

    return LazyHandler(build)


def reaper_handler() -> LazyHandler:
    """The recovery sweep (agent_sessions.recovery) as a scheduled function."""

    def build() -> Handler:
        from dataclasses import asdict

        from agent_sessions import recovery, store
        from agent_sessions.observability import metrics

        def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
            store.configure()
            report = recovery.sweep()
            metrics.add_metric(name="RunsRecovered", unit="Count", value=report.taken_over)
            metrics.add_metric(name="TurnsClosedByRecovery", unit="Count", value=report.turns_closed)
            return asdict(report)

        return _observed(handle)

    return LazyHandler(build)
