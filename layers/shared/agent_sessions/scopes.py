"""The scope grammar of public access tokens: every scope string is parsed once, here, and every route
checks the parsed form the same way.

A scope is `action:type[:id]` (everything after the second colon is the id), bare `admin`, `*:all` or
`action:all`. A session id may end in a channel suffix, `read:sessions:{id}:out` granting only `.out`
reads and `write:sessions:{id}:in` only `.in` appends. That is unambiguous because no session id can
end in a suffix the grammar reserves (`:in`, `:out`) or contain `:channels:` (the reference's named
side channels, which this server does not serve): `reserved_id_reason` refuses them at create.

Invariant: a scope that does not parse, or names a shape this server does not know, grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    IN = "in"
    OUT = "out"


RESERVED_SUFFIXES = tuple(f":{c.value}" for c in Channel)
RESERVED_INFIX = ":channels:"
ALL = "all"
SESSIONS = "sessions"


@dataclass(frozen=True)
class Scope:
    """One parsed scope. `resource_type` None = every type; `id` None = every id of the type;
    `channel` None = the whole resource (a session and both its channels)."""

    action: str
    resource_type: str | None = None
    id: str | None = None
    channel: Channel | None = None


@dataclass(frozen=True)
class Need:
    """What a request needs. `ids` are the names of one resource (any one in a scope suffices: a
    session's URL form, friendlyId and externalId); None means only a type-wide scope will do.
    `channel` is the session channel the request touches, None for the session itself."""

    action: str
    resource_type: str
    ids: frozenset[str] | None
    channel: Channel | None = None


def parse(scope: str) -> Scope | None:
    """`"read:sessions:chat-1:out"` → `Scope("read", "sessions", "chat-1", Channel.OUT)`; None when
    the string grants nothing (malformed, empty parts, a named channel, a bare non-admin action)."""
    if scope == "admin":
        return Scope("admin")
    parts = scope.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    action, kind = parts[0], parts[1]
    if action == "*":
        return Scope("*") if scope == "*:all" else None
    if kind == ALL:
        return Scope(action) if len(parts) == 2 else None
    if len(parts) == 2:
        return Scope(action, kind)
    rest = parts[2]
    if kind != SESSIONS:
        return Scope(action, kind, rest) if rest else None
    if RESERVED_INFIX in rest:
        return None
    for channel in Channel:
        suffix = f":{channel.value}"
        if rest.endswith(suffix):
            base = rest[: -len(suffix)]
            return Scope(action, kind, base, channel) if base else None
    return Scope(action, kind, rest) if rest else None


def parse_all(scopes: Iterable[str]) -> tuple[Scope, ...]:
    return tuple(p for p in (parse(s) for s in scopes) if p is not None)


def grants(scope: Scope, need: Need) -> bool:
    if scope.action not in (need.action, "admin", "*"):
        return False
    if scope.resource_type is None:
        return True
    if scope.resource_type != need.resource_type:
        return False
    if scope.id is None:
        return True
    if need.ids is None or scope.id not in need.ids:
        return False
    return scope.channel is None or scope.channel == need.channel


def allows(scopes: Iterable[Scope], need: Need) -> bool:
    return any(grants(s, need) for s in scopes)


def reserved_id_reason(session_id: str) -> str | None:
    """Why `session_id` cannot name a session (it would collide with the grammar), or None."""
    for suffix in RESERVED_SUFFIXES:
        if session_id.endswith(suffix):
            return f"must not end with {suffix!r} (reserved for channel scopes)"
    if RESERVED_INFIX in session_id:
        return f"must not contain {RESERVED_INFIX!r} (reserved for channel scopes)"
    return None
