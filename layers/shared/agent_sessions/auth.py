"""Credentials: secret keys and public access tokens (HS256 JWTs), scopes and their matching.

Tokens follow the protocol exactly: header `{"alg":"HS256"}`, claims `sub` (environment id), `pub`,
`scopes`, `iss`, `aud`, `iat`, `exp`; the verification key is the environment's root key found
through `sub`.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from agent_sessions import keys
from agent_sessions.errors import BadRequest, Forbidden, Unauthenticated

# The protocol fixes the HMAC key to the 31-byte root key string; the warning cannot be acted on.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

ISSUER = "https://id.trigger.dev"
AUDIENCE = "https://api.trigger.dev"
DEFAULT_PUBLIC_TOKEN_TTL = 15 * 60
MAX_PUBLIC_TOKEN_TTL = 30 * 24 * 3600

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}


@dataclass(frozen=True)
class Principal:
    environment: keys.Environment
    scopes: tuple[str, ...] = ()
    is_secret_key: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict)

    def can(self, action: str, resource_type: str, ids: Iterable[str]) -> bool:
        return self.is_secret_key or scopes_allow(self.scopes, action, resource_type, ids)

    def require(self, action: str, resource_type: str, ids: Iterable[str]) -> None:
        if not self.can(action, resource_type, ids):
            raise Forbidden("Unauthorized", param="access_token", type="authorization")

    def require_secret_key(self, what: str) -> None:
        if not self.is_secret_key:
            raise Forbidden(f"{what} requires secret key authentication")


def scopes_allow(scopes: Iterable[str], action: str, resource_type: str, ids: Iterable[str]) -> bool:
    """`admin` and `*:all` grant all; `action:all` every type; `action:type` every id; else exact id.

    Everything after the second colon is the id (ids may contain colons). `admin:type[:id]` grants
    every action on what it names.
    """
    wanted = set(ids)
    for scope in scopes:
        if scope in ("admin", "*:all"):
            return True
        parts = scope.split(":", 2)
        if len(parts) < 2 or parts[0] not in (action, "admin"):
            continue
        if parts[1] == "all":
            return True
        if parts[1] != resource_type:
            continue
        if len(parts) == 2 or parts[2] in wanted:
            return True
    return False


def parse_duration(value: str) -> int:
    match = _DURATION_RE.match(value.lower())
    if not match or match.group(2) not in _UNITS:
        raise BadRequest(f"Invalid expiration time: {value!r}", code="invalid_expiration")
    return int(match.group(1)) * _UNITS[match.group(2)]


def expiry_from(
    expiration: str | int | float | None, now: int, default: int = DEFAULT_PUBLIC_TOKEN_TTL
) -> int:
    """`"15m"`-style durations are relative; numbers are absolute epoch seconds (as in jose)."""
    if expiration is None:
        exp = now + default
    elif isinstance(expiration, bool):
        raise BadRequest("Invalid expiration time", code="invalid_expiration")
    elif isinstance(expiration, int | float):
        exp = int(expiration)
    else:
        exp = now + parse_duration(expiration)
    if exp <= now:
        raise BadRequest("Expiration time is in the past", code="invalid_expiration")
    if exp - now > MAX_PUBLIC_TOKEN_TTL:
        raise BadRequest("Expiration time exceeds 30 days", code="invalid_expiration")
    return exp


def claims_for(env: keys.Environment) -> dict[str, Any]:
    """What `POST /api/v1/auth/jwt/claims` returns; the SDK copies it into every PAT it signs."""
    return {"sub": env.id, "pub": True}


def mint_public_token(
    env: keys.Environment,
    scopes: list[str],
    *,
    expiration: str | int | float | None = None,
    ttl_seconds: int | None = None,
    one_time_use: bool = False,
    realtime: Mapping[str, Any] | None = None,
) -> str:
    now = int(time.time())
    exp = now + ttl_seconds if ttl_seconds is not None else expiry_from(expiration, now)
    payload: dict[str, Any] = {**claims_for(env), "scopes": list(scopes)}
    if one_time_use:
        payload["otu"] = True
    if realtime is not None:
        payload["realtime"] = dict(realtime)
    payload.update(iss=ISSUER, aud=AUDIENCE, iat=now, exp=exp)
    return jwt.encode(payload, env.secret_key, algorithm="HS256", headers={"typ": None})


def session_token(env: keys.Environment, addressing_key: str, ttl_seconds: int) -> str:
    return mint_public_token(
        env, [f"read:sessions:{addressing_key}", f"write:sessions:{addressing_key}"], ttl_seconds=ttl_seconds
    )


def turn_token(env: keys.Environment, addressing_key: str, run_id: str, ttl_seconds: int) -> str:
    """The PAT shipped on each `turn-complete`, same scopes as the reference agent mints."""
    scopes = [
        f"read:runs:{run_id}",
        f"read:sessions:{addressing_key}",
        f"write:inputStreams:{run_id}",
        f"write:sessions:{addressing_key}",
    ]
    return mint_public_token(env, scopes, ttl_seconds=ttl_seconds)


def bearer_token(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Invalid or Missing API key")
    return token.strip()


def authenticate(token: str, store: keys.KeyStore | None = None) -> Principal:
    """Resolve a bearer credential; any doubt about it is a 401."""
    store = store or keys.get_key_store()
    if keys.looks_like_api_key(token):
        env = keys.find_by_secret(store, token)
        if env is None:
            raise Unauthenticated("Invalid or Missing API key")
        return Principal(environment=env, is_secret_key=True)
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated("Invalid public access token") from exc
    if header.get("alg") != "HS256" or not isinstance(unverified.get("sub"), str):
        raise Unauthenticated("Invalid public access token")
    candidates = keys.find_by_id(store, unverified["sub"])
    if not candidates:
        raise Unauthenticated("Invalid public access token")
    env, claims = _verify(token, candidates)
    scopes = claims.get("scopes")
    if (
        claims.get("pub") is not True
        or not isinstance(scopes, list)
        or not all(isinstance(s, str) for s in scopes)
    ):
        raise Unauthenticated("Invalid public access token")
    return Principal(environment=env, scopes=tuple(scopes), claims=claims)


def _verify(token: str, candidates: list[keys.Environment]) -> tuple[keys.Environment, dict[str, Any]]:
    """Try each key the environment has (more than one while a rotated key is in its grace window)."""
    for env in candidates:
        try:
            claims = jwt.decode(
                token,
                env.secret_key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Public access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("Invalid public access token") from exc
        return env, claims
    raise Unauthenticated("Invalid public access token")


def authenticate_headers(headers: Mapping[str, str]) -> Principal:
    return authenticate(bearer_token(headers))
