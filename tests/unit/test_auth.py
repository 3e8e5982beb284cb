"""Scopes, durations and token verification: pure logic, no network."""

from __future__ import annotations

import time

import jwt
import pytest

from agent_sessions import auth, keys, tokens
from agent_sessions.errors import BadRequest, Unauthenticated
from agent_sessions.scopes import Scope
from tests.support import ENV, OTHER_ENV

STORE = keys.StaticKeyStore([ENV, OTHER_ENV])


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h", 3600), ("2d", 172800), ("30 seconds", 30)]
)
def test_durations(text: str, seconds: int) -> None:
    assert auth.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5 fortnights", "-1h"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(BadRequest):
        auth.parse_duration(bad)


def test_expiry_rules() -> None:
    now = 1_000_000
    assert auth.expiry_from(None, now) == now + 900
    assert auth.expiry_from(now + 60, now) == now + 60
    for bad in (now - 1, "31d", True):
        with pytest.raises(BadRequest):
            auth.expiry_from(bad, now)  # type: ignore[arg-type]


def test_minted_token_has_the_protocol_shape() -> None:
    token = auth.mint_public_token(ENV, ["read:sessions:c"], expiration="1h", one_time_use=True)
    assert jwt.get_unverified_header(token) == {"alg": "HS256"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == ENV.id and claims["pub"] is True and claims["otu"] is True
    assert claims["iss"] == "https://id.trigger.dev" and claims["aud"] == "https://api.trigger.dev"
    assert claims["exp"] - claims["iat"] == 3600


def _sign(claims: dict[str, object], key: str = ENV.secret_key) -> str:
    now = int(time.time())
    base = {
        "sub": ENV.id,
        "pub": True,
        "scopes": ["read:sessions:c"],
        "iss": auth.ISSUER,
        "aud": auth.AUDIENCE,
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode({**base, **claims}, key, algorithm="HS256", headers={"typ": None})


def test_self_signed_token_like_the_sdk_makes_is_accepted() -> None:
    principal = auth.authenticate(_sign({}), STORE)
    assert principal.environment == ENV and principal.scopes == (Scope("read", "sessions", "c"),)
    assert not principal.is_secret_key


@pytest.mark.parametrize(
    "token",
    [
        _sign({"iat": int(time.time()) - 900, "exp": int(time.time()) - 120}),
        _sign({}, key=OTHER_ENV.secret_key),
        _sign({"sub": "env_unknown"}),
        _sign({"iss": "https://evil"}),
        _sign({"aud": "https://elsewhere"}),
        _sign({"pub": False}),
        _sign({"scopes": "read:sessions:c"}),
        "not.a.jwt",
        "garbage",
        _sign({})[:-3] + "abc",
        "tr_dev_" + "x" * 24,
    ],
    ids=[
        "expired",
        "other-env-key",
        "unknown-sub",
        "bad-iss",
        "bad-aud",
        "not-public",
        "scopes-not-list",
        "malformed",
        "garbage",
        "bad-signature",
        "unknown-secret-key",
    ],
)
def test_bad_tokens_are_unauthenticated(token: str) -> None:
    with pytest.raises(Unauthenticated):
        auth.authenticate(token, STORE)


def test_none_algorithm_is_refused() -> None:
    token = jwt.encode({"sub": ENV.id, "pub": True, "scopes": ["admin"]}, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        auth.authenticate(token, STORE)


def test_secret_keys_resolve_their_environment() -> None:
    assert auth.authenticate(OTHER_ENV.secret_key, STORE).environment == OTHER_ENV
    assert auth.authenticate(ENV.secret_key, STORE).is_secret_key


def test_generated_root_keys_never_look_like_additional_keys() -> None:
    for _ in range(200):
        key = keys.generate_root_key("dev")
        assert keys.ROOT_KEY_RE.match(key) and not keys.ADDITIONAL_KEY_RE.match(key)


def test_bearer_parsing() -> None:
    assert auth.bearer_token({"authorization": "Bearer abc"}) == "abc"
    for bad in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}):
        with pytest.raises(Unauthenticated):
            auth.bearer_token(bad)


def test_rotated_keys_keep_old_tokens_valid_during_the_grace_window() -> None:
    new = keys.Environment(ENV.id, "tr_dev_" + "N3wK3yN3wK3yN3wK3yN3wK3y")
    rotated = keys.StaticKeyStore([new, ENV])
    old_token = _sign({})
    assert auth.authenticate(old_token, rotated).environment == ENV
    with pytest.raises(Unauthenticated):
        auth.authenticate(old_token, keys.StaticKeyStore([new]))


def test_generated_secret_document_becomes_a_root_key() -> None:
    envs = keys.parse_keys_document({"environmentId": "env_prod", "kind": "prod", "random": "a" * 24})
    assert envs == [keys.Environment("env_prod", "tr_prod_" + "a" * 24)]


LEEWAY = tokens.CLOCK_LEEWAY_SECONDS


@pytest.mark.parametrize(
    ("offsets", "accepted"),
    [
        ({"iat": 1}, True),
        ({"iat": 5}, True),
        ({"iat": LEEWAY - 5}, True),
        ({"iat": LEEWAY + 5}, False),
        ({"iat": 3600}, False),
        ({"nbf": 5}, True),
        ({"nbf": LEEWAY + 5}, False),
        ({"exp": -5}, True),
        ({"exp": -(LEEWAY + 5)}, False),
        ({"iat": -7200, "exp": -3600}, False),
    ],
    ids=str,
)
def test_time_claims_have_a_stated_leeway(offsets: dict[str, int], accepted: bool) -> None:
    """A backend whose clock runs a few seconds ahead signs PATs the server must accept."""
    now = int(time.time())
    claims: dict[str, object] = {name: now + offset for name, offset in offsets.items()}
    if "iat" in offsets and "exp" not in offsets:
        claims["exp"] = now + offsets["iat"] + 900
    token = _sign(claims)
    if accepted:
        assert auth.authenticate(token, STORE).environment == ENV
    else:
        with pytest.raises(Unauthenticated):
            auth.authenticate(token, STORE)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_only_hs256_is_accepted(alg: str) -> None:
    now = int(time.time())
    claims = {"sub": ENV.id, "pub": True, "scopes": ["admin"], "iss": auth.ISSUER, "aud": auth.AUDIENCE}
    token = jwt.encode({**claims, "iat": now, "exp": now + 60}, ENV.secret_key, algorithm=alg)
    with pytest.raises(Unauthenticated):
        auth.authenticate(token, STORE)
