"""`chat.inject`'s queue and lanes, `chat.local`'s run scoping and dirty flag, and the history's
run-state op that carries both across a suspend or a continuation."""

from __future__ import annotations

from typing import Any

import pytest

from agent_sessions.agent.history import Saved, diff, fold_with_state
from agent_sessions.agent.inject import Injections, InvalidInjection
from agent_sessions.agent.local_state import Local, LocalNotInitialized, RunLocals


def _user(message_id: str, text: str) -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def test_system_injections_last_one_turn_and_conversation_stays_after_its_anchor() -> None:
    queue = Injections()
    queue.queue([{"role": "system", "content": "The user is on Pro."}])
    queue.queue([{"role": "user", "content": [{"type": "text", "text": "fact: 42"}]}])
    history = [_user("u1", "hi"), {"id": "a1", "role": "assistant", "parts": []}, _user("u2", "next")]

    drained = queue.begin_turn("u2")
    assert drained.instructions == ("The user is on Pro.",)
    assert [m["parts"][0]["text"] for m in drained.conversation] == ["fact: 42"]
    assert queue.system("Be brief.") == "Be brief.\n\nThe user is on Pro."
    context = queue.context(history)
    assert [m["id"] for m in context][:3] == ["u1", "a1", "u2"]
    assert context[3]["parts"][0]["text"] == "fact: 42" and context[3]["metadata"] == {"injected": True}

    queue.begin_turn("u3")  # the next turn: the instruction is gone, the fact stays in place
    assert queue.system("Be brief.") == "Be brief."
    assert [m["id"] for m in queue.context([*history, _user("u3", "x")])][3] == context[3]["id"]


def test_an_injection_whose_anchor_is_gone_is_dropped() -> None:
    queue = Injections()
    queue.queue([{"role": "user", "content": "fact"}])
    queue.begin_turn("u1")
    assert len(queue.context([_user("u1", "a")])) == 2
    assert queue.context([_user("summary", "…")]) == [_user("summary", "…")]
    assert queue.state() == {}


def test_the_queue_round_trips_through_its_saved_state() -> None:
    queue = Injections()
    queue.queue([{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}])
    restored = Injections.from_state(queue.state())
    assert restored.begin_turn("u1").instructions == ("s",)
    assert [m["role"] for m in restored.context([_user("u1", "x")])] == ["user", "assistant"]


@pytest.mark.parametrize(
    "bad",
    [[{"content": "no role"}], [{"role": "tool", "content": "x"}], [{"role": "user", "content": 3}], ["x"]],
)
def test_inject_refuses_what_is_not_a_model_message(bad: list[Any]) -> None:
    with pytest.raises(InvalidInjection):
        Injections().queue(bad)


def test_a_local_is_per_run_tracks_changes_and_survives_only_its_own_run() -> None:
    current = {"run": RunLocals("run_a")}
    user = Local("t-user", lambda: current["run"])
    with pytest.raises(LocalNotInitialized):
        _ = user.name
    user.init({"name": "Ann", "count": 0})
    assert user.has_changed() and not user.has_changed()
    user.count = user.count + 1
    user["plan"] = "pro"
    assert user.has_changed() and user.get() == {"name": "Ann", "count": 1, "plan": "pro"}

    saved = current["run"].state()
    current["run"] = RunLocals.from_state("run_a", saved)  # the same run, resumed after a suspend
    assert user.count == 1 and not user.has_changed()
    current["run"] = RunLocals.from_state("run_b", saved)  # a continuation run starts empty
    assert not user.initialized


def test_a_local_that_is_not_json_is_not_kept() -> None:
    run = RunLocals("run_a")
    Local("t-handle", lambda: run).init({"sandbox": object()})
    assert run.state() == {}


def test_the_run_state_op_is_written_when_it_changes_and_folds_back() -> None:
    messages = [_user("u1", "a")]
    first = diff(Saved(), messages, {}, fresh=True, state={"inject": {"pending": [1]}})
    assert first.rebase and first.ops[-1] == {"op": "state", "state": {"inject": {"pending": [1]}}}
    saved = Saved.of(messages, {}, {"inject": {"pending": [1]}})
    assert diff(saved, messages, {}, fresh=False, state={"inject": {"pending": [1]}}).ops == []
    cleared = diff(saved, messages, {}, fresh=False, state={})
    assert cleared.ops == [{"op": "state", "state": {}}]
    records: list[Any] = [{"ops": first.ops}, {"ops": cleared.ops}]
    assert fold_with_state(records) == (messages, {}, {})
    assert fold_with_state(records[:1])[2] == {"inject": {"pending": [1]}}
