"""Limits end to end: the real 4.8.3 client recovers from a 429 by itself (its own stack, low limits)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import NODE_DIR, RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(
        tmp_path_factory.mktemp("limited-stack"),
        AGENT_SESSIONS_APPEND_RATE_LIMIT="3",
        AGENT_SESSIONS_RATE_WINDOW_SECONDS="4",
    )
    yield stack
    stop_stack(stack)


def test_node_client_waits_out_a_429_and_its_message_lands_once(limited_stack: RunningStack) -> None:
    node = shutil.which("node")
    assert node, "Node 20 is required for the end-to-end tests"
    result = subprocess.run(
        [node, "e2e.mjs", "rate-limited-send"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASE_URL": limited_stack.base_url, "SECRET_KEY": limited_stack.secret_key},
    )
    assert result.returncode == 0, f"failed:\n{result.stdout}\n{result.stderr}"
    assert '"scenario":"rate-limited-send","ok":true' in result.stdout
