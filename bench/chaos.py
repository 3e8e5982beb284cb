"""The fault campaign: the local stack behind a fault-injecting DynamoDB proxy, driven over HTTP.

`make chaos` runs it with large counts (`python -m bench.chaos`) and writes bench/results/chaos.json;
`tests/integration/test_campaign.py` runs it with small counts in `make test` and writes
bench/results/chaos-suite.json. Both print the figures. Phases:

1. **random faults**: `rate` of all DynamoDB requests fail with the errors DynamoDB really sends
   (500 `InternalServerError`, 400 `ThrottlingException` / `ProvisionedThroughputExceededException`,
   `TransactionConflict` cancellations, a reply lost after the write landed) and some are delayed,
   while several sessions chat with demo-chat in parallel through the Python client (`AgentChat`).
   Counted: turns, turns that never complete (a session with 2 in a row is left alone: its other
   turns are counted as skipped), client-visible errors (exceptions and `error`
   chunks), turns that fail without a clean `error` chunk + `turn-complete`, and from the stored
   logs (read without faults): acknowledged messages missing from `.in` (lost) or stored twice,
   `.out` records repeated (envelope ids, turn-completes per input), answered turns whose stored
   deltas do not spell the reply, seq gaps; then every session gets one more message with faults
   off: a session that does not answer it is wedged.
2. **commit-then-fail**: for every write kind (`.in` append, each `.out` page of a turn, `.out` HTTP
   append, create, close's `.in` wake-up and `.out` closed records) the first such transaction
   commits and its reply is lost; counted: duplicated records, client-visible errors.
3. **50 concurrent appends** to a session whose run ended: continuations started (goal 1), `.in`
   records lost or repeated.
4. **reconnect torture**: SSE readers cut the stream after a random number of records and resume
   with `Last-Event-ID`, under the same random faults; records lost or repeated against the log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agent_sessions import store, streams
from agent_sessions.client import AgentChat, AgentSessions
from agent_sessions.demo_chat import reply_for
from agent_sessions.local.dynamodb import EmbeddedDynamoDB
from agent_sessions.local.stack import LocalStack
from tests.faults import Fault, FaultProxy, RandomFaults, Rule, puts_to

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "chaos.json"
SECRET = "tr_dev_" + "Ch40sCampa1gnK3y00000000"
FINAL = {"COMPLETED", "FAILED", "EXPIRED", "CANCELED"}


@dataclass
class Counts:
    sessions: int = 4
    turns_per_session: int = 8
    fault_rate: float = 0.10
    delay_rate: float = 0.05
    concurrent_appends: int = 50
    reconnect_turns: int = 3
    seed: int = 8


@dataclass
class Figures:
    counts: dict[str, Any] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)
    turns: int = 0
    turns_completed: int = 0
    turns_never_completed: int = 0
    turns_skipped_wedged: int = 0
    client_errors: int = 0
    error_chunks: int = 0
    unclean_failures: int = 0
    in_lost: int = 0
    in_duplicated: int = 0
    out_duplicated: int = 0
    out_turns_duplicated: int = 0
    replies_garbled: int = 0
    seq_gaps: int = 0
    wedged_sessions: int = 0
    commit_then_fail: dict[str, dict[str, int]] = field(default_factory=dict)
    concurrent_appends: dict[str, int] = field(default_factory=dict)
    reconnect: dict[str, int] = field(default_factory=dict)
    phases_failed: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def note(self, text: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(text)


class Campaign:
    def __init__(self, counts: Counts, state_dir: Path) -> None:
        self.counts = counts
        self.dynamodb = EmbeddedDynamoDB()
        self.dynamodb.start()
        self.proxy = FaultProxy(self.dynamodb.url).start()
        self.stack = LocalStack(
            port=_free_port(),
            dynamodb_url=self.proxy.url,
            secret_key=SECRET,
            state_dir=state_dir,
            suspend_timeout_seconds=2.0,
        )
        self.stack.start_in_background()
        launcher = self.stack.launcher
        if launcher is not None and hasattr(launcher, "retry_delay"):
            launcher.retry_delay = 0.1
        self.client = AgentSessions(secret_key=SECRET, base_url=self.stack.base_url)
        self.figures = Figures(counts=asdict(counts))
        self.http = httpx.Client(base_url=self.stack.base_url, timeout=30)

    def close(self) -> None:
        self.proxy.clear()
        self.http.close()
        self.stack.stop()
        self.proxy.stop()
        self.dynamodb.stop()

    def chaos(self) -> RandomFaults:
        c = self.counts
        return RandomFaults(rate=c.fault_rate, seed=c.seed, delay_rate=c.delay_rate, max_delay=0.05)

    def run(self) -> Figures:
        started = time.monotonic()
        try:
            for phase in (
                self.random_faults,
                self.commit_then_fail,
                self.concurrent_appends,
                self.reconnect_torture,
            ):
                try:
                    phase()
                except Exception as exc:  # a broken phase is a figure, not the end of the campaign
                    self.proxy.clear()
                    self.figures.phases_failed += 1
                    self.figures.note(f"{phase.__name__} failed: {type(exc).__name__}: {exc}"[:300])
        finally:
            self.figures.seconds = round(time.monotonic() - started, 1)
            self.close()
        return self.figures

    # ------------------------------------------------------------ 1. random faults

    def random_faults(self) -> None:
        c, f = self.counts, self.figures
        chats = [f"chaos-{uuid.uuid4().hex[:8]}-{i}" for i in range(c.sessions)]
        with self.proxy.paused():
            agents = {chat: self._agent(chat) for chat in chats}
            for agent in agents.values():
                agent.preload()
        acknowledged: dict[str, list[tuple[int, str]]] = {chat: [] for chat in chats}
        lock = threading.Lock()

        pauses = {chat: random.Random(f"{c.seed}-{chat[-1]}") for chat in chats}

        def converse(chat: str) -> None:
            hung = 0
            for turn in range(c.turns_per_session):
                if hung >= 2:  # wedged: each further turn would only wait out the client's budget
                    with lock:
                        f.turns_skipped_wedged += c.turns_per_session - turn
                    f.note(f"{chat}: {c.turns_per_session - turn} turns skipped after 2 hung in a row")
                    return
                if pauses[chat].random() < 0.3:  # let the run suspend (> 1 s) or expire (> 3 s)
                    time.sleep(pauses[chat].choice((1.5, 3.5)))
                text = f"{chat} turn {turn}"
                outcome = self._turn(agents[chat], text)
                hung = 0 if outcome.completed else hung + 1
                with lock:
                    f.turns += 1
                    self._count_turn(outcome, chat, turn)
                    if outcome.seq is not None:
                        acknowledged[chat].append((outcome.seq, text))

        self.proxy.set_random(self.chaos())
        try:
            with ThreadPoolExecutor(len(chats)) as pool:
                list(pool.map(converse, chats))
        finally:
            f.faults_injected = {
                k.removeprefix("fault:"): v for k, v in self.proxy.counts().items() if k.startswith("fault:")
            }
            self.proxy.set_random(None)
        for chat in chats:
            self._audit(chat, acknowledged[chat])
            if not self._answers(agents[chat], f"{chat} after the storm"):
                f.wedged_sessions += 1
                state = self._state(chat)
                f.note(f"{chat}: wedged, the message sent after the faults was never answered; {state}")

    def _state(self, chat: str) -> str:
        """The current run's status and the tail of `.out`, for the notes on a wedged session."""
        with self.proxy.paused():
            session = self.client.sessions.retrieve(chat)
            tail = list(store.read_pages(session.id, "out", -1, limit=5, newest_first=True))[:4]
            runs = Counter(r.reason for r in self.client.sessions.runs(chat))
        kinds = [
            f"{r.seq}:{streams.control_kind(r) or (_chunk(r) or {}).get('type', '?')}" for r in tail[::-1]
        ]
        run = f"run {session.current_run_id} {_run_status(session.current_run_id)}"
        return f"{run}, runs {dict(runs)}, .out tail {kinds}"

    def _agent(self, chat: str) -> AgentChat:
        """A chat whose run suspends after 1 s idle (and expires 2 s later), so pauses reach both paths."""
        return AgentChat(
            "demo-chat",
            id=chat,
            client=self.client,
            stream_timeout_seconds=3,
            trigger_config={"idleTimeoutInSeconds": 1},
        )

    def _turn(self, agent: AgentChat, text: str) -> TurnOutcome:
        outcome = TurnOutcome()
        try:
            stream = agent.send_message(text)
            state = agent.session
            outcome.seq = state.active_input_seq if state is not None else None
            chunks = list(stream)
            outcome.completed = stream.completed
            outcome.errors = [c for c in chunks if isinstance(c, dict) and c.get("type") == "error"]
            outcome.text = "".join(
                str(c.get("delta", ""))
                for c in chunks
                if isinstance(c, dict) and c.get("type") == "text-delta"
            )
        except Exception as exc:  # every client-visible failure is counted, none ends the campaign
            outcome.exception = f"{type(exc).__name__}: {exc}"[:300]
        return outcome

    def _count_turn(self, outcome: TurnOutcome, chat: str, turn: int) -> None:
        f = self.figures
        if outcome.exception is not None:
            f.client_errors += 1
            f.note(f"{chat} turn {turn}: {outcome.exception}")
        if outcome.errors:
            f.error_chunks += 1
            f.note(f"{chat} turn {turn}: error chunk {outcome.errors[0]}")
        if outcome.completed:
            f.turns_completed += 1
        else:
            f.turns_never_completed += 1
            if outcome.exception is None:
                f.note(f"{chat} turn {turn}: no turn-complete")
        if outcome.exception is not None or not outcome.completed:
            f.unclean_failures += 1  # a clean failure is an `error` chunk followed by turn-complete

    def _answers(self, agent: AgentChat, text: str) -> bool:
        outcome = self._turn(agent, text)
        return outcome.completed and outcome.text == "".join(reply_for(text))

    def _audit(self, chat: str, acknowledged: list[tuple[int, str]]) -> None:
        """Compare what the client was told with what the logs hold (read without faults)."""
        f = self.figures
        with self.proxy.paused():
            sid = self.client.sessions.retrieve(chat).id
            in_records = list(store.read_pages(sid, "in", -1, limit=10_000))
            out_records = list(store.read_pages(sid, "out", -1, limit=100_000))
        for io, records in (("in", in_records), ("out", out_records)):
            if [r.seq for r in records] != list(range(len(records))):
                f.seq_gaps += 1
                f.note(f"{chat}: .{io} seqs are not contiguous")
        texts = Counter(_message_text(r) for r in in_records)
        for seq, text in acknowledged:
            if texts[text] == 0:
                f.in_lost += 1
                f.note(f"{chat}: acknowledged .in seq {seq} ({text!r}) is missing")
        f.in_duplicated += sum(n - 1 for t, n in texts.items() if t is not None and n > 1)
        ids = Counter(_envelope_id(r) for r in out_records if r.body)
        repeated = sum(n - 1 for i, n in ids.items() if i and n > 1)
        if repeated:
            f.out_duplicated += repeated
            f.note(f"{chat}: {repeated} .out records repeated")
        answered = Counter(
            streams.header(r, "session-in-event-id") for r in out_records if _is_turn_complete(r)
        )
        for answered_seq, n in answered.items():
            if n > 1:
                f.out_turns_duplicated += n - 1
                outline = _outline(out_records, answered_seq)
                f.note(f"{chat}: {n} turn-completes answer .in seq {answered_seq}: {outline}")
        by_seq = {seq: text for seq, text in acknowledged}
        for seq, text in by_seq.items():
            deltas = _turn_text(out_records, seq)
            if (
                deltas is not None
                and deltas != "".join(reply_for(text))
                and not _turn_failed(out_records, seq)
            ):
                f.replies_garbled += 1
                f.note(f"{chat}: the stored reply to seq {seq} is {deltas!r}")

    # ------------------------------------------------------------ 2. commit-then-fail

    def commit_then_fail(self) -> None:
        results: dict[str, dict[str, int]] = {}

        def case(
            name: str, rule_for: Callable[[str, str], Rule], action: Callable[[str, AgentChat], Any]
        ) -> None:
            chat = f"ctf-{name}-{uuid.uuid4().hex[:6]}"
            with self.proxy.paused():
                agent = self._agent(chat)
                agent.preload()
                sid = self.client.sessions.retrieve(chat).id
            rule = rule_for(sid, chat)
            self.proxy.add(rule)
            errors = 0
            try:
                action(chat, agent)
            except Exception as exc:
                errors = 1
                self.figures.note(f"commit-then-fail {name}: {type(exc).__name__}: {exc}"[:300])
            finally:
                self.proxy.clear()
            with self.proxy.paused():
                dup = _duplicates(sid)
            results[name] = {"injected": rule.fired, "duplicated": dup, "client_errors": errors}

        def lost(fragment_of: Callable[[str, str], str], nth: int = 1) -> Callable[[str, str], Rule]:
            return lambda sid, chat: Rule(
                Fault.AFTER_WRITE_REPLY_LOST,
                operation="TransactWriteItems",
                where=puts_to(fragment_of(sid, chat)),
                nth=nth,
            )

        def chat_turn(chat: str, agent: AgentChat) -> None:
            text = f"{chat} hello"
            if not self._answers(agent, text):
                raise AssertionError("the turn was not answered exactly")

        case("in-append", lost(lambda sid, chat: f"{sid}#in"), chat_turn)
        for nth in (1, 2, 3):
            case(f"out-page-{nth}", lost(lambda sid, chat: f"{sid}#out", nth), chat_turn)

        def out_append(chat: str, agent: AgentChat) -> None:
            response = self.http.post(
                f"/realtime/v1/sessions/{chat}/out/append",
                json={"type": "data-note", "data": 1},
                headers={"authorization": f"Bearer {SECRET}", "x-part-id": "note-1"},
            )
            response.raise_for_status()

        case("out-http-append", lost(lambda sid, chat: f"{sid}#out"), out_append)

        def close(chat: str, agent: AgentChat) -> None:
            agent.close("done")

        case("close-in-wakeup", lost(lambda sid, chat: f"{sid}#in"), close)
        case("close-out-record", lost(lambda sid, chat: f"{sid}#out"), close)

        chat = f"ctf-create-{uuid.uuid4().hex[:6]}"
        rule = Rule(Fault.AFTER_WRITE_REPLY_LOST, operation="TransactWriteItems", where=puts_to(f"#{chat}"))
        self.proxy.add(rule)
        errors = 0
        try:
            created = self.client.sessions.start(
                task_identifier="demo-chat",
                external_id=chat,
                trigger_config={"basePayload": {"chatId": chat, "trigger": "preload"}},
            )
            errors += int(created.is_cached)  # a lost reply must not turn our own create into "cached"
        except Exception as exc:
            errors = 1
            self.figures.note(f"commit-then-fail create: {exc}"[:300])
        finally:
            self.proxy.clear()
        with self.proxy.paused():
            runs = self.client.sessions.runs(chat)
        results["create"] = {
            "injected": rule.fired,
            "duplicated": max(0, len(runs) - 1),
            "client_errors": errors,
        }
        self.figures.commit_then_fail = results

    # ------------------------------------------------------------ 3. concurrent appends

    def concurrent_appends(self) -> None:
        n = self.counts.concurrent_appends
        chat = f"burst-{uuid.uuid4().hex[:6]}"
        agent = self._agent(chat)
        agent.preload()
        self._answers(agent, f"{chat} first")
        sid = self.client.sessions.retrieve(chat).id
        deadline = time.monotonic() + 30
        while _run_status(self.client.sessions.retrieve(chat).current_run_id) not in FINAL:
            if time.monotonic() > deadline:
                self.figures.note("concurrent appends: the run never ended")
                break
            time.sleep(0.2)
        before = self._continuations(chat)
        barrier = threading.Barrier(n)
        errors = 0

        def append(i: int) -> bool:
            body = {
                "kind": "message",
                "payload": {
                    "chatId": chat,
                    "trigger": "submit-message",
                    "message": {
                        "id": f"burst-{i}",
                        "role": "user",
                        "parts": [{"type": "text", "text": f"burst {i}"}],
                    },
                },
            }
            barrier.wait()
            with httpx.Client(base_url=self.stack.base_url, timeout=60) as http:
                response = http.post(
                    f"/realtime/v1/sessions/{chat}/in/append",
                    json=body,
                    headers={"authorization": f"Bearer {SECRET}", "x-part-id": f"burst-{i}"},
                )
            return response.status_code == 200

        with ThreadPoolExecutor(n) as pool:
            oks = list(pool.map(append, range(n)))
        errors = oks.count(False)
        time.sleep(1.0)  # let every append's run probe finish
        continuations = self._continuations(chat) - before
        records = list(store.read_pages(sid, "in", -1, limit=10_000))
        texts = Counter(_message_text(r) for r in records)
        burst = [f"burst {i}" for i in range(n)]
        self.figures.concurrent_appends = {
            "appends": n,
            "client_errors": errors,
            "continuations_started": continuations,
            "in_lost": sum(1 for t in burst if texts[t] == 0),
            "in_duplicated": sum(texts[t] - 1 for t in burst if texts[t] > 1),
        }

    def _continuations(self, chat: str) -> int:
        response = self.http.get(
            f"/api/v1/sessions/{chat}/runs", headers={"authorization": f"Bearer {SECRET}"}
        )
        return sum(1 for r in response.json()["data"] if r.get("reason") == "continuation")

    # ------------------------------------------------------------ 4. reconnect torture

    def reconnect_torture(self) -> None:
        rng = random.Random(self.counts.seed)
        chat = f"cuts-{uuid.uuid4().hex[:6]}"
        with self.proxy.paused():
            agent = self._agent(chat)
            agent.preload()
            sid = self.client.sessions.retrieve(chat).id
        totals = Counter[str]()
        self.proxy.set_random(self.chaos())
        try:
            cursor: int | None = None
            for turn in range(self.counts.reconnect_turns):
                text = f"{chat} a long message number {turn} " + "word " * 20
                seq = self._append_retrying(chat, text)
                got, cuts = self._read_with_cuts(chat, cursor, seq, rng)
                totals["turns"] += 1
                totals["cuts"] += cuts
                with self.proxy.paused():
                    stored = [
                        r.seq
                        for r in store.read_pages(
                            sid, "out", cursor if cursor is not None else -1, limit=100_000
                        )
                    ]
                stored = [seq for seq in stored if got and seq <= got[-1]]  # what the reader passed over
                totals["records_read"] += len(got)
                totals["lost"] += len(set(stored) - set(got))
                totals["duplicated"] += len(got) - len(set(got))
                if got:
                    cursor = got[-1]
        finally:
            self.proxy.set_random(None)
        self.figures.reconnect = dict(totals)

    def _append_retrying(self, chat: str, text: str) -> int:
        body = {
            "kind": "message",
            "payload": {
                "chatId": chat,
                "trigger": "submit-message",
                "message": {
                    "id": uuid.uuid4().hex,
                    "role": "user",
                    "parts": [{"type": "text", "text": text}],
                },
            },
        }
        part = uuid.uuid4().hex
        for _ in range(10):
            response = self.http.post(
                f"/realtime/v1/sessions/{chat}/in/append",
                json=body,
                headers={"authorization": f"Bearer {SECRET}", "x-part-id": part},
            )
            if response.status_code == 200:
                return int(response.json()["seq"])
            time.sleep(0.1)
        raise RuntimeError(f"append kept failing: {response.status_code} {response.text}")

    def _read_with_cuts(
        self, chat: str, cursor: int | None, in_seq: int, rng: random.Random
    ) -> tuple[list[int], int]:
        """Read `.out` from `cursor` to the turn-complete answering `in_seq`, cutting connections."""
        got: list[int] = []
        cuts = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = got[-1] if got else cursor
            headers = {
                "authorization": f"Bearer {SECRET}",
                "accept": "text/event-stream",
                "timeout-seconds": "5",
            }
            if last is not None:
                headers["last-event-id"] = str(last)
            cut_after = rng.randint(1, 6)
            seen = 0
            try:
                with httpx.stream(
                    "GET",
                    f"{self.stack.base_url}/realtime/v1/sessions/{chat}/out",
                    headers=headers,
                    timeout=15,
                ) as response:
                    if response.status_code != 200:
                        time.sleep(0.1)
                        continue
                    for line in response.iter_lines():
                        if not line.startswith("data:") or "records" not in line:
                            continue
                        for raw in json.loads(line[5:])["records"]:
                            got.append(int(raw["seq_num"]))
                            seen += 1
                            headers_ = raw.get("headers") or []
                            control = next((v for k, v in headers_ if k == "trigger-control"), None)
                            answered = next((v for k, v in headers_ if k == "session-in-event-id"), None)
                            if (
                                control == "turn-complete"
                                and answered is not None
                                and int(answered) >= in_seq
                            ):
                                return got, cuts
                            if seen >= cut_after:
                                break
                        if seen >= cut_after:
                            cuts += 1
                            break
            except httpx.HTTPError:
                cuts += 1
        self.figures.note(f"reconnect: no turn-complete for seq {in_seq}")
        return got, cuts


@dataclass
class TurnOutcome:
    seq: int | None = None
    completed: bool = False
    errors: list[Any] = field(default_factory=list)
    text: str | None = None
    exception: str | None = None


# ---------------------------------------------------------------- reading the logs


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _envelope(record: store.StoredRecord) -> dict[str, Any] | None:
    try:
        parsed = json.loads(record.body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _envelope_id(record: store.StoredRecord) -> str | None:
    envelope = _envelope(record)
    return str(envelope.get("id")) if envelope and envelope.get("id") else None


def _message_text(record: store.StoredRecord) -> str | None:
    envelope = _envelope(record)
    data = envelope.get("data") if envelope else None
    try:
        body = json.loads(data) if isinstance(data, str) else data
        message = body["payload"]["message"]
        return "".join(p.get("text", "") for p in message["parts"] if p.get("type") == "text")
    except (TypeError, KeyError, ValueError):
        return None


def _is_turn_complete(record: store.StoredRecord) -> bool:
    return streams.control_kind(record) == "turn-complete"


def _chunk(record: store.StoredRecord) -> dict[str, Any] | None:
    envelope = _envelope(record)
    data = envelope.get("data") if envelope else None
    return data if isinstance(data, dict) else None


def _turn_records(records: list[store.StoredRecord], in_seq: int) -> list[store.StoredRecord] | None:
    """The `.out` records of the turn whose turn-complete answers `in_seq` (after the previous one)."""
    start = 0
    for i, record in enumerate(records):
        if _is_turn_complete(record):
            if streams.header(record, "session-in-event-id") == str(in_seq):
                return records[start:i]
            start = i + 1
    return None


def _outline(records: list[store.StoredRecord], in_seq: int) -> str:
    """What `.out` holds from the first record after the turn before `in_seq` to its last turn-complete."""
    marks = [i for i, r in enumerate(records) if streams.header(r, "session-in-event-id") == str(in_seq)]
    start = max(0, marks[0] - 12) if marks else 0
    end = marks[-1] + 1 if marks else 0
    return " ".join(
        f"{r.seq}:{streams.control_kind(r) or (_chunk(r) or {}).get('type', '?')}" for r in records[start:end]
    )


def _turn_text(records: list[store.StoredRecord], in_seq: int) -> str | None:
    turn = _turn_records(records, in_seq)
    if turn is None:
        return None
    chunks = [c for c in (_chunk(r) for r in turn) if c is not None]
    return "".join(str(c.get("delta", "")) for c in chunks if c.get("type") == "text-delta")


def _turn_failed(records: list[store.StoredRecord], in_seq: int) -> bool:
    turn = _turn_records(records, in_seq) or []
    return any((_chunk(r) or {}).get("type") == "error" for r in turn)


def _duplicates(session_id: str) -> int:
    dup = 0
    for io in ("in", "out"):
        records = list(store.read_pages(session_id, io, -1, limit=100_000))
        ids = Counter(_envelope_id(r) for r in records if r.body)
        dup += sum(n - 1 for i, n in ids.items() if i and n > 1)
        if io == "in":
            texts = Counter(_message_text(r) for r in records)
            dup += sum(n - 1 for t, n in texts.items() if t is not None and n > 1)
        else:
            answered = Counter(
                streams.header(r, "session-in-event-id") for r in records if _is_turn_complete(r)
            )
            dup += sum(n - 1 for n in answered.values() if n > 1)
            closed = sum(1 for r in records if streams.control_kind(r) == "session-closed")
            dup += max(0, closed - 1)
    return dup


def _run_status(run_id: str | None) -> str | None:
    if run_id is None:
        return None
    run = store.get_run(run_id)
    status = getattr(run, "status", None)
    return str(getattr(status, "value", status)) if status is not None else None


def run_campaign(counts: Counts, results: Path) -> Figures:
    with tempfile.TemporaryDirectory() as state_dir:
        figures = Campaign(counts, Path(state_dir)).run()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(asdict(figures), indent=2) + "\n")
    print(json.dumps(asdict(figures), indent=2))
    return figures


def main() -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    for name in list(logging.root.manager.loggerDict):  # the figures, not the stack's request log
        logging.getLogger(name).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--reconnect-turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    counts = Counts(
        sessions=args.sessions,
        turns_per_session=args.turns,
        fault_rate=args.rate,
        reconnect_turns=args.reconnect_turns,
        seed=args.seed,
    )
    run_campaign(counts, args.out)


if __name__ == "__main__":
    main()
