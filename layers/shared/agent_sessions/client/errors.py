"""Client errors: one base class, one subclass per status a caller reacts to differently."""

from __future__ import annotations

from typing import Any


class AgentSessionsError(Exception):
    """Anything this client raises."""


class APIConnectionError(AgentSessionsError):
    """The server could not be reached."""


class APIStatusError(AgentSessionsError):
    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body if isinstance(body, dict) else {"error": str(body)}
        self.code: str | None = self.body.get("code")
        self.message = str(self.body.get("error") or f"HTTP {status_code}")
        super().__init__(f"{status_code} {self.message}")


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class SessionClosedError(ConflictError):
    """The session is closed (or expired): terminal, never retried."""

    @property
    def closed_reason(self) -> str | None:
        reason = self.body.get("closedReason")
        return str(reason) if reason else None


class PayloadTooLargeError(APIStatusError):
    pass


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
    if status_code == 409 and isinstance(body, dict) and body.get("code") == "session_closed":
        return SessionClosedError(status_code, body)
    return _BY_STATUS.get(status_code, APIStatusError)(status_code, body)
