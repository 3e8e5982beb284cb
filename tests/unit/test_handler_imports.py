"""What each Lambda handler loads at cold start (issue 10): counted modules, never timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.imports import ROOT, measure, outside_layer


@pytest.mark.parametrize("handler", ["append", "out_stream"])
def test_the_append_and_out_stream_paths_import_no_agent_or_model_code(handler: str) -> None:
    """They serve every browser append and SSE read: a cold start there must not pay for the
    agent runtime, its model adapters or the X-Ray SDK's patches of clients nobody uses there."""
    _, _, modules = measure(ROOT / "functions" / handler / "app.py", samples=1)
    assert "agent_sessions.streams" in modules  # the import did happen
    assert [m for m in modules if m.startswith("agent_sessions.agent.")] == []
    assert [m for m in modules if m.split(".")[0] in ("httpx", "click")] == []


def test_the_measurement_refuses_what_the_lambda_layer_does_not_ship() -> None:
    """The development virtualenv's extras (awscrt, pyOpenSSL, cryptography) are slow to import
    and botocore or PyJWT import them when present; Lambda has none of them."""
    refused = set(outside_layer())
    assert {"awscrt", "OpenSSL", "cryptography", "moto"} <= refused
    assert not {"botocore", "boto3", "pydantic", "pynamodb", "jwt", "starlette", "aws_xray_sdk"} & refused
    assert Path(ROOT / "layers" / "shared" / "requirements.txt").exists()
