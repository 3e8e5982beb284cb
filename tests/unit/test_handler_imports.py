"""What each Lambda handler loads at cold start (issue 10): counted modules, never timings."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from bench.imports import ROOT, ColdStart, cold_start, layer_distributions, outside_layer

LAMBDA_HANDLERS = ["agent_worker", "append", "run_reaper", "session_control", "start_session", "token_mint"]


@cache
def _measured(handler: str) -> ColdStart:
    return cold_start(ROOT / "functions" / handler / "app.py", samples=1)


def _dependency_modules() -> set[str]:
    """Top-level modules of the layer's third-party distributions (and the runtime's boto3)."""
    ours = {"agent-sessions", "setuptools"}
    third_party = layer_distributions() - ours
    return {
        module
        for module, dists in packages_distributions().items()
        if any(canonicalize_name(d) in third_party for d in dists)
    }


@pytest.mark.parametrize("handler", ["append", "out_stream"])
def test_the_append_and_out_stream_paths_import_no_agent_or_model_code(handler: str) -> None:
    """They serve every browser append and SSE read: a cold start there (the import and what the
    first invocation loads) must not pay for the agent runtime, its model adapters or the X-Ray
    SDK's patches of clients nobody uses there."""
    modules = _measured(handler).first_call_modules
    assert "agent_sessions.streams" in modules  # the import did happen
    assert [m for m in modules if m.startswith("agent_sessions.agent.")] == []
    assert [m for m in modules if m.split(".")[0] in ("httpx", "click")] == []


@pytest.mark.parametrize("handler", LAMBDA_HANDLERS)
def test_a_lambda_handler_module_imports_no_dependency_until_first_use(handler: str) -> None:
    """`functions/*/app.py` imports only `agent_sessions.lambda_entry` and the standard library:
    Powertools, the X-Ray SDK, pydantic(-settings), PynamoDB, botocore, PyJWT and the routes load
    in `LazyHandler.prepare` (first invocation, or init ahead of traffic)."""
    measured = _measured(handler)
    heavy = _dependency_modules()
    assert {"botocore", "pynamodb", "pydantic_settings", "aws_xray_sdk", "jwt"} <= heavy
    assert sorted(m for m in measured.modules if m.split(".")[0] in heavy) == []
    assert [m for m in measured.modules if m.startswith("agent_sessions.")] == ["agent_sessions.lambda_entry"]
    prepared = {m.split(".")[0] for m in measured.first_call_modules}
    assert {"aws_lambda_powertools", "aws_xray_sdk", "pynamodb"} <= prepared  # prepare() did load


def test_the_measurement_refuses_what_the_lambda_layer_does_not_ship() -> None:
    """The development virtualenv's extras (awscrt, pyOpenSSL, cryptography) are slow to import
    and botocore or PyJWT import them when present; Lambda has none of them."""
    refused = set(outside_layer())
    assert {"awscrt", "OpenSSL", "cryptography", "moto"} <= refused
    assert not {"botocore", "boto3", "pydantic", "pynamodb", "jwt", "starlette", "aws_xray_sdk"} & refused
    assert Path(ROOT / "layers" / "shared" / "requirements.txt").exists()


@pytest.mark.parametrize(
    ("initialization", "built_at_init"),
    [("on-demand", False), ("provisioned-concurrency", True), ("snap-start", True)],
)
def test_a_lazy_handler_builds_once_and_at_init_when_lambda_initializes_ahead_of_traffic(
    monkeypatch: pytest.MonkeyPatch, initialization: str, built_at_init: bool
) -> None:
    from agent_sessions.lambda_entry import LazyHandler

    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    builds: list[int] = []

    def build() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        builds.append(1)
        return lambda event, context: {"echo": event}

    handler = LazyHandler(build)
    assert len(builds) == (1 if built_at_init else 0)
    assert handler({"n": 1}, None) == {"echo": {"n": 1}}
    assert handler({"n": 2}, None) == {"echo": {"n": 2}}
    assert len(builds) == 1
