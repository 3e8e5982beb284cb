"""Client errors: one base class, one subclass per status a caller reacts to differently."""

from __future__ import annotations

from typing import Any


class AgentSessionsError(Exception):
    """Base of everything this client raises (also a missing secret key, and `StreamEnded`)."""


class APIConnectionError(AgentSessionsError):
    """The server could not be reached (connection refused, DNS, TLS): no HTTP status was received."""


class APIStatusError(AgentSessionsError):
    """The server answered with an HTTP error status.

    `status_code` (int), `body` (the server's JSON `{error, code, ...}`, or `{"error": text}` when it was
    not JSON), `code` (the machine-readable `code`, e.g. `"session_closed"`, or None) and `message`
    (the human-readable `error`). Raised as the subclass for the status (`error_for`); statuses without
    one (429, 5xx) raise this class.
    """

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body if isinstance(body, dict) else {"error": str(body)}
        self.code: str | None = self.body.get("code")
        self.message = str(self.body.get("error") or f"HTTP {status_code}")
        super().__init__(f"{status_code} {self.message}")


class BadRequestError(APIStatusError):
    """400 or 422: the request was malformed or named something unknown (e.g. `unknown_task`)."""


class AuthenticationError(APIStatusError):
    """401: the secret key or public access token is missing, unknown, expired or badly signed."""


class PermissionDeniedError(APIStatusError):
    """403: the token is valid but its scopes do not cover this session or action."""


class NotFoundError(APIStatusError):
    """404: no such session (by `session_…` id or external id) or route."""


class ConflictError(APIStatusError):
    """409 other than a closed session (e.g. a conflicting idempotent create)."""


class SessionClosedError(ConflictError):
    """409 `session_closed`: the session is closed (or expired). Terminal: retrying cannot succeed."""

    @property
    def closed_reason(self) -> str | None:
        """The reason given to `sessions.close(..., reason=)` / `chat.close(reason)`, or None."""
        reason = self.body.get("closedReason")
        return str(reason) if reason else None


class PayloadTooLargeError(APIStatusError):
    """413: the body is over the server's limit (an `.in` record is at most 1 MiB; see the README)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: BadRequestError,
}


def error_for(status_code: int, body: Any) -> APIStatusError:
    """The exception for an HTTP error `status_code` and its decoded `body` (returned, not raised)."""
    if status_code == 409 and isinstance(body, dict) and body.get("code") == "session_closed":
        return SessionClosedError(status_code, body)
    return _BY_STATUS.get(status_code, APIStatusError)(status_code, body)
