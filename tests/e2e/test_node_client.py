"""The real `@trigger.dev/sdk@4.8.3` (with `ai`) in Node against the local stack as `make dev` starts it."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import NODE_DIR, RunningStack

pytestmark = pytest.mark.e2e

SCENARIOS = [
    "first-send",
    "second-turn-resumes",
    "stop-mid-turn",
    "token-refresh",
    "reconnect-mid-turn",
    "settled-reconnect",
    "duplicate-part-id",
    "close-then-send",
    "agent-chat",
    "retrieve-both-forms",
    "long-poll-window",
    "trigger-token-refused",
    "skewed-backend-clock",
    "odd-ids",
    "load-transcript",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_node_client_scenario(local_stack: RunningStack, scenario: str) -> None:
    node = shutil.which("node")
    assert node, "Node 20 is required for the end-to-end tests"
    assert (NODE_DIR / "node_modules" / "@trigger.dev" / "sdk").exists(), (
        "run `make node-deps` (make test does)"
    )
    result = subprocess.run(
        [node, "e2e.mjs", scenario],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASE_URL": local_stack.base_url, "SECRET_KEY": local_stack.secret_key},
    )
    assert result.returncode == 0, f"{scenario} failed:\n{result.stdout}\n{result.stderr}"
    assert f'"scenario":"{scenario}","ok":true' in result.stdout
