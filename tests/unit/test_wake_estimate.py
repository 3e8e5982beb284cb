"""The AWS wake estimate the bench records beside the measured local wake (bench/wake_estimate.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import goals, wake_estimate


def test_the_warm_total_is_the_sum_of_its_hops_and_is_labelled_an_estimate() -> None:
    found = wake_estimate.estimate()
    assert "ESTIMATE" in found["kind"]
    assert found["warm_total_ms"]["low"] == round(sum(h["low_ms"] for h in found["hops"]), 1)
    assert found["warm_total_ms"]["high"] == round(sum(h["high_ms"] for h in found["hops"]), 1)
    assert all(h["basis"] for h in found["hops"])
    assert "cold_total_ms" not in found["cold_worker_adds"], "no import measured, no cold total"


def test_a_cold_worker_adds_the_runtime_init_and_the_import_measured_in_the_same_run() -> None:
    results = {
        "handler_import_ms": {
            "ms": {"agent_worker": 400.0},
            "import_plus_first_call_ms": {"agent_worker": 500.0},
        }
    }
    found = wake_estimate.estimate(results)
    warm = found["warm_total_ms"]
    cold = found["cold_worker_adds"]
    assert cold["worker_import_ms"]["measured_locally"] == 500.0  # the first call's work counts too
    low, high = wake_estimate.LAMBDA_RUNTIME_INIT_MS
    assert cold["cold_total_ms"] == {
        "low": round(warm["low"] + low + 500, 1),
        "high": round(warm["high"] + high + 500, 1),
    }


def test_a_failed_import_section_leaves_the_warm_estimate_standing() -> None:
    found = wake_estimate.estimate({"handler_import_ms": {"error": "RuntimeError: boom"}})
    assert found["warm_total_ms"]["high"] > 0 and "cold_total_ms" not in found["cold_worker_adds"]


def test_the_wake_goal_needs_the_local_p50_and_the_aws_estimate() -> None:
    recorded = json.loads(
        (Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json").read_text()
    )
    recorded["wake_from_suspended_ms"]["first_token"]["p50"] = 200.0
    recorded.pop("wake_aws_estimate_ms", None)

    def wake_row() -> dict[str, Any]:
        return next(row for row in goals.check(recorded) if "suspended" in row["figure"])

    assert wake_row()["met"] is False, "no estimate of the AWS path, goal not met"
    recorded["wake_aws_estimate_ms"] = wake_estimate.estimate(recorded)
    assert wake_row()["met"] is True
    assert wake_row()["measured"]["aws_estimate_warm"] == recorded["wake_aws_estimate_ms"]["warm_total_ms"]
