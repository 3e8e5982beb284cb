"""The one place that turns exceptions into HTTP status + `{error, code}`."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from agent_sessions.errors import AgentSessionsError

logger = logging.getLogger(__name__)


def error_response(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) for any exception escaping a route."""
    if isinstance(exc, AgentSessionsError):
        headers = exc.headers()
        if exc.should_retry is not None:
            headers["x-should-retry"] = "true" if exc.should_retry else "false"
        return exc.status, exc.body(), headers
    if isinstance(exc, ValidationError):
        return 400, {"error": validation_message(exc), "code": "invalid_body"}, {}
    logger.exception("unhandled error")
    return 500, {"error": "Internal Server Error", "code": "internal_error"}, {}


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "Invalid request body"
