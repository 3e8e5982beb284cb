"""Input a turn reads while it runs (queued, steered, stop) and what its turn-complete counts as
answered (docs/architecture.md, "Mid-turn input: what a turn-complete counts as answered").

A run that boots (a continuation, a retry, the same run woken from a suspend) resumes `.in` after
the last turn-complete's `session-in-event-id`. A turn that read a message it left queued for a
later turn, and then named a higher seq (a stop, a steering message), let the next boot skip the
queued message; a turn answering a queued message with a lower seq than a steering message already
answered made the next boot answer that steering message again.

Every interleaving is injected, never raced: the turn's input watcher reads `.in` only when the turn
asks it to (`InputWatcher.poll`, its loop disarmed), the appends are made from inside the turn, a
process death is an exception no handler catches, and time is moved by shifting `store.epoch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent_sessions import recovery, store, streams
from agent_sessions.agent import ChatEvent, PendingMessages, Turn, chat
from agent_sessions.agent.input_watcher import InputWatcher
from agent_sessions.agent.messages import text_of
from agent_sessions.config import get_settings, reset_settings
from tests.integration.conftest import Api
from tests.integration.run_driving import answered, handle, launcher, send, start, status
from tests.integration.test_run_liveness import IN, Resumes, out_records

__all__ = ["launcher"]  # the fixture (run_driving), shared with test_run_endings

IDLE = 0.05


class ProcessDied(BaseException):
    """The worker's process ends here: nothing in the worker or the runtime catches it."""


seen: list[str] = []
"""Every message a turn answered, in order: its own message, then what it took in (steering);
`(stopped)` after a turn a stop aborted."""
_during: dict[str, Callable[[], object]] = {}
"""Per message text: what happens inside the turn that answers it (appends, the watcher's read)."""
_dies_after: set[str] = set()
"""Message texts whose turn-complete is the last thing the run writes before its process dies."""


def _answer(turn: Turn) -> str:
    own = text_of(turn.message) if turn.message else ""
    seen.append(own)
    during = _during.pop(own, None)
    if during is not None:
        during()
    seen.extend(text_of(m) for m in turn._steering())  # the model loop's step boundary
    if turn.signal.aborted:
        seen.append("(stopped)")
    return f"answer {own}"


def _maybe_die(event: ChatEvent) -> None:
    own = text_of(event.message) if event.message else ""
    if own in _dies_after:
        _dies_after.discard(own)
        raise ProcessDied


_steer = PendingMessages(should_inject=lambda m: text_of(m).startswith("steer"))
chat.agent(id="t-mid", run=_answer, pending_messages=_steer, on_turn_complete=_maybe_die,
           idle_timeout_in_seconds=IDLE)  # fmt: skip
chat.agent(id="t-mid-one", run=_answer, pending_messages=_steer, max_turns=1, idle_timeout_in_seconds=IDLE)


@chat.custom_agent("t-mid-custom")
def _custom(payload: dict[str, Any]) -> Any:
    session = chat.create_session(payload)
    for turn in session.turns():
        seen.append(turn.text)
        during = _during.pop(turn.text, None)
        if during is not None:
            during()
        if turn.check_stop():
            seen.append("(stopped)")
        turn.write({"type": "start"})
        turn.write({"type": "finish"})
        turn.complete()
        if turn.text in _dies_after:
            _dies_after.discard(turn.text)
            raise ProcessDied
        if turn.text == "two":
            break  # the test's last message: end the run rather than wait the idle timeout
    return session


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    seen.clear()
    yield
    _during.clear()
    _dies_after.clear()


@pytest.fixture
def watchers(monkeypatch: pytest.MonkeyPatch) -> list[InputWatcher]:
    """Every turn's input watcher, in order; each reads `.in` only when the test calls `poll()`."""
    started: list[InputWatcher] = []
    real_start = InputWatcher.start

    def start_recorded(self: InputWatcher) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(InputWatcher, "_watch", lambda self: None)
    monkeypatch.setattr(InputWatcher, "start", start_recorded)
    return started


def stop(api: Api, pat: str) -> int:
    response = api("POST", IN, body={"kind": "stop"}, token=pat)
    assert response.status == 200, response.body
    return int(response.body["seq"])


class SentMidTurn:
    """Inside the turn: append `sends` in order (`stop` sends a stop), then let the turn's watcher
    read everything there is. `seqs`: the seqs they got."""

    def __init__(self, api: Api, pat: str, watchers: list[InputWatcher], *sends: str) -> None:
        self.api, self.pat, self.watchers, self.sends = api, pat, watchers, sends
        self.seqs: list[int] = []

    def __call__(self) -> None:
        for text in self.sends:
            self.seqs.append(stop(self.api, self.pat) if text == "stop" else send(self.api, self.pat, text))
        while self.watchers[-1].poll():
            pass


def die_and_recover(launcher: Resumes, clock: Callable[[float], None], run_id: str) -> None:
    """The run's process died: its lease runs out and the sweep hands the session on."""
    with pytest.raises(ProcessDied):
        handle(run_id)
    settings = get_settings()
    clock(settings.run_lease_seconds + settings.run_lease_leeway_seconds + 1)
    report = recovery.sweep(launcher)
    assert report.taken_over == 1, report


def first_turn_complete(session_id: str) -> int | None:
    records = [r for r in out_records(session_id) if streams.control_kind(r) == "turn-complete"]
    value = streams.header(records[0], "session-in-event-id")
    return int(value) if value is not None else None


ENDINGS = ["process_dies", "end_run", "max_turns"]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("mid_turn", [("queued", "steer me"), ("queued", "stop")], ids=["steer", "stop"])
def test_a_message_queued_mid_turn_is_answered_when_the_run_ends_before_its_turn(
    api: Api,
    aws: Any,
    launcher: Resumes,
    watchers: list[InputWatcher],
    clock: Callable[[float], None],
    ending: str,
    mid_turn: tuple[str, str],
) -> None:
    """While turn one runs, a message its policy does not steer is queued for the next turn, then
    a higher seq is read: a steering message or a stop. The run ends before the queued message's
    turn: its process dies after turn one's turn-complete (the sweep continues the session),
    `chat.end_run()`, or `max_turns`. The continuation must answer the queued message (and a
    steering message that waited behind it), once each; a stop is let go."""
    sid, pat, first = start(api, "t-mid-one" if ending == "max_turns" else "t-mid")
    one = send(api, pat, "one")
    during = SentMidTurn(api, pat, watchers, *mid_turn)
    _during["one"] = (lambda: (during(), chat.end_run())) if ending == "end_run" else during
    if ending == "process_dies":
        _dies_after.add("one")
        die_and_recover(launcher, clock, first)
    else:
        assert handle(first) == {"status": "done"}
        assert status(first) is store.RunStatus.COMPLETED
    queued = during.seqs[0]

    named = first_turn_complete(sid)
    assert named is not None and one <= named < queued, (
        "turn one's turn-complete covers its own message, not the queued one (whose sender would "
        "take it for its own answer, and a new run would skip it)"
    )
    assert len(launcher.started) == 2, "one continuation"
    handled = 1
    while handled < len(launcher.started):  # max_turns=1: a run answers one message, hands on
        handle(launcher.started[handled])
        handled += 1
    assert len(launcher.started) == (3 if ending == "max_turns" else 2)
    if mid_turn[1] == "stop":
        assert seen == ["one", "(stopped)", "queued"], "the queued message answered once"
    else:
        assert seen == ["one", "queued", "steer me"], "each answered once, in the order sent"


@pytest.mark.parametrize("mid_turn", [("steer me",), ("queued", "steer me")], ids=["alone", "behind_queued"])
def test_input_answered_mid_turn_is_not_answered_again_by_the_next_invocation(
    api: Api, aws: Any, launcher: Resumes, watchers: list[InputWatcher], mid_turn: tuple[str, ...]
) -> None:
    """Turn one takes a steering message in (alone, or after a message queued for the next turn);
    the run answers what is queued, suspends, and is woken by a later message: the new invocation
    reads `.in` from the last turn-complete and must not answer anything a turn already answered.
    A steering message sent after a queued one waits behind it (answered in the order sent)."""
    _, pat, first = start(api, "t-mid")
    send(api, pat, "one")
    _during["one"] = SentMidTurn(api, pat, watchers, *mid_turn)
    assert handle(first) == {"status": "waiting"}
    send(api, pat, "later")
    assert handle(first) == {"status": "waiting"}

    if mid_turn == ("steer me",):
        assert seen == ["one", "steer me", "later"], "steered into turn one, answered once"
    else:
        assert seen == ["one", "queued", "steer me", "later"], "in the order sent, each once"
    assert len(launcher.started) == 1


def test_a_stop_a_turn_read_is_not_applied_again_to_a_later_turn_after_a_reboot(
    api: Api,
    aws: Any,
    launcher: Resumes,
    watchers: list[InputWatcher],
    clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Turn one reads a queued message, then a stop that aborts it; its process dies. The
    continuation reads `.in` again from before the queued message, one record at a time (a large
    backlog), so its turn's watcher reads the old stop while answering the queued message: that
    stop was for turn one, and must not stop this turn."""
    monkeypatch.setenv("AGENT_SESSIONS_READ_MAX_BYTES", "1")
    reset_settings()
    _, pat, first = start(api, "t-mid")
    send(api, pat, "one")
    _during["one"] = SentMidTurn(api, pat, watchers, "queued", "stop")
    _dies_after.add("one")
    die_and_recover(launcher, clock, first)
    _during["queued"] = lambda: watchers[-1].poll()

    handle(launcher.started[1])

    assert seen == ["one", "(stopped)", "queued"], "the queued message's turn ran to its end"
    reset_settings()


def test_a_custom_loop_stopped_mid_turn_leaves_the_next_message_to_be_answered(
    api: Api, aws: Any, launcher: Resumes, clock: Callable[[float], None]
) -> None:
    """A custom loop (`chat.create_session`) peeks for a stop; a message sent before that stop is
    not read yet. Its turn-complete must not name the stop, or a run that boots after this one
    (here: the process dies, the sweep continues) skips that message."""
    sid, pat, first = start(api, "t-mid-custom")
    send(api, pat, "one")
    sent: list[int] = []
    _during["one"] = lambda: sent.extend([send(api, pat, "two"), stop(api, pat)])
    _dies_after.add("one")
    die_and_recover(launcher, clock, first)

    assert len(launcher.started) == 2, "one continuation, for the message the run never read"
    handle(launcher.started[1])
    assert seen == ["one", "(stopped)", "two"]
    assert answered(sid) == [sent[0] - 1, sent[0]]
