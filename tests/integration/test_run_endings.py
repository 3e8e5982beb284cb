"""A run that ends never strands a message (docs/architecture.md, "Run endings: no message left
behind"): an append that lands after the run's last look at `.in` finds the run still alive, so it
starts nothing; whatever final transition comes next must then hand that message on, to exactly one
run, answered once.

Every interleaving is injected, never raced: the append is made from inside the run's own thread at
the point named (after the agent returned `done`, after the heartbeat read its input clock, before or
after the kill switch's write), runs are driven in-process (`worker.handle`, a recording launcher),
and time is moved by shifting `store.epoch`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agent_sessions import recovery, sessions, store, worker
from agent_sessions.agent import Turn, chat
from agent_sessions.config import get_settings, reset_settings
from agent_sessions.heartbeat import Heartbeat
from agent_sessions.models import CloseSessionBody
from tests.integration.conftest import Api
from tests.integration.run_driving import answered, handle, launcher, send, start, status
from tests.integration.test_run_liveness import IN, Resumes, message
from tests.support import ENV

IDLE = 0.05
"""Seconds an agent here waits for input before it suspends (or, preloaded, ends)."""

_at_done: dict[str, Callable[[], None]] = {}
"""Per task: what to do once, after the agent returned `done` and before the worker's final write."""


def _injecting(task: str, agent: worker.Agent) -> None:
    def run(ctx: worker.RunContext) -> worker.Outcome:
        outcome = agent(ctx)
        if outcome == "done" and task in _at_done:
            _at_done.pop(task)()
        return outcome

    worker.agent(task)(run)


def _say(turn: Turn) -> str:
    return f"answer {turn.message['parts'][0]['text'] if turn.message else ''}"


def _say_and_end(turn: Turn) -> str:
    chat.end_run()
    return _say(turn)


def _one_shot(ctx: worker.RunContext) -> worker.Outcome:
    """A custom loop that answers the messages there and ends (no suspend); a stop is read, not
    answered (no turn was running)."""
    for record in ctx.wait_input(IDLE):
        if not isinstance(record.chunk, dict) or record.chunk.get("kind") != "message":
            continue
        ctx.begin_turn(record.seq)
        ctx.out.write_chunk({"type": "start", "messageId": f"m-{record.seq}"})
        ctx.out.write_chunk({"type": "finish"})
        ctx.complete_turn(record.seq)
    return "done"


_injecting("t-end-preload", chat.agent(id="t-end-preload", run=_say, exit_after_preload_idle=True,
                                       idle_timeout_in_seconds=IDLE))  # fmt: skip
_injecting("t-end-run", chat.agent(id="t-end-run", run=_say_and_end, idle_timeout_in_seconds=IDLE))
_injecting(
    "t-end-max-turns", chat.agent(id="t-end-max-turns", run=_say, max_turns=1, idle_timeout_in_seconds=IDLE)
)
_injecting("t-end-custom", _one_shot)
chat.agent(id="t-end-idle", run=_say, idle_timeout_in_seconds=IDLE)

ENDINGS = {
    "exit_after_preload_idle": ("t-end-preload", []),
    "end_run": ("t-end-run", ["first"]),
    "max_turns": ("t-end-max-turns", ["first"]),
    "custom_loop_done": ("t-end-custom", ["first"]),
}
"""Each way an agent ends its run itself: the task, and the messages its run answers before."""

__all__ = ["launcher"]  # the fixture (run_driving), used by this module's tests


@pytest.fixture(autouse=True)
def _disarm() -> Any:
    yield
    _at_done.clear()


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_message_sent_after_the_last_look_is_answered_by_one_continuation(
    api: Api, aws: Any, launcher: Resumes, ending: str
) -> None:
    task, before = ENDINGS[ending]
    sid, pat, first = start(api, task)
    earlier = [send(api, pat, text) for text in before]
    late: list[int] = []
    _at_done[task] = lambda: late.append(send(api, pat, "late"))

    assert handle(first) == {"status": "done"}

    assert late, "the append landed between the run's last look and its final transition"
    assert launcher.started[0] == first and len(launcher.started) == 2, "exactly one continuation"
    continuation = launcher.started[1]
    assert status(first) is store.RunStatus.COMPLETED
    assert store.get_run(continuation).previous_run_id == first  # type: ignore[union-attr]
    assert answered(sid) == earlier, "the ending run did not answer it"
    handle(continuation)
    assert answered(sid) == [*earlier, *late], "the continuation answered it, once"
    assert handle(first) == {"status": "done"} and handle(continuation)["status"] in ("done", "waiting")
    assert answered(sid) == [*earlier, *late], "a repeated invocation answers nothing twice"
    assert len(launcher.started) == 2


@pytest.mark.parametrize("task", ["t-end-run", "t-end-max-turns"])
def test_messages_read_but_not_answered_when_a_run_ends_go_to_one_continuation(
    api: Api, aws: Any, launcher: Resumes, task: str
) -> None:
    """Both messages were there before the run looked, so it read them together; it answers the
    first and stops (`end_run`, `max_turns=1`) with the second still in its queue."""
    sid, pat, first = start(api, task)
    seqs = [send(api, pat, "one"), send(api, pat, "two")]

    assert handle(first) == {"status": "done"}

    assert answered(sid) == seqs[:1]
    assert status(first) is store.RunStatus.COMPLETED
    assert launcher.started[0] == first and len(launcher.started) == 2, "exactly one continuation"
    handle(launcher.started[1])
    assert answered(sid) == seqs


def test_input_the_run_read_and_let_go_starts_no_chain_of_continuations(
    api: Api, aws: Any, launcher: Resumes
) -> None:
    """A `stop` sent after the turn is read and not answered (no turn-complete names it): the run
    consumed it, so its end is not refused, and no continuation is started for it (one that would
    read it, let it go and end again, forever)."""
    sid, pat, first = start(api, "t-end-custom")
    seq = send(api, pat, "one")
    assert api("POST", IN, body={"kind": "stop"}, token=pat).status == 200

    assert handle(first) == {"status": "done"}

    assert answered(sid) == [seq]
    assert status(first) is store.RunStatus.COMPLETED
    assert launcher.started == [first]


def test_an_ending_run_and_appends_around_its_hand_over_start_one_continuation(
    api: Api, aws: Any, launcher: Resumes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parties want a continuation: the ending run (its final write refused) and an append
    that finds it final. Appends are injected before the refused write, between the hand-over's
    session swap and the run's final status (the append sees the run alive), and after it (the
    append sees it final and tries to start a run itself): one continuation answers all three."""
    sid, pat, first = start(api, "t-end-custom")
    seq0 = send(api, pat, "first")
    stale = sessions.resolve(ENV.id, "chat-1")  # read before the swap: it names the ending run
    late: list[int] = []
    _at_done["t-end-custom"] = lambda: late.append(send(api, pat, "before the final write"))
    real = store.complete_run

    def through_stale(text: str) -> int:
        return sessions.append(stale, "in", message(text), None).seq

    def around(run_id: str) -> bool:
        if run_id != first:
            return real(run_id)
        late.append(through_stale("after the swap, run alive"))
        ended = real(run_id)
        late.append(through_stale("after the run ended, before the launch"))
        return ended

    monkeypatch.setattr(store, "complete_run", around)
    handle(first)

    assert len(late) == 3
    assert launcher.started[0] == first and len(launcher.started) == 2, "one continuation, not two"
    assert sessions.resolve(ENV.id, "chat-1").current_run_id == launcher.started[1]
    monkeypatch.setattr(store, "complete_run", real)
    handle(launcher.started[1])
    assert answered(sid) == [seq0, *late], "all three answered by the continuation, once each"


@pytest.mark.parametrize("when", ["before_the_cancel", "between_the_cancel_and_its_recheck"])
def test_input_a_canceled_run_never_answered_goes_to_one_continuation(
    api: Api, aws: Any, launcher: Resumes, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The kill switch ends a live run while a message it never read waits on `.in`; that message's
    append found the run alive. Injected also just after the cancel, where the append itself
    finds the run final and continues: the kill switch's re-check must not start a second run."""
    sid, pat, first = start(api, "t-end-idle")
    run = store.get_run(first)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)  # booted, its lease fresh, not yet at `.in`
    waiting: list[int] = []
    if when == "before_the_cancel":
        waiting.append(send(api, pat, "unread"))
    else:
        real = store.cancel_run

        def then_append(run_id: str, error: str, *, keep_listed: bool = False) -> bool:
            ended = real(run_id, error, keep_listed=keep_listed)
            waiting.append(send(api, pat, "just after"))
            return ended

        monkeypatch.setattr(store, "cancel_run", then_append)

    assert api("POST", f"/api/v2/runs/{first}/cancel", token=ENV.secret_key).status == 200

    assert status(first) is store.RunStatus.CANCELED
    assert launcher.started[0] == first and len(launcher.started) == 2, "exactly one continuation"
    assert recovery.sweep(launcher).found == 0, "the canceled run was looked at and unlisted"
    handle(launcher.started[1])
    assert answered(sid) == waiting


def test_when_the_kill_switch_dies_after_the_cancel_the_sweep_hands_the_input_on(
    api: Api,
    aws: Any,
    launcher: Resumes,
    clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The canceller's own re-check fails (as if its process died right after the cancel): the
    cancel still stands, and the run, left listed, is picked up by the next sweep."""
    sid, pat, first = start(api, "t-end-idle")
    run = store.get_run(first)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    seq = send(api, pat, "unread")

    def dies(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the canceller died")

    real = recovery.recover_run
    monkeypatch.setattr(recovery, "recover_run", dies)
    assert api("POST", f"/api/v2/runs/{first}/cancel", token=ENV.secret_key).status == 200
    monkeypatch.setattr(recovery, "recover_run", real)

    assert status(first) is store.RunStatus.CANCELED and launcher.started == [first]
    clock(get_settings().run_lease_leeway_seconds + 1)
    assert recovery.sweep(launcher).continued == 1
    assert launcher.started[0] == first and len(launcher.started) == 2
    handle(launcher.started[1])
    assert answered(sid) == [seq]


def test_input_that_lands_as_the_heartbeat_ends_a_run_for_its_wall_time_is_answered(
    api: Api,
    aws: Any,
    launcher: Resumes,
    clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heartbeat reads the run's input clock in its lease renewal, judges it past
    `run_max_seconds_without_input` and ends the run; a message lands in between."""
    monkeypatch.setenv("AGENT_SESSIONS_RUN_MAX_SECONDS_WITHOUT_INPUT", "600")
    reset_settings()
    sid, pat, first = start(api, "t-end-idle")
    clock(601)
    run = store.get_run(first)
    assert run is not None
    store.start_attempt(run, 0, store.epoch() + 30)
    late: list[int] = []
    real = store.renew_lease

    def then_append(run_id: str, until: float) -> float:
        last_input_at = real(run_id, until)
        late.append(send(api, pat, "just in time"))
        return last_input_at

    monkeypatch.setattr(store, "renew_lease", then_append)
    with pytest.raises(store.RunSuperseded):
        Heartbeat(first, 30).renew()
    monkeypatch.setattr(store, "renew_lease", real)

    assert status(first) is store.RunStatus.CANCELED
    assert launcher.started[0] == first and len(launcher.started) == 2, "exactly one continuation"
    handle(launcher.started[1])
    assert answered(sid) == late
    reset_settings()


def test_a_message_sent_after_the_last_look_before_a_park_wakes_the_run(
    api: Api, aws: Any, launcher: Resumes
) -> None:
    """The park (WAITING) was already airtight: the run clears its input flag before its last
    look, the park is conditioned on the flag, and the append sets it. Injected: the append after
    the last look, before the state machine parks."""
    sid, pat, first = start(api, "t-end-idle")
    assert handle(first) == {"status": "waiting"}  # the last look found nothing
    seq = send(api, pat, "just before the park")
    assert store.park(first, "token-1") is False, "the park is refused: input is pending"
    assert handle(first) == {"status": "waiting"}  # the state machine invokes the run again
    assert answered(sid) == [seq]
    assert launcher.started == [first] and launcher.resumed == []


def test_an_append_whose_snapshot_names_a_replaced_run_wakes_the_run_that_replaced_it(
    api: Api, aws: Any, launcher: Resumes
) -> None:
    """The append read the session while it still named an ended run; meanwhile a continuation
    was swapped in, booted, looked at `.in` and parked. The append's signal finds the old run
    final, loses the claim to the parked run, and must wake it, or its message sleeps."""
    sid, pat, first = start(api, "t-end-idle")
    stale = sessions.resolve(ENV.id, "chat-1")
    store.complete_run(first)
    seq0 = send(api, pat, "first")
    continuation = launcher.started[-1]
    assert handle(continuation) == {"status": "waiting"}
    assert store.park(continuation, "token-c")

    seq1 = sessions.append(stale, "in", message("through a stale snapshot"), None).seq

    assert launcher.resumed == ["token-c"], "the run that won the claim is woken"
    assert launcher.started == [first, continuation], "no other run started"
    assert handle(continuation) == {"status": "waiting"}
    assert answered(sid) == [seq0, seq1]


def test_a_refused_final_write_changes_nothing_and_a_closed_session_ends_regardless(
    api: Api, aws: Any, launcher: Resumes
) -> None:
    """The store operation itself: refused while `.in` holds input past `answered` (nothing
    written), allowed once the session is closed, False (no raise) for a run already final."""
    _, pat, first = start(api, "t-end-idle")
    send(api, pat, "unanswered")
    session = sessions.resolve(ENV.id, "chat-1")
    with pytest.raises(store.InputPending):
        store.complete_run_if_answered(first, session.pk, -1)
    assert status(first) is store.RunStatus.QUEUED
    sessions.close(session, CloseSessionBody(reason="done"))
    assert store.complete_run_if_answered(first, session.pk, -1) is True
    assert status(first) is store.RunStatus.COMPLETED
    assert store.complete_run_if_answered(first, session.pk, -1) is False, "already final"
