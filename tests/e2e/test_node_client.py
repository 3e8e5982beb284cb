"""The real `@trigger.dev/sdk@4.8.3` (with `ai`) in Node against the local stack as `make dev` starts it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import RunningStack, node_scenario

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
    node_scenario(local_stack, scenario)
