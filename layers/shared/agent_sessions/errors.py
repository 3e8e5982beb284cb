"""The error tree. Domain code raises these; `http.errors` maps them to a status and `{error, code}`."""

from __future__ import annotations

from typing import Any


class AgentSessionsError(Exception):
    status = 500
    code = "internal_error"
    should_retry: bool | None = None

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, **self.extra}


class BadRequest(AgentSessionsError):
    status = 400
    code = "bad_request"


class InvalidBody(BadRequest):
    code = "invalid_body"


class Unauthenticated(AgentSessionsError):
    status = 401
    code = "unauthenticated"


class Forbidden(AgentSessionsError):
    status = 403
    code = "unauthorized"


class NotFound(AgentSessionsError):
    status = 404
    code = "not_found"


class Conflict(AgentSessionsError):
    status = 409
    code = "conflict"


class SessionClosed(Conflict):
    """Terminal for clients: the transport marks the chat closed on this exact code."""

    code = "session_closed"
    should_retry = False


class PayloadTooLarge(AgentSessionsError):
    status = 413
    code = "payload_too_large"


class Unprocessable(AgentSessionsError):
    status = 422
    code = "unprocessable"


class ConcurrencyError(AgentSessionsError):
    """A compare-and-swap lost more often than the retry budget allows."""

    status = 503
    code = "contention"
