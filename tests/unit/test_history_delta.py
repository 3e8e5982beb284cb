"""What a history save writes (`agent/history.py` diff) and how records fold back (issue 8, item 6)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agent_sessions.agent.history import Op, Record, Saved, diff, fold


def msg(message_id: str, text: str = "") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text or message_id}]}


def record(ops: list[Op]) -> Record:
    return Record(v=2, token="t", savedAt=0, lastInEventId=None, ops=ops)


BASE = [msg("a"), msg("b"), msg("c")]

CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], list[Op], bool]] = [
    ("nothing changed writes nothing", BASE, {"k": 1}, [], False),
    (
        "a turn appends its messages only",
        [*BASE, msg("d"), msg("e")],
        {"k": 1},
        [{"op": "put", "at": 3, "message": msg("d")}, {"op": "put", "at": 4, "message": msg("e")}],
        False,
    ),
    (
        "a merged message is put in place",
        [msg("a"), msg("b", "merged"), msg("c")],
        {"k": 1},
        [{"op": "put", "at": 1, "message": msg("b", "merged")}],
        False,
    ),
    (
        "regenerate truncates and appends",
        [msg("a"), msg("b"), msg("x")],
        {"k": 1},
        [{"op": "truncate", "length": 2}, {"op": "put", "at": 2, "message": msg("x")}],
        False,
    ),
    ("a store change writes the store", BASE, {"k": 2}, [{"op": "store", "store": {"k": 2}}], False),
    (
        "compaction rebases onto the summary and the kept messages",
        [msg("summary"), msg("c")],
        {"k": 1},
        [
            {"op": "put", "at": 0, "message": msg("summary")},
            {"op": "put", "at": 1, "message": msg("c")},
            {"op": "store", "store": {"k": 1}},
        ],
        True,
    ),
]


@pytest.mark.parametrize(
    ("messages", "chat_store", "ops", "rebase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_diff(
    messages: list[dict[str, Any]], chat_store: dict[str, Any], ops: list[Op], rebase: bool
) -> None:
    delta = diff(Saved.of(BASE, {"k": 1}), messages, chat_store, fresh=False)
    assert (delta.ops, delta.rebase) == (ops, rebase)
    before, _ = fold([record(diff(Saved(), BASE, {"k": 1}, fresh=True).ops)])
    history = [record(diff(Saved(), BASE, {"k": 1}, fresh=True).ops), record(delta.ops)]
    if rebase:
        history = history[1:]
    assert before == BASE
    assert fold(history) == (messages, chat_store)


def test_random_edits_fold_back_to_the_last_save() -> None:
    """Any sequence of appends, in-place changes, truncations, replacements and store edits round-trips."""
    rng = random.Random(8)
    messages: list[dict[str, Any]] = []
    chat_store: dict[str, Any] = {}
    saved = Saved()
    records: list[Record] = []
    for step in range(300):
        roll = rng.random()
        if roll < 0.5 or not messages:
            messages.append(msg(f"m{step}"))
        elif roll < 0.7:
            i = rng.randrange(len(messages))
            messages[i] = msg(str(messages[i]["id"]), f"edit {step}")
        elif roll < 0.8:
            del messages[rng.randrange(len(messages)) :]
        elif roll < 0.85:
            messages = [msg(f"summary{step}"), *messages[-2:]]
        else:
            chat_store = {**chat_store, f"k{step % 5}": step}
        delta = diff(saved, messages, chat_store, fresh=not records)
        if delta.rebase:
            records = []
        if delta.ops:
            records.append(record(delta.ops))
        saved = Saved.of(messages, chat_store)
        assert fold(records) == (messages, chat_store), f"step {step}"
