"""Scopes, durations and token verification: pure logic, no network."""

from __future__ import annotations

import time

import jwt
import pytest

from agent_sessions import auth, keys
from agent_sessions.errors import BadRequest, Unauthenticated
from tests.support import ENV, OTHER_ENV

STORE = keys.StaticKeyStore([ENV, OTHER_ENV])


@pytest.mark.parametrize(
    ("scopes", "action", "ids", "allowed"),
    [
        (["admin"], "write", ["x"], True),
        (["*:all"], "read", ["x"], True),
        (["read:all"], "read", ["x"], True),
        (["read:all"], "write", ["x"], False),
        (["read:sessions"], "read", ["anything"], True),
        (["read:sessions:chat-1"], "read", ["chat-1", "session_abc"], True),
        (["read:sessions:session_abc"], "read", ["chat-1", "session_abc"], True),
        (["read:sessions:chat-2"], "read", ["chat-1", "session_abc"], False),
        (["read:sessions:chat-1"], "write", ["chat-1"], False),
        (["write:sessions:a:b:c"], "write", ["a:b:c"], True),
        (["write:sessions:a:b"], "write", ["a:b:c"], False),
        (["trigger:tasks:chat-1"], "write", ["chat-1"], False),
        (["read:runs:chat-1"], "read", ["chat-1"], False),
        (["admin:sessions:chat-1"], "write", ["chat-1"], True),
        ([], "read", ["chat-1"], False),
    ],
)
def test_scope_matching(scopes: list[str], action: str, ids: list[str], allowed: bool) -> None:
    assert auth.scopes_allow(scopes, action, "sessions", ids) is allowed


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
    assert principal.environment == ENV and principal.scopes == ("read:sessions:c",)
    assert not principal.is_secret_key


@pytest.mark.parametrize(
    "token",
    [
        _sign({"exp": int(time.time()) - 10}),
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
