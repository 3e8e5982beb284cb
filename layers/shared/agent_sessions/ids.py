"""Public id forms. `session_`/`run_` + 25 lowercase alphanumerics, like the reference cuids."""

from __future__ import annotations

import secrets
import string

from agent_sessions import scopes

_ALPHABET = string.ascii_lowercase + string.digits
_NANO_ALPHABET = string.ascii_letters + string.digits + "_-"

SESSION_PREFIX = "session_"
RUN_PREFIX = "run_"
MAX_EXTERNAL_ID = 256


def _random(n: int, alphabet: str = _ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_session_id() -> str:
    return SESSION_PREFIX + _random(25)


def new_run_id() -> str:
    return RUN_PREFIX + _random(25)


def new_record_id() -> str:
    """Record envelope id: unique per record so the client's per-connection dedupe never drops one."""
    return _random(7, _NANO_ALPHABET)


def external_id_problem(value: str) -> str | None:
    """Why `value` cannot be an externalId (None if it can): 1-256 characters, trimmed, not starting
    with `session_` (the friendlyId form), not a dot segment (`.`, `..`: clients normalize them out of
    the URL) and not colliding with the scope grammar's reserved suffixes."""
    if not 0 < len(value) <= MAX_EXTERNAL_ID or value != value.strip():
        return f"must be 1-{MAX_EXTERNAL_ID} characters without surrounding whitespace"
    if value.startswith(SESSION_PREFIX):
        return f"must not start with {SESSION_PREFIX!r}"
    if value in (".", ".."):  # fetch, browsers and httpx drop these path segments: no route could reach it
        return "must not be '.' or '..'"
    return scopes.reserved_id_reason(value)
