"""The fault campaign in the suite (bounded counts; `make chaos` runs more): bench/chaos.py.

The campaign runs once for the module and writes bench/results/chaos-suite.json; each test below
checks one goal against its figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos import Counts, Figures, run_campaign

pytestmark = pytest.mark.campaign

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "chaos-suite.json"


@pytest.fixture(scope="module")
def figures() -> Iterator[Figures]:
    yield run_campaign(Counts(sessions=4, turns_per_session=8, reconnect_turns=2), RESULTS)


def test_the_campaign_ran_every_phase_with_faults(figures: Figures) -> None:
    assert figures.phases_failed == 0, figures.failures
    assert figures.turns + figures.turns_skipped_wedged >= 30
    assert sum(figures.faults_injected.values()) > 50, figures.faults_injected


def test_no_message_is_lost_or_stored_twice(figures: Figures) -> None:
    assert (figures.in_lost, figures.in_duplicated) == (0, 0), figures.failures


def test_no_out_record_is_written_twice_or_lost(figures: Figures) -> None:
    assert (figures.out_duplicated, figures.replies_garbled, figures.seq_gaps) == (0, 0, 0), figures.failures


def test_commit_then_fail_duplicates_nothing_for_every_write_kind(figures: Figures) -> None:
    assert figures.commit_then_fail, "the phase ran"
    for kind, result in figures.commit_then_fail.items():
        assert result["injected"] == 1, (kind, result)
        assert (result["duplicated"], result["client_errors"]) == (0, 0), (kind, result, figures.failures)


def test_fifty_concurrent_appends_to_an_ended_run_start_one_continuation(figures: Figures) -> None:
    burst = figures.concurrent_appends
    assert burst["appends"] == 50
    assert burst["continuations_started"] == 1, burst
    assert (burst["in_lost"], burst["in_duplicated"], burst["client_errors"]) == (0, 0, 0), burst


def test_reconnects_lose_and_repeat_nothing(figures: Figures) -> None:
    cuts = figures.reconnect
    assert cuts["cuts"] > 0 and cuts["records_read"] > 0, cuts
    assert (cuts["lost"], cuts["duplicated"]) == (0, 0), cuts


def test_every_turn_completes_and_no_session_wedges(figures: Figures) -> None:
    hung = (figures.turns_never_completed, figures.turns_skipped_wedged, figures.wedged_sessions)
    assert hung == (0, 0, 0), figures.failures


def test_every_client_visible_failure_is_an_error_chunk_and_turn_complete(figures: Figures) -> None:
    assert figures.unclean_failures == 0, figures.failures


def test_no_input_is_answered_twice(figures: Figures) -> None:
    assert figures.out_turns_duplicated == 0, figures.failures
