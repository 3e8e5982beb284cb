"""Credentials: secret keys and public access tokens (HS256 JWTs), scopes and their matching.

Tokens follow the protocol exactly: header `{"alg":"HS256"}`, claims `sub` (environment id), `pub`,
`scopes`, `iss`, `aud`, `iat`, `exp`; the verification key is the environment's root key found
through `sub`. Every PAT on every route is checked the same way: alg HS256 only, signature, `iss`,
`aud`, `pub: true`, `scopes` a list of strings, and the time claims with a leeway of
`tokens.CLOCK_LEEWAY_SECONDS` (60 s) each way, because customer backends sign PATs on their own
clocks: `exp` may be up to 60 s past, `iat` and `nbf` up to 60 s ahead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from agent_sessions import keys, tokens
from agent_sessions import scopes as scope_grammar
from agent_sessions.errors import BadRequest, Forbidden, Unauthenticated

ISSUER = tokens.ISSUER
AUDIENCE = tokens.AUDIENCE


@dataclass(frozen=True)
class Principal:
    """Who is calling: a secret key (every permission in its environment) or a PAT's parsed scopes."""

    environment: keys.Environment
    scopes: tuple[scope_grammar.Scope, ...] = ()
    is_secret_key: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, need: scope_grammar.Need) -> bool:
        return self.is_secret_key or scope_grammar.allows(self.scopes, need)

    def require(self, need: scope_grammar.Need) -> None:
        """Raises Forbidden (403 `unauthorized`) unless the credential grants `need`."""
        if not self.allows(need):
            raise forbidden()

    def require_secret_key(self, what: str) -> None:
        if not self.is_secret_key:
            raise Forbidden(f"{what} requires secret key authentication")


def forbidden() -> Forbidden:
    """The one answer to a failed scope check, whether or not the resource exists."""
    return Forbidden("Unauthorized", param="access_token", type="authorization")


def parse_duration(value: str) -> int:
    try:
        return tokens.parse_duration(value)
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_expiration") from None


def expiry_from(expiration: str | int | float | None, now: int) -> int:
    try:
        return tokens.expiry_from(expiration, now)
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_expiration") from None


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
    return tokens.sign(
        env.secret_key,
        claims_for(env),
        scopes,
        exp=exp,
        iat=now,
        one_time_use=one_time_use,
        realtime=realtime,
    )


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
    return Principal(environment=env, scopes=scope_grammar.parse_all(scopes), claims=claims)


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
                leeway=tokens.CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Public access token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated(
                "Public access token is not valid yet (iat or nbf ahead of the server clock"
                f" by more than {tokens.CLOCK_LEEWAY_SECONDS} s; check the signer's clock)"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("Invalid public access token") from exc
        return env, claims
    raise Unauthenticated("Invalid public access token")


def authenticate_headers(headers: Mapping[str, str]) -> Principal:
    return authenticate(bearer_token(headers))
