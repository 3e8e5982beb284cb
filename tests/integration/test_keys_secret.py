"""Root keys kept in Secrets Manager (moto), read through Powertools parameters with caching."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from agent_sessions import auth, keys


@pytest.fixture
def secret() -> Iterator[str]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(
            Name="agent-sessions-keys",
            SecretString=json.dumps({"environmentId": "env_prod", "kind": "prod", "random": "A" * 24}),
        )
        yield "agent-sessions-keys"


def test_generated_secret_authenticates_keys_and_tokens(secret: str) -> None:
    store = keys.SecretsManagerKeyStore(secret, max_age=300)
    principal = auth.authenticate("tr_prod_" + "A" * 24, store)
    assert principal.is_secret_key and principal.environment.id == "env_prod"
    token = auth.mint_public_token(principal.environment, ["read:sessions:c"], expiration="5m")
    assert auth.authenticate(token, store).claims["scopes"] == ["read:sessions:c"]


def test_the_secret_is_cached_for_max_age(secret: str) -> None:
    store = keys.SecretsManagerKeyStore(secret, max_age=300)
    store.environments()
    rotated = {"environments": [{"id": "env_prod", "secretKey": "tr_prod_" + "B" * 24}]}
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=secret, SecretString=json.dumps(rotated)
    )
    assert store.environments()[0].secret_key == "tr_prod_" + "A" * 24, "served from the cache"
    fresh = keys.SecretsManagerKeyStore(secret, max_age=0)
    assert fresh.environments()[0].secret_key == "tr_prod_" + "B" * 24
