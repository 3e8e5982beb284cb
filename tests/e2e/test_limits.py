"""Limits end to end: the real 4.8.3 client recovers from a 429 by itself (its own stack, low limits)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RunningStack, node_scenario, start_stack, stop_stack

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
    node_scenario(limited_stack, "rate-limited-send")
