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

    def headers(self) -> dict[str, str]:
        """Response headers the error carries besides CORS and `x-should-retry`."""
        return {}


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


class RateLimited(AgentSessionsError):
    """Over a rate limit: the 4.8.3 ApiClient waits until `x-ratelimit-reset` (Unix ms) and resends
    the same request (same `X-Part-Id`), so the error carries the limit's headers."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, limit_status: Any, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.limit_status = limit_status
        """The `rate_limits.RateStatus` the refusal reports (remaining 0, the window's reset)."""

    def headers(self) -> dict[str, str]:
        return dict(self.limit_status.headers())


class LiveRunsLimited(RateLimited):
    """The environment has as many live runs as its cap allows and this request would start one.
    Carries `x-ratelimit-*` headers (reset: a short back-off) so the 4.8.3 ApiClient waits and
    resends; nothing was written."""

    code = "live_runs_limit"


class Unprocessable(AgentSessionsError):
    status = 422
    code = "unprocessable"


class ConcurrencyError(AgentSessionsError):
    """A compare-and-swap lost more often than the retry budget allows."""

    status = 503
    code = "contention"
