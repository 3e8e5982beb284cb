"""Issue 15 on the local stack, over real HTTP: when each lifecycle hook fires and in what order
(fresh run, resume from suspend, continuation, crash mid-turn, compaction), `chat.inject` from
`chat.defer` during the idle wait reaching the next model call (also across a suspend and a
continuation), `chat.local` per run, and `AgentChat(on_triggered=...)`: the client reports each new
run with its reason, learnt from the run id the agent stamps on each turn's first `.out` record."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from agent_sessions import store, worker
from agent_sessions.agent import ChatEvent, Compaction, Turn, chat
from agent_sessions.agent.history import ChatHistory
from agent_sessions.agent.messages import ModelMessage
from agent_sessions.agent.models import tool
from agent_sessions.agent.models.base import Finish, ModelEvent, TextDelta, ToolCall
from agent_sessions.agent.models.tools import Tool
from agent_sessions.agent.recovery_boot import RecoveryBootEvent, RecoveryBootResult
from agent_sessions.client import AgentChat, AgentSessions, TriggeredEvent
from agent_sessions.local.stack import LocalStack
from agent_sessions.transcript import (
    TranscriptChangeset,
    TranscriptPage,
    TranscriptSaveContext,
    TranscriptScope,
)
from tests.integration.localstack import Chat, run_status, text_of, wait_for
from tests.support import read_sse

events: dict[str, list[str]] = defaultdict(list)
boots: dict[str, list[ChatEvent]] = defaultdict(list)


class EchoContext:
    """An offline model whose answer is its whole context: `system | role: text | …`."""

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        lines = [f"system: {system}"] if system else []
        for message in messages:
            content = message.get("content")
            text = (
                content
                if isinstance(content, str)
                else "".join(str(p.get("text", "")) for p in content or [] if p.get("type") == "text")
            )
            lines.append(f"{message['role']}: {text}")
        yield TextDelta(" | ".join(lines))
        yield Finish()


def _record(name: str) -> Any:
    def hook(event: ChatEvent) -> None:
        events[event.chat_id].append(name if event.phase is None else f"{name}:{event.phase}")

    return hook


# ---------------------------------------------------------------- hook order


counter = chat.local("t-life-counter")


async def _life_boot(event: ChatEvent) -> None:
    boots[event.chat_id].append(event)
    events[event.chat_id].append("boot")
    counter.init({"turns": 0})


def _life_before_complete(event: ChatEvent) -> None:
    events[event.chat_id].append("before_turn_complete")
    assert event.writer is not None
    event.writer.write({"type": "data-usage", "data": {"turn": event.turn}})


def _life_complete(event: ChatEvent) -> None:
    events[event.chat_id].append(f"turn_complete:{counter.turns}:{counter.has_changed()}")
    if (event.message or {}).get("parts", [{}])[0].get("text") == "end":
        chat.end_run()


def _life_run(turn: Turn) -> str:
    events[turn.chat_id].append("run")
    counter.turns = counter.turns + 1
    return f"turn {counter.turns}"


life = chat.agent(
    id="t-life",
    run=_life_run,
    on_boot=_life_boot,
    on_preload=_record("preload"),
    on_chat_start=_record("chat_start"),
    on_turn_start=_record("turn_start"),
    on_before_turn_complete=_life_before_complete,
    on_turn_complete=_life_complete,
    on_chat_suspend=_record("suspend"),
    on_chat_resume=_record("resume"),
    idle_timeout_in_seconds=0.3,
)


def _wait_parked(run_id: str) -> None:
    wait_for(lambda: run_status(run_id) == store.RunStatus.WAITING)


def test_boot_fires_once_per_run_and_resume_after_a_suspend(stack: LocalStack) -> None:
    talk = Chat(stack, "life-1", task="t-life")
    run_id = talk.created["runId"]
    first = talk.turn("a")
    assert text_of(first.records) == "turn 1"
    usage = [r for r in first.records if r.chunk and r.chunk.get("type") == "data-usage"]
    assert usage and usage[0].seq < first.records[-1].seq, "written before the turn-complete"
    _wait_parked(run_id)
    second = talk.turn("b", after=first)
    assert text_of(second.records) == "turn 2", "chat.local kept its value across the suspend"
    wait_for(lambda: events["life-1"][-1].startswith("turn_complete"))
    turn = ["turn_start", "run", "before_turn_complete"]
    assert events["life-1"] == [
        "boot",
        "preload",
        "chat_start",
        *turn,
        "turn_complete:1:True",
        "suspend:turn",
        "resume:turn",
        *turn,
        "turn_complete:2:True",
    ]
    (boot,) = boots["life-1"]
    assert (boot.continuation, boot.previous_run_id, boot.preloaded) == (False, None, True)


def test_boot_fires_again_on_a_continuation_with_fresh_locals(stack: LocalStack) -> None:
    talk = Chat(stack, "life-2", task="t-life")
    first = talk.turn("end")
    wait_for(lambda: run_status(talk.created["runId"]) == store.RunStatus.COMPLETED)
    second = talk.turn("b", after=first)
    assert text_of(second.records) == "turn 1", "a new run starts with its own chat.local"
    wait_for(lambda: events["life-2"][-1].startswith("turn_complete"))
    assert events["life-2"][events["life-2"].index("boot", 1) :] == [
        "boot",
        "turn_start",
        "run",
        "before_turn_complete",
        "turn_complete:1:True",
    ], "no preload and no chat_start on a continuation"
    assert [(b.continuation, b.previous_run_id) for b in boots["life-2"]] == [
        (False, None),
        (True, talk.created["runId"]),
    ]


def test_before_turn_complete_chunks_join_the_response(stack: LocalStack) -> None:
    talk = Chat(stack, "life-3", task="t-life")
    talk.turn("a")
    wait_for(lambda: len(ChatHistory(talk.created["id"]).load()[0]) == 2)
    messages, _ = ChatHistory(talk.created["id"]).load()
    assert {"type": "data-usage", "data": {"turn": 0}} in messages[-1]["parts"]


# ---------------------------------------------------------------- compaction


compactions: dict[str, list[tuple[str, int]]] = defaultdict(list)


def _on_compacted(event: ChatEvent) -> None:
    compactions[event.chat_id].append((event.summary or "", len(event.summarized or [])))
    events[event.chat_id].append("compacted")


@chat.agent(
    id="t-life-compact",
    compaction=Compaction(
        should_compact=lambda m: len(m) > 4, summarize=lambda old: f"summary of {len(old)}", keep_last=2
    ),
    on_compacted=_on_compacted,
    on_before_turn_complete=_record("before_turn_complete"),
    on_turn_complete=_record("turn_complete"),
)
def _compacting(turn: Turn) -> str:
    events[turn.chat_id].append("run")
    return "ok"


def test_on_compacted_fires_after_compaction_with_what_was_summarised(stack: LocalStack) -> None:
    talk = Chat(stack, "life-compact", task="t-life-compact")
    read = None
    for text in ("a", "b", "c"):
        read = talk.turn(text, after=read)
    wait_for(lambda: events["life-compact"].count("turn_complete") == 3)
    assert compactions["life-compact"] == [("summary of 4", 4)]
    assert events["life-compact"][-4:] == ["run", "compacted", "before_turn_complete", "turn_complete"]


# ---------------------------------------------------------------- chat.inject


release: dict[str, threading.Event] = defaultdict(threading.Event)
injected: dict[str, threading.Event] = defaultdict(threading.Event)
deferred: set[str] = set()


def _inject_later(event: ChatEvent) -> None:
    chat_id = event.chat_id

    def analyse() -> None:
        release[chat_id].wait(10)
        chat.inject(
            [
                {"role": "system", "content": "NOTE plan=pro"},
                {"role": "user", "content": "FACT the order shipped"},
            ]
        )
        injected[chat_id].set()

    if chat_id not in deferred:
        deferred.add(chat_id)
        chat.defer(analyse)
    if (event.message or {}).get("parts", [{}])[0].get("text") == "end":
        chat.end_run()


def _echo(turn: Turn) -> Any:
    return turn.stream_text(EchoContext())


class DocumentStorage:
    """An app's TranscriptStorage keeping each chat as one document: its messages and `state`."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[list[Any], Any]] = {}

    def load(
        self, scope: TranscriptScope, *, limit: int | None = None, before: str | None = None
    ) -> TranscriptPage:
        messages, state = self.docs.get(scope.chat_id, ([], None))
        return TranscriptPage(list(messages), state=state)

    def save(self, ctx: TranscriptSaveContext, changeset: TranscriptChangeset) -> None:
        self.docs[ctx.chat_id] = ([e.message for e in changeset.entries], changeset.state)


DOCUMENTS = DocumentStorage()
chat.agent(id="t-inject", run=_echo, on_turn_complete=_inject_later, idle_timeout_in_seconds=5)
chat.agent(id="t-inject-storage", run=_echo, on_turn_complete=_inject_later, storage=DOCUMENTS)
chat.agent(id="t-inject-suspend", run=_echo, on_turn_complete=_inject_later, idle_timeout_in_seconds=0.3)


@pytest.mark.parametrize(
    ("task", "first_text", "settle"),
    [
        ("t-inject", "hello", "warm"),
        ("t-inject-suspend", "hello", "suspended"),
        ("t-inject", "end", "continued"),
        ("t-inject-storage", "end", "continued-own-storage"),
    ],
)
def test_an_injection_from_deferred_work_reaches_the_next_model_call(
    stack: LocalStack, task: str, first_text: str, settle: str
) -> None:
    talk = Chat(stack, f"inject-{settle}", task=task)
    first = talk.turn(first_text)
    assert "NOTE" not in text_of(first.records)
    release[talk.chat_id].set()
    wait_for(lambda: injected[talk.chat_id].is_set())
    if settle == "suspended":
        _wait_parked(talk.created["runId"])
    if settle.startswith("continued"):
        wait_for(lambda: run_status(talk.created["runId"]) == store.RunStatus.COMPLETED)
    second = talk.turn("next", after=first)
    reply = text_of(second.records)
    assert reply.startswith("system: NOTE plan=pro | user: "), reply
    assert reply.endswith("user: next | user: FACT the order shipped"), reply
    third = talk.turn("again", after=second)
    reply = text_of(third.records)
    assert reply.startswith(f"user: {first_text} | "), "an instruction lasts one turn"
    assert "user: next | user: FACT the order shipped | assistant: " in reply, "the fact stays in place"

    def users() -> list[Any]:
        if settle == "continued-own-storage":
            messages = DOCUMENTS.docs[talk.chat_id][0]
        else:
            messages = ChatHistory(talk.created["id"]).load()[0]
        return [m for m in messages if m["role"] != "assistant"]

    wait_for(lambda: len(users()) == 3)  # the save that follows the last turn-complete
    assert all("FACT" not in str(m) for m in users()), "injections are not part of the transcript"
    if settle == "continued-own-storage":
        assert DOCUMENTS.docs[talk.chat_id][1] == {}, "the run state is not the app's to store"
    if settle.startswith("continued"):
        assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]


class LookupArgs(BaseModel):
    q: str


@tool("Look something up")
def lookup(args: LookupArgs) -> dict[str, str]:
    chat.inject([{"role": "user", "content": "FACT from the tool"}, {"role": "system", "content": "LATER"}])
    return {"found": args.q}


class CallsThenEchoes(EchoContext):
    """Calls `lookup` in its first step, then answers with its context like EchoContext."""

    def stream(
        self, messages: list[ModelMessage], *, tools: Sequence[Tool] = (), system: str | None = None
    ) -> Iterator[ModelEvent]:
        if messages[-1]["role"] == "user" and messages[-1]["content"][0].get("text") == "look":
            yield ToolCall("call-1", "lookup", {"q": "x"})
            yield Finish("tool-calls")
            return
        yield from super().stream(messages, tools=tools, system=system)


@chat.agent(id="t-inject-step")
def _inject_step(turn: Turn) -> Any:
    return turn.stream_text(CallsThenEchoes(), tools=[lookup])


def test_an_injection_from_a_tool_reaches_the_next_model_step(stack: LocalStack) -> None:
    talk = Chat(stack, "inject-step", task="t-inject-step")
    first = talk.turn("look")
    reply = text_of(first.records)
    assert reply.endswith("user: look | assistant:  | tool:  | user: FACT from the tool"), reply
    assert "LATER" not in reply, "an instruction injected mid-turn waits for the next turn"
    second = talk.turn("and?", after=first)
    reply = text_of(second.records)
    assert reply.startswith("system: LATER | user: look | assistant: "), reply
    assert "| user: FACT from the tool | user: and?" in reply, "kept after the turn's answer"


# ---------------------------------------------------------------- crash mid-turn


recoveries: dict[str, list[RecoveryBootEvent]] = defaultdict(list)
policy: dict[str, str] = {}


async def _recovery_boot(event: RecoveryBootEvent) -> RecoveryBootResult | None:
    recoveries[event.chat_id].append(event)
    events[event.chat_id].append("recovery_boot")
    event.writer({"type": "data-chat-recovery", "data": {"cause": event.cause}, "transient": True})
    if policy.get(event.chat_id) == "drop":
        return RecoveryBootResult(chain=event.settled_messages)
    if policy.get(event.chat_id) == "again":
        return RecoveryBootResult(recovered_turns=event.in_flight_users[:1])
    return None


recovering = chat.agent(
    id="t-recovering",
    run=_echo,
    on_boot=_record("boot"),
    on_recovery_boot=_recovery_boot,
    on_turn_start=_record("turn_start"),
    idle_timeout_in_seconds=5,
)

_crashed: set[str] = set()


@worker.agent("t-crashes-once")
def _crashes_once(ctx: worker.RunContext) -> worker.Outcome:
    """Attempt 0 of the first run streams part of its first answer and dies (a Lambda that times
    out mid-turn); every later boot is the `t-recovering` chat agent."""
    if ctx.session_id in _crashed:
        return recovering(ctx)
    for record in ctx.wait_input(20):
        _crashed.add(ctx.session_id)
        ctx.begin_turn(record.seq)
        ctx.out.write_chunk({"type": "start", "messageId": f"partial-{record.seq}"})
        ctx.out.write_chunk({"type": "text-start", "id": "t"})
        for i in range(3):
            ctx.out.write_chunk({"type": "text-delta", "id": "t", "delta": f"essay{i} "})
        ctx.out.flush()
        raise RuntimeError("worker died mid-turn")
    return "done"


@pytest.mark.parametrize(("how", "attempts"), [("retry", 2), ("continuation", 1)])
def test_recovery_boot_keeps_the_partial_answer_in_context_by_default(
    stack: LocalStack, how: str, attempts: int
) -> None:
    talk = Chat(stack, f"recover-{how}", task="t-crashes-once", maxAttempts=attempts)
    broken = talk.turn("write an essay")
    assert text_of(broken.records).startswith("essay0 essay1 essay2")
    assert broken.records[-1].header("turn-interrupted") == "true"
    if how == "retry":
        wait_for(lambda: "recovery_boot" in events[talk.chat_id])
    after = talk.turn("keep going", after=broken)
    reply = text_of(after.records)
    assert "user: write an essay | assistant: essay0 essay1 essay2" in reply, reply
    assert reply.endswith("user: keep going"), "the interrupted question is not answered again"
    assert events[talk.chat_id][:3] == ["boot", "recovery_boot", "turn_start"]
    (event,) = recoveries[talk.chat_id]
    assert event.partial_assistant["id"] == f"partial-{broken.records[0].header('turn-in-event-id')}"
    assert [m["parts"][0]["text"] for m in event.in_flight_users][:1] == ["write an essay"]
    assert event.cause == "unknown" and event.settled_messages == []
    assert any(r.chunk and r.chunk.get("type") == "data-chat-recovery" for r in after.records)


@worker.agent("t-crashes-before-output")
def _crashes_before_output(ctx: worker.RunContext) -> worker.Outcome:
    """Attempt 0 takes the message and dies before writing anything; later boots are `t-recovering`."""
    if ctx.attempt > 0:
        return recovering(ctx)
    for _record in ctx.wait_input(20):
        raise RuntimeError("worker died before any output")
    return "done"


def test_a_crash_before_any_output_is_answered_again_without_recovery_boot(stack: LocalStack) -> None:
    talk = Chat(stack, "recover-none", task="t-crashes-before-output", maxAttempts=2)
    answer = talk.turn("write an essay")
    assert text_of(answer.records) == "user: write an essay"
    assert events["recover-none"] == ["boot", "turn_start"], "nothing was interrupted: no recovery hook"


def test_recovery_boot_can_drop_the_partial_or_answer_again(stack: LocalStack) -> None:
    policy["recover-drop"] = "drop"
    talk = Chat(stack, "recover-drop", task="t-crashes-once", maxAttempts=2)
    broken = talk.turn("write an essay")
    after = talk.turn("hi", after=broken)
    assert text_of(after.records) == "user: hi", "the partial and its question were dropped"

    policy["recover-again"] = "again"
    talk = Chat(stack, "recover-again", task="t-crashes-once", maxAttempts=2)
    broken = talk.turn("write an essay")
    again = read_sse(stack.base_url, talk.chat_id, talk.token, last_event_id=broken.records[-1].seq)
    assert text_of(again.records) == "user: write an essay", "answered again, from the settled history"
    assert again.records[-1].header("session-in-event-id") == broken.records[-1].header("session-in-event-id")


# ---------------------------------------------------------------- exit after preload idle


chat.agent(id="t-preload-exit", run=_echo, exit_after_preload_idle=True, idle_timeout_in_seconds=0.2)


def test_exit_after_preload_idle_ends_the_preloaded_run_instead_of_suspending(stack: LocalStack) -> None:
    talk = Chat(stack, "preload-exit", task="t-preload-exit")
    wait_for(lambda: run_status(talk.created["runId"]) == store.RunStatus.COMPLETED)
    reply = talk.turn("hi")
    assert text_of(reply.records) == "user: hi"
    assert [r["reason"] for r in talk.runs()] == ["initial", "continuation"]


# ---------------------------------------------------------------- AgentChat on_triggered


def _triggered_run(turn: Turn) -> str:
    text = (turn.message or {}).get("parts", [{}])[0].get("text")
    if text == "end":
        chat.end_run()
    return f"run {turn.run_id}"


def _upgrade_when_asked(event: ChatEvent) -> None:
    if not event.continuation and (event.message or {}).get("parts", [{}])[0].get("text") == "upgrade":
        chat.request_upgrade()


chat.agent(id="t-triggered-upgrade", run=_triggered_run, on_turn_start=_upgrade_when_asked)


def test_agent_chat_reports_each_new_run_with_its_reason(stack: LocalStack) -> None:
    seen: list[TriggeredEvent] = []
    client = AgentSessions(secret_key=stack.secret_key, base_url=stack.base_url)
    talk = AgentChat("t-triggered-upgrade", id="triggered-1", client=client, on_triggered=seen.append)
    talk.text("hello")
    talk.text("again")
    assert [(e.reason, e.chat_id) for e in seen] == [("initial", "triggered-1")]
    initial = seen[0].run_id
    assert talk.text("upgrade") != f"run {initial}"
    talk.text("end")
    wait_for(lambda: run_status(seen[-1].run_id) == store.RunStatus.COMPLETED)
    reply = talk.text("after")
    assert reply == f"run {seen[-1].run_id}"
    assert [e.reason for e in seen] == ["initial", "upgrade", "continuation"]
    assert len({e.run_id for e in seen}) == 3
