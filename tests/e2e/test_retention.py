"""Bounded `.out` end to end: the real `@trigger.dev/sdk@4.8.3` client against a local stack that
keeps about one turn (`AGENT_SESSIONS_OUT_RETENTION_SECONDS=0`, the reference's behaviour).

A reload whose cursor was trimmed away gets a `trim` command record, skips it as every S2 client
does, and receives the retained turn whole; the next send is answered (tests/node/e2e.mjs).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import RunningStack, node_scenario, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trimming_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path_factory.mktemp("trimming-stack"), AGENT_SESSIONS_OUT_RETENTION_SECONDS="0")
    yield stack
    stack.process.kill()  # its data is thrown away: no need to wait for a graceful stop
    stack.process.wait(timeout=20)


def test_real_client_resumes_from_a_trimmed_cursor(trimming_stack: RunningStack) -> None:
    node_scenario(trimming_stack, "resume-after-trim")
