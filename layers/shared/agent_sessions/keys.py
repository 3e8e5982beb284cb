"""Environments and their root secret keys.

A root key is both the credential of a backend and the HMAC key of every PAT minted for its
environment, so the key store answers two questions: "which environment owns this key?" and
"which key signs tokens whose `sub` is this environment?".
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any, Protocol

from agent_sessions.config import get_settings

ROOT_KEY_RE = re.compile(r"^tr_(dev|stg|prod|preview)_[0-9A-Za-z]{24}$")
ADDITIONAL_KEY_RE = re.compile(r"^tr_(dev|stg|prod|preview)_sk_[0-9a-zA-Z]{24}$")
_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Environment:
    id: str
    secret_key: str


def generate_root_key(kind: str = "dev") -> str:
    """A key in the root shape. 24 alphanumerics never start with `sk_`, so the SDK self-signs PATs."""
    return f"tr_{kind}_" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(24))


def looks_like_api_key(token: str) -> bool:
    return token.startswith("tr_") and token.count(".") != 2


class KeyStore(Protocol):
    def environments(self) -> list[Environment]: ...


def find_by_secret(store: KeyStore, key: str) -> Environment | None:
    for env in store.environments():
        if hmac.compare_digest(env.secret_key.encode(), key.encode()):
            return env
    return None


def find_by_id(store: KeyStore, env_id: str) -> list[Environment]:
    """Every key of the environment, newest first as listed (old keys stay during rotation)."""
    return [env for env in store.environments() if env.id == env_id]


class StaticKeyStore:
    """Fixed environments: the local stack and tests."""

    def __init__(self, environments: list[Environment]) -> None:
        for env in environments:
            if not ROOT_KEY_RE.match(env.secret_key):
                raise ValueError(f"environment {env.id}: secret key is not in the root key shape")
        self._environments = list(environments)

    def environments(self) -> list[Environment]:
        return self._environments


class SecretsManagerKeyStore:
    """Keys kept in one Secrets Manager secret, read through Powertools parameters with caching."""

    def __init__(self, secret_name: str, max_age: int) -> None:
        self._secret_name = secret_name
        self._max_age = max_age
        self._provider: Any = None

    def environments(self) -> list[Environment]:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider()
        raw = self._provider.get(self._secret_name, max_age=self._max_age)
        return parse_keys_document(json.loads(raw) if isinstance(raw, str | bytes) else raw)


def parse_keys_document(doc: dict[str, Any]) -> list[Environment]:
    """Either `{"environments":[{"id","secretKey"}...]}` (rotation: list the old key too) or the
    single environment the template generates: `{"environmentId","kind","random"}`."""
    if "environments" in doc:
        return [Environment(id=e["id"], secret_key=e["secretKey"]) for e in doc["environments"]]
    return [Environment(id=doc["environmentId"], secret_key=f"tr_{doc['kind']}_{doc['random']}")]


_store: KeyStore | None = None


def get_key_store() -> KeyStore:
    global _store
    if _store is None:
        settings = get_settings()
        if settings.keys_secret_name:
            _store = SecretsManagerKeyStore(settings.keys_secret_name, settings.keys_cache_seconds)
        elif settings.secret_key:
            _store = StaticKeyStore([Environment(settings.environment_id, settings.secret_key)])
        else:
            raise RuntimeError("no key store configured: set AGENT_SESSIONS_KEYS_SECRET_NAME or _SECRET_KEY")
    return _store


def set_key_store(store: KeyStore | None) -> None:
    global _store
    _store = store
