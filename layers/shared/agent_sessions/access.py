"""Which session a request may touch, decided the same way on every session route (HTTP API, records,
SSE, `.in`/`.out` append on the API and on the Function URL).

Invariant: a caller whose credential does not cover the URL's key learns nothing about whether a
session exists there. The URL key is checked first; only when it is not covered is the session
resolved, so that a scope naming its other id form (friendlyId or externalId) still counts; if that
does not grant either, the answer is 403 `unauthorized` whether the session exists or not. A caller
entitled to the key gets 404 for a missing session. Channels only a backend may use (reading `.in`,
appending to `.out`) answer 403 to a PAT before anything is looked up.
"""

from __future__ import annotations

from agent_sessions import sessions, store
from agent_sessions.auth import Principal, forbidden
from agent_sessions.errors import BadRequest
from agent_sessions.scopes import SESSIONS, Channel, Need


def authorize_session(
    principal: Principal,
    url_key: str,
    action: str,
    channel: Channel | None = None,
    *,
    url_form_only: bool = False,
) -> store.SessionModel:
    """The session `url_key` names, if `principal` may do `action` on it (or on its `channel`).

    `url_form_only`: only a scope naming the URL's own form counts (PATCH and close, as in the
    reference). Raises Forbidden (403), NotFound (404, only to a caller entitled to the key),
    BadRequest for an empty key.
    """
    if not url_key:
        raise BadRequest("Missing session id", code="invalid_session_id")
    if principal.allows(Need(action, SESSIONS, frozenset({url_key}), channel)):
        return sessions.resolve(principal.environment.id, url_key)
    if url_form_only:
        raise forbidden()
    session = store.get_session_item(store.session_pk(principal.environment.id, url_key))
    if session is None or not principal.allows(
        Need(action, SESSIONS, frozenset(sessions.resource_ids(session, url_key)), channel)
    ):
        raise forbidden()
    return session


def read_channel(principal: Principal, url_key: str, io: str) -> store.SessionModel:
    """`.in` is for secret keys only; `.out` for `read:sessions:{id}` and `read:sessions:{id}:out`."""
    channel = Channel(io)
    if channel is Channel.IN:
        principal.require_secret_key("Reading the in channel")
    return authorize_session(principal, url_key, "read", channel)


def append_channel(principal: Principal, url_key: str, io: str) -> store.SessionModel:
    """`.out` is for secret keys only; `.in` for `write:sessions:{id}` and `write:sessions:{id}:in`."""
    channel = Channel(io)
    if channel is Channel.OUT:
        principal.require_secret_key("Appending to the out channel")
    return authorize_session(principal, url_key, "write", channel)


def read_transcript(principal: Principal, url_key: str) -> store.SessionModel:
    """A chat's transcript is for secret keys only (an app server renders it for its own user, as
    the reference's route): a PAT gets 403 before anything is looked up."""
    principal.require_secret_key("Reading a transcript")
    return authorize_session(principal, url_key, "read")
