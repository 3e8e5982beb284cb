"""The cost model: counted DynamoDB units and measured durations, in dollars at AWS list prices.

Every price is a named constant with its source. The deployment's own defaults (memory size and
architecture of each function, the warm window, the poll schedule) are read from template.yaml,
the settings and the state machine, so the figures follow the code. Two usage shapes are priced:

- `conversation`: 10 turns a conversation, the user replying `CONVERSATION_THINK_SECONDS` after
  each answer (inside the warm window, so no wake); the last turn is followed by the full warm
  window, a suspend and, an hour later, the run's expiry.
- `one_shot`: every turn arrives after the warm window ran out, so each one pays a full warm
  window and a wake (the worst case for us).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent_sessions.config import get_settings

ROOT = Path(__file__).resolve().parents[1]

# AWS us-east-1 list prices (checked 2026-11).
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
"""$ per GB-second of Lambda duration; https://aws.amazon.com/lambda/pricing/ (first tier)."""
LAMBDA_REQUEST = 0.20 / 1_000_000
"""$ per Lambda invocation; https://aws.amazon.com/lambda/pricing/."""
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000
"""$ per on-demand write request unit (1 KB; a transaction bills 2); https://aws.amazon.com/dynamodb/pricing/on-demand/."""
DYNAMODB_READ_UNIT = 0.125 / 1_000_000
"""$ per on-demand read request unit (strongly consistent 4 KB; eventually consistent: half);
https://aws.amazon.com/dynamodb/pricing/on-demand/."""
DYNAMODB_STORAGE_GB_MONTH = 0.25
"""$ per GB-month of table storage (Standard class); https://aws.amazon.com/dynamodb/pricing/on-demand/."""
STEP_FUNCTIONS_TRANSITION = 0.025 / 1000
"""$ per Standard-workflow state transition; https://aws.amazon.com/step-functions/pricing/."""

# Peers' published prices.
TRIGGER_SMALL_1X_SECOND = 0.0000338
"""Trigger.dev small-1x machine, $ per second of compute; https://trigger.dev/pricing."""
TRIGGER_RUN = 0.000025
"""Trigger.dev per-run invocation fee; https://trigger.dev/pricing."""
TRIGGER_WARM_SECONDS = 30.0
"""chat.agent's default warm window before a run suspends (idleTimeoutInSeconds)."""
LANGGRAPH_RUN = 0.005
"""LangGraph Platform, $ per run (one run answers one turn); https://www.langchain.com/pricing-langgraph-platform."""
AGENTCORE_VCPU_HOUR = 0.0895
"""Bedrock AgentCore Runtime, $ per vCPU-hour while the CPU is active; https://aws.amazon.com/bedrock/agentcore/pricing/."""
AGENTCORE_GB_HOUR = 0.00945
"""Bedrock AgentCore Runtime, $ per GB-hour of memory, billed until the session's idle timeout."""
AGENTCORE_IDLE_SECONDS = 15 * 60.0
"""AgentCore Runtime's default session idle timeout."""
AGENTCORE_GB = 1.0
"""Memory assumed for an AgentCore session (the same agent; its smallest sensible size)."""

TURNS_PER_CONVERSATION = 10
CONVERSATION_THINK_SECONDS = 15.0
"""Seconds a user takes to reply in the `conversation` shape (inside the default warm window)."""


@dataclass(frozen=True)
class Function:
    memory_gb: float
    architecture: str

    def gb_second_price(self) -> float:
        return self.memory_gb * LAMBDA_GB_SECOND[self.architecture]


def _cfn_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return Loader


def deployed_functions(template: Path = ROOT / "template.yaml") -> dict[str, Function]:
    """Memory and architecture of every function in the SAM template (Globals filled in)."""
    doc = yaml.load(template.read_text(), Loader=_cfn_loader())
    defaults = doc["Globals"]["Function"]
    functions = {}
    for name, resource in doc["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource["Properties"]}
        functions[name] = Function(props["MemorySize"] / 1024, props["Architectures"][0])
    return functions


def wake_transitions(definition: Path = ROOT / "statemachines" / "agent_run.asl.json") -> int:
    """State transitions from a parked `WaitForInput` back to the agent's `Route` (one wake)."""
    states = json.loads(definition.read_text())["States"]
    name, count = "WaitForInput", 0
    while True:
        count += 1
        if name == "Route":
            return count
        state = states[name]
        name = state.get("Next") or state["Default"]


def input_polls(seconds: float) -> int:
    """`.in` polls an idle agent makes in `seconds` on its schedule (`RunContext.wait_input`):
    every `input_poll_seconds` while hot, then doubling toward `sse_poll_max_seconds`."""
    settings = get_settings()
    hot, step = settings.input_poll_hot_seconds, settings.input_poll_seconds
    elapsed, polls, delay = 0.0, 0, step
    while elapsed < seconds:
        polls += 1
        if elapsed < hot:
            elapsed += step
        else:
            elapsed += delay
            delay = min(delay * 2, settings.sse_poll_max_seconds)
    return polls


def _dollars(value: float) -> float:
    return round(value, 4)


def per_thousand_turns(measured: dict[str, Any]) -> dict[str, Any]:
    """Breakdowns per 1,000 turns for both shapes, the peers beside them, and an idle session-hour.

    `measured` is the bench's results so far: `dynamodb_requests_per_turn.turn_20_chunks`
    (units and turn time of a warm 20-delta turn) and `append_latency_ms` (the append function).
    """
    settings = get_settings()
    functions = deployed_functions()
    worker = functions["AgentWorkerFunction"]
    sse = functions["OutStreamFunction"]
    api = functions["AppendFunction"]
    turn = measured["dynamodb_requests_per_turn"]["turn_20_chunks"]
    turn_seconds = float(turn["turn_seconds"])
    append_seconds = float(measured["append_latency_ms"]["p50"]) / 1000
    window = float(settings.idle_timeout_default_seconds)
    wake = wake_transitions()
    n = TURNS_PER_CONVERSATION
    think = CONVERSATION_THINK_SECONDS
    start_and_end = 3 + 3  # Init, InvokeAgent, Route; then WaitForInput, MarkExpired, Expired

    shapes = {
        "conversation": {
            "idle_seconds": ((n - 1) * think + window) / n,
            "transitions": start_and_end / n,
            "worker_invocations": 1 / n,
        },
        "one_shot": {
            "idle_seconds": window,
            "transitions": float(wake),
            "worker_invocations": 1.0,
        },
    }
    results: dict[str, Any] = {
        "assumptions": {
            "turn": "20 text deltas at 50/s from a warm run (measured turn time, append and units)",
            "turn_seconds": turn_seconds,
            "warm_window_seconds": window,
            "conversation": f"{n} turns, user replies after {think:g} s; the last turn pays the "
            "full warm window, a suspend and the run's expiry",
            "one_shot": "every turn after the warm window ran out: a full window and a wake each",
            "functions": {
                name: {"memory_mb": round(f.memory_gb * 1024), "architecture": f.architecture}
                for name, f in functions.items()
                if name in ("AgentWorkerFunction", "OutStreamFunction", "AppendFunction")
            },
            "wake_state_transitions": wake,
            "reads": "1 unit per started 4 KB and at least 1 per request (half for the in-turn "
            "watcher's eventually consistent polls)",
        },
    }
    for shape, s in shapes.items():
        idle = float(s["idle_seconds"])
        idle_polls = input_polls(think) if shape == "conversation" else input_polls(window)
        if shape == "conversation":  # the last turn's window is polled too
            idle_polls = ((n - 1) * idle_polls + input_polls(window)) / n
        per_turn = {
            "worker_gb_seconds": worker.gb_second_price() * (turn_seconds + idle),
            "worker_requests": LAMBDA_REQUEST * float(s["worker_invocations"]),
            "sse_function": sse.gb_second_price() * turn_seconds + LAMBDA_REQUEST,
            "api_functions": api.gb_second_price() * append_seconds + LAMBDA_REQUEST,
            "dynamodb_turn": DYNAMODB_WRITE_UNIT * turn["write_units"]
            + DYNAMODB_READ_UNIT * turn["read_units"],
            "dynamodb_idle_polls": DYNAMODB_READ_UNIT * idle_polls,
            "state_transitions": STEP_FUNCTIONS_TRANSITION * float(s["transitions"]),
        }
        total = sum(per_turn.values())
        peers = _peers(turn_seconds, shape)
        results[shape] = {
            "per_1000_turns": {k: _dollars(v * 1000) for k, v in per_turn.items()},
            "total_per_1000_turns": _dollars(total * 1000),
            "idle_polls_per_turn": round(idle_polls, 1),
            "peers_per_1000_turns": {k: _dollars(v * 1000) for k, v in peers.items()},
        }
    results["idle_session_hour"] = _idle_hour(turn)
    results["worker_sizes_conversation_per_1000_turns"] = _worker_sizes(results, worker)
    results["warm_window_break_even_seconds"] = round(
        STEP_FUNCTIONS_TRANSITION * wake / worker.gb_second_price(), 1
    )
    results["coalescing_window_per_streaming_second"] = _coalescing(worker)
    return results


def _worker_sizes(results: dict[str, Any], deployed: Function) -> dict[str, float]:
    """The conversation shape's total with the worker at other sizes (the default's trade-off)."""
    shape = results["conversation"]
    base = shape["total_per_1000_turns"] - shape["per_1000_turns"]["worker_gb_seconds"]
    gb_seconds = shape["per_1000_turns"]["worker_gb_seconds"] / deployed.gb_second_price()
    return {
        f"{mb}mb_{arch}": _dollars(base + gb_seconds * Function(mb / 1024, arch).gb_second_price())
        for mb in (256, 512, 1024)
        for arch in ("x86_64", "arm64")
    }


STREAM_BYTES_PER_SECOND = 50 * 110
"""A reply streaming 50 text deltas a second, each stored record about 110 bytes."""


def _coalescing(worker: Function) -> dict[str, Any]:
    """Dollars per second of a streaming reply spent on `.out` page writes, by coalescing window,
    beside the worker's own GB-seconds: a page is a transaction (2 write units per started KB of
    the page item, plus 2 for the head item it moves)."""
    rows: dict[str, Any] = {}
    for window in (0.05, 0.1, 0.25, 0.5, 1.0):
        page_kb = STREAM_BYTES_PER_SECOND * window / 1024
        units = (2 * max(1, -(-page_kb // 1)) + 2) / window
        rows[f"{window:g}s"] = {
            "writes_per_second": round(1 / window, 1),
            "dollars_per_streaming_second": round(units * DYNAMODB_WRITE_UNIT, 8),
            "added_latency_mean_ms": round(window / 2 * 1000),
        }
    rows["worker_dollars_per_second"] = round(worker.gb_second_price(), 8)
    return rows


def _peers(turn_seconds: float, shape: str) -> dict[str, float]:
    """The same turns on the peers: Trigger.dev pays its own 30 s warm window where we pay ours;
    AgentCore holds memory between turns and through its 15-minute idle timeout."""
    n = TURNS_PER_CONVERSATION
    between = CONVERSATION_THINK_SECONDS if shape == "conversation" else TRIGGER_WARM_SECONDS
    warm = ((n - 1) * between + TRIGGER_WARM_SECONDS) / n  # Trigger.dev compute between turns
    held = ((n - 1) * between + AGENTCORE_IDLE_SECONDS) / n  # AgentCore memory between turns
    return {
        "trigger_dev": TRIGGER_SMALL_1X_SECOND * (turn_seconds + warm) + TRIGGER_RUN / n,
        "langgraph_platform": LANGGRAPH_RUN,
        "bedrock_agentcore": AGENTCORE_VCPU_HOUR * turn_seconds / 3600
        + AGENTCORE_GB_HOUR * AGENTCORE_GB * (turn_seconds + held) / 3600,
    }


def _idle_hour(turn: dict[str, Any]) -> dict[str, Any]:
    """A suspended session: no compute (the run is parked in Step Functions), only storage."""
    stored = float(turn.get("write_bytes", 0)) * TURNS_PER_CONVERSATION
    return {
        "compute": 0.0,
        "storage_bytes_10_turns": int(stored),
        "storage_dollars_per_hour": stored / 1e9 * DYNAMODB_STORAGE_GB_MONTH / 730,
        "note": "a parked run costs nothing until woken; a client holding an idle SSE connection "
        "open would pay the SSE function for it (the chat transport closes it at turn-complete)",
    }


def table(results: dict[str, Any]) -> str:
    """The side-by-side table (Markdown) the README quotes."""
    lines = [
        "| per 1,000 turns | agent-sessions | Trigger.dev | LangGraph Platform | Bedrock AgentCore |",
        "|---|---|---|---|---|",
    ]
    for shape in ("conversation", "one_shot"):
        peers = results[shape]["peers_per_1000_turns"]
        lines.append(
            f"| {shape.replace('_', '-')} | ${results[shape]['total_per_1000_turns']:.3f} | "
            f"${peers['trigger_dev']:.3f} | ${peers['langgraph_platform']:.2f} | "
            f"${peers['bedrock_agentcore']:.3f} |"
        )
    return "\n".join(lines)
