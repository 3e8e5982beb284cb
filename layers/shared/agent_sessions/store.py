"""PynamoDB models and the only code that touches DynamoDB.

Three on-demand tables:

* **sessions** (`pk`): the Session item lives at `<env>#<addressing key>` where the addressing key is
  `externalId ?? friendlyId`; a second, alias item at `<env>#<friendlyId>` points at it when the two
  differ. The browser transport always addresses sessions by externalId, so the hot path resolves a
  session in one strongly consistent GetItem. Keys carry the environment, so a session of another
  environment is simply not found. The `.in` head (next seq) lives on the Session item: an append
  reads it with the session and advances it in the same transaction whose condition also says
  "not closed", which makes close-vs-append atomic.
* **runs** (`pk`, `sk`): run items at `run#<runId>`/`run`; SessionRun audit items at
  `session#<friendlyId>`/`<triggeredAt>#<runId>` (time ordered per session). A run that is not
  final carries a lease (`lease_expires_at`, epoch seconds) and a `live_shard`, which puts it in the
  sparse `live_by_lease` index the recovery sweep reads; a final status removes the shard (unless
  `keep_listed`: the sweep looks at the session once more). Callers see runs as `Run` values and
  change them only through the named operations below (`create_run`, `start_attempt`,
  `renew_lease`, `prepare_park`, `park`, `complete_run`, `complete_run_if_answered`, `fail_run`,
  `cancel_run`, `expire_run`, `take_over`), each a conditional write that cannot move a final run.
* **streams** (`pk`, `seq`): log pages at `<friendlyId>#<io>`/`<last seq>`; the `.out` head at
  `<friendlyId>#out#head`/0; part-id markers at `<friendlyId>#<io>#part#<partId>`/0 (TTL);
  overflow chunks of pages larger than one item at `<friendlyId>#<io>#big#<last seq>`/`<i>`;
  chat history records at `<friendlyId>#history`/`<n>` with their head at `<friendlyId>#history#head`/0
  and large bodies at `<friendlyId>#history#blob#<sha256>`/`<i>` (see the chat history section).

Conditional-write failures become domain exceptions here; nothing above this module sees botocore.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from agent_sessions.config import Settings, get_settings
from agent_sessions.envelopes import dumps, split_utf8

CONDITION_FAILED = "ConditionalCheckFailedException"
PAGE_CHUNK_BYTES = 350_000
"""UTF-8 bytes of the largest `records` string kept in one item (DynamoDB's item cap is 400 KB,
counted in UTF-8 bytes of names and values; the rest of an item is well under 50 KB)."""


class ConditionFailed(Exception):
    """A conditional write's expectation did not hold."""


class RunSuperseded(Exception):
    """The run is no longer its session's current run (or `.out` has another owner): stop."""


class RunFinished(Exception):
    """The run already has a final status; nothing may move it again."""


class TransactionCancelled(Exception):
    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


class InputPending(Exception):
    """A run's final transition was refused: `.in` holds input after what the run answered, and an
    append that landed while the run was alive may have left it to this run (see
    `complete_run_if_answered`). Nothing was written."""


class RunNotLive(Exception):
    """An `.in` append conditioned on the session's current run being alive found it final or its
    lease run out; nothing was written."""


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- sessions


class SessionsByEnv(GlobalSecondaryIndex["SessionModel"]):
    """Sparse index (only Session items carry `list_env`) for cursor-paged listing, newest first."""

    class Meta:
        index_name = "by_env_created"
        projection = AllProjection()

    list_env = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class SessionModel(Model):
    class Meta:
        table_name = "agent-sessions-sessions"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="session")
    target = UnicodeAttribute(null=True)
    """Alias items only: `pk` of the Session item."""

    session_id = UnicodeAttribute(null=True)
    env_id = UnicodeAttribute(null=True)
    external_id = UnicodeAttribute(null=True)
    type = UnicodeAttribute(null=True)
    task_identifier = UnicodeAttribute(null=True)
    trigger_config = JSONAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    metadata = JSONAttribute(null=True)
    current_run_id = UnicodeAttribute(null=True)
    current_run_version = NumberAttribute(default=0)
    closed_at = UTCDateTimeAttribute(null=True)
    closed_reason = UnicodeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    in_next_seq = NumberAttribute(default=0)
    in_rate_window = NumberAttribute(null=True)
    """Start (Unix ms) of the `.in/append` rate window `in_rate_count` counts in; both move only in
    the append transaction, whose head CAS makes them exact without a read of their own."""
    in_rate_count = NumberAttribute(null=True)
    list_env = UnicodeAttribute(null=True)
    list_key = UnicodeAttribute(null=True)

    by_env = SessionsByEnv()


# ---------------------------------------------------------------- runs


LIVE_SHARDS = 4
"""Partitions of the live-run index, so lease renewals of many runs spread over several keys."""


class RunsByLease(GlobalSecondaryIndex["RunModel"]):
    """Sparse index of runs that are not final (only they carry `live_shard`), oldest lease first."""

    class Meta:
        index_name = "live_by_lease"
        projection = KeysOnlyProjection()

    live_shard = UnicodeAttribute(hash_key=True)
    lease_expires_at = NumberAttribute(range_key=True)


class RunsByEnv(GlobalSecondaryIndex["RunModel"]):
    """Sparse index of runs that are not final by environment (only they carry `live_env`): what
    the per-environment live-run cap counts. Written only when a run is created or turns final,
    never by lease renewals (the lease is not one of its keys)."""

    class Meta:
        index_name = "live_by_env"
        projection = KeysOnlyProjection()

    live_env = UnicodeAttribute(hash_key=True)


class RunModel(Model):
    class Meta:
        table_name = "agent-sessions-runs"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)
    session_pk = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    attempt = NumberAttribute(default=0)
    payload = JSONAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    previous_run_id = UnicodeAttribute(null=True)
    task_token = UnicodeAttribute(null=True)
    taken_token = UnicodeAttribute(null=True)
    """The token the last input signal took, so a retried signal still finds it (see signal_input)."""
    pending_input = NumberAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    triggered_at = UTCDateTimeAttribute(null=True)
    lease_expires_at = NumberAttribute(null=True)
    live_shard = UnicodeAttribute(null=True)
    live_env = UnicodeAttribute(null=True)
    """The environment id while the run is not final (the `live_by_env` index); removed by every
    final status, `keep_listed` included."""
    last_input_at = NumberAttribute(null=True)
    """Epoch seconds of the run's creation or of the last `.in` append signalled to it (the same
    write as the signal): what the max wall time without input is measured from."""

    by_lease = RunsByLease()
    by_env = RunsByEnv()


def run_key(run_id: str) -> tuple[str, str]:
    return f"run#{run_id}", "run"


# ---------------------------------------------------------------- streams


class StreamItem(Model):
    class Meta:
        table_name = "agent-sessions-streams"
        billing_mode = "PAY_PER_REQUEST"

    pk = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    first_seq = NumberAttribute(null=True)
    records = UnicodeAttribute(null=True)
    chunks = NumberAttribute(null=True)
    next_seq = NumberAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    """`.out` head only: the run allowed to write the agent's pages (fencing)."""
    trim_seq = NumberAttribute(null=True)
    """`.out` head only: the first retained seq; every record below it is trimmed (see retention)."""
    expires_at = TTLAttribute(null=True)
    ref = UnicodeAttribute(null=True)
    """History records too large for one item: sha256 of the body stored as blob chunks."""
    save_token = UnicodeAttribute(null=True)
    """History head: the token of the save that committed it (a retry finds its own write)."""
    write_token = UnicodeAttribute(null=True)
    """Pages only: the `ClientRequestToken` of the transaction that wrote it (see `_write_once`)."""
    hits = NumberAttribute(null=True)
    """Rate counters only (`limit#<env>#<name>`/<window start ms>): requests counted in the window."""
    turns = NumberAttribute(null=True)
    """Budget items only (`budget#<session>`/<UTC day>): turns started that day."""
    tokens = NumberAttribute(null=True)
    """Budget items only: model tokens (input + output) used that day."""


MODELS: tuple[type[Model], ...] = (SessionModel, RunModel, StreamItem)


@dataclass(frozen=True)
class StoredRecord:
    """One log record. `body` is the envelope string (`""` for control records)."""

    seq: int
    timestamp: int
    body: str
    headers: list[list[str]]

    def to_wire(self) -> dict[str, Any]:
        return {"seq_num": self.seq, "timestamp": self.timestamp, "body": self.body, "headers": self.headers}


_connection: Connection | None = None


def configure(settings: Settings | None = None) -> None:
    """Point the models at the configured tables and endpoint; call again after settings change."""
    global _connection
    settings = settings or get_settings()
    names = {
        SessionModel: settings.sessions_table,
        RunModel: settings.runs_table,
        StreamItem: settings.streams_table,
    }
    for model, name in names.items():
        model.Meta.table_name = name
        model.Meta.region = settings.region
        model.Meta.host = settings.dynamodb_url
        model._connection = None
    _connection = None


def connection() -> Connection:
    global _connection
    if _connection is None:
        settings = get_settings()
        _connection = Connection(region=settings.region, host=settings.dynamodb_url)
    return _connection


def create_tables() -> None:
    """Create the tables if missing (local stack and tests; on AWS the template owns them), and add
    an index a table kept from an older version lacks (a local state dir from before `live_by_lease`)."""
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True)
        else:
            _add_missing_indexes(model)


def _add_missing_indexes(model: type[Model]) -> None:
    client: Any = connection().client  # botocore's dynamic client
    table = model.Meta.table_name
    described = client.describe_table(TableName=table)["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in model._get_schema().get("global_secondary_indexes", []):
        if index["index_name"] in present:
            continue
        client.update_table(
            TableName=table,
            AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": index["index_name"],
                        "KeySchema": index["key_schema"],
                        "Projection": index["projection"],
                    }
                }
            ],
        )


def _cause(exc: Exception) -> str | None:
    return getattr(exc, "cause_response_code", None)


TRANSIENT_ATTEMPTS = 6
"""As the state machine's `Retry` on its DynamoDB tasks (after botocore's own retries)."""
_CONFLICT_BACKOFF_SECONDS = 0.025

TRANSIENT_ERRORS = frozenset(
    {
        "InternalServerError",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
    }
)
"""What the state machine's `Retry` blocks retry on its DynamoDB tasks (after botocore's own retries)."""


_CONFLICT = frozenset({"TransactionConflictException"})
"""DynamoDB refuses a single-item write that meets an item inside a running transaction with this
error; the write did not land, so resending it is safe, and botocore's standard retry mode does not."""

T = TypeVar("T")


def retry_transient(
    op: Callable[[], T],
    *,
    attempts: int = TRANSIENT_ATTEMPTS,
    first_delay: float = 0.2,
    retry_on: frozenset[str] = TRANSIENT_ERRORS,
) -> T:
    """Run `op`, retrying the DynamoDB errors named in `retry_on` with jittered exponential backoff.

    For writes that are idempotent under resend (conditional, or detecting their own landed write),
    as the state machine's `Retry` blocks are for its DynamoDB tasks. Raises the last error when
    every attempt met one, and any other error at once.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return op()
        except Exception as exc:
            if attempt == attempts or _cause(exc) not in retry_on:
                raise
            time.sleep(random.uniform(delay / 2, delay))
            delay *= 2
    raise AssertionError("unreachable")


def _transact(build: Any, client_request_token: str | None = None) -> None:
    try:
        with TransactWrite(connection=connection(), client_request_token=client_request_token) as tx:
            build(tx)
    except TransactWriteError as exc:
        reasons = [getattr(r, "code", None) if r else None for r in (exc.cancellation_reasons or [])]
        if _cause(exc) == "TransactionCanceledException":
            raise TransactionCancelled(reasons) from exc
        raise


_UNKNOWN_OUTCOME_ATTEMPTS = 3
"""Our own resends of a transaction whose outcome is unknown, after botocore's (1 + 3 attempts)."""


def new_write_token() -> str:
    return str(uuid.uuid4())  # ClientRequestToken allows 1-36 characters


def _write_once(build: Any, token: str, landed: Callable[[], bool]) -> None:
    """Commit the transaction `build` at most once, although the reply to a commit can be lost.

    A commit whose reply is lost (a 500 after the write landed) is resent, by botocore and then
    here, with the same `ClientRequestToken`: DynamoDB answers a resend within 10 minutes from its
    token cache, and where it does not (moto, or after the window) the resend is cancelled by the
    write it already made — or by anything else, a `TransactionConflict` included. botocore's
    resends are invisible from here, so after any cancellation or error `landed()` reads back
    whether the item this token wrote is there; if it is, the write succeeded. (One strongly
    consistent GetItem per cancelled write.)

    Raises TransactionCancelled when the write did not land (its reasons as DynamoDB gave them);
    TransactWriteError when the outcome stays unknown after the last attempt.
    """
    for attempt in range(_UNKNOWN_OUTCOME_ATTEMPTS):
        try:
            _transact(build, token)
            return
        except TransactionCancelled:
            # Whatever the reasons: botocore may have resent this request after an earlier attempt
            # committed and lost its reply, and the resend was then cancelled (a failed condition on
            # our own page, or a TransactionConflict on the way).
            if landed():
                return
            raise
        except TransactWriteError:
            if landed():
                return
            if attempt + 1 == _UNKNOWN_OUTCOME_ATTEMPTS:
                raise
            time.sleep(0.05 * 2**attempt)


# ---------------------------------------------------------------- session data access


def session_pk(env_id: str, key: str) -> str:
    return f"{env_id}#{key}"


def get_session_item(pk: str) -> SessionModel | None:
    """Strongly consistent: follows one alias hop."""
    try:
        item = SessionModel.get(pk, consistent_read=True)
    except DoesNotExist:
        return None
    if item.kind == "alias" and item.target:
        try:
            return SessionModel.get(item.target, consistent_read=True)
        except DoesNotExist:
            return None
    return item


_CREATE_ATTEMPTS = 5


def insert_session(item: SessionModel, alias_pk: str | None) -> bool:
    """Create the session (and its alias) once: True if this call created it, False if one exists.

    Only a failed `attribute_not_exists` condition means "a session already holds this key". A
    cancellation for any other reason (`TransactionConflict` with a concurrent create whose winner
    is not committed yet, throttling) is retried with jittered backoff, up to `_CREATE_ATTEMPTS`
    times; then TransactionCancelled is raised. A lost reply to our own commit is recognised
    (`_write_once`) and counts as created.
    """

    def build(tx: TransactWrite) -> None:
        tx.save(item, condition=SessionModel.pk.does_not_exist())
        if alias_pk:
            tx.save(
                SessionModel(alias_pk, kind="alias", target=item.pk, env_id=item.env_id),
                condition=SessionModel.pk.does_not_exist(),
            )

    def landed() -> bool:  # session ids are fresh per create call
        try:
            found = SessionModel.get(item.pk, consistent_read=True, attributes_to_get=["session_id"])
        except DoesNotExist:
            return False
        return found.session_id == item.session_id

    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            _write_once(build, new_write_token(), landed)  # a cancelled attempt's token is not reused
            return True
        except TransactionCancelled as exc:
            if "ConditionalCheckFailed" in exc.reasons:
                return False
            if attempt == _CREATE_ATTEMPTS:
                raise
            time.sleep(0.05 * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")


def _update(item: Model, actions: list[Any], condition: Any, name: str) -> None:
    """UpdateItem, resent after a `TransactionConflictException` (see `retry_transient`).

    Raises ConditionFailed when `condition` does not hold.
    """

    def once() -> None:
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _cause(exc) == CONDITION_FAILED:
                raise ConditionFailed(name) from exc
            raise

    retry_transient(once, first_delay=_CONFLICT_BACKOFF_SECONDS, retry_on=_CONFLICT)


def update_session(pk: str, actions: list[Any], condition: Any = None) -> SessionModel:
    """UpdateItem with `pk` existence always asserted (UpdateItem would otherwise upsert)."""
    cond = SessionModel.pk.exists() & (SessionModel.kind == "session")
    if condition is not None:
        cond = cond & condition
    item = SessionModel(pk)
    _update(item, [*actions, SessionModel.updated_at.set(now())], cond, pk)
    return item


@dataclass(frozen=True)
class RateWindow:
    """A fixed rate-limit window: its start (Unix ms) and the requests counted in it."""

    start_ms: int
    count: int


def rate_window_of(session: SessionModel) -> RateWindow | None:
    """The session's `.in/append` window as its item holds it (None before its first counted append)."""
    if session.in_rate_window is None:
        return None
    return RateWindow(int(session.in_rate_window), int(session.in_rate_count or 0))


def count_in_window(key: str, window: RateWindow, limit: int, ttl_seconds: int) -> int | None:
    """Count one request in the shared counter `key` for the window starting at `window.start_ms`:
    one conditional UpdateItem (ADD) on an item that expires by TTL after the window. Returns the
    count including this request, or None when `limit` requests were already counted (nothing
    written). A resend after a lost reply may count a request twice; a counter errs toward refusing.
    """
    item = StreamItem(f"limit#{key}", window.start_ms)
    try:
        _update(
            item,
            [
                StreamItem.hits.add(1),
                StreamItem.expires_at.set(StreamItem.expires_at | (now() + timedelta(seconds=ttl_seconds))),
            ],
            StreamItem.hits.does_not_exist() | (StreamItem.hits < limit),
            key,
        )
    except ConditionFailed:
        return None
    return int(item.hits or 0)


@dataclass(frozen=True)
class DayUsage:
    """One session's counted use on one UTC day (`day` = days since the epoch)."""

    turns: int
    tokens: int


def _budget_item(session_id: str, day: int) -> StreamItem:
    return StreamItem(f"budget#{session_id}", day)


def _budget_ttl() -> datetime:
    return now() + timedelta(days=2)


def _budget_caps(max_turns: int, max_tokens: int) -> Any:
    caps = []
    if max_turns:
        caps.append(StreamItem.turns.does_not_exist() | (StreamItem.turns < max_turns))
    if max_tokens:
        caps.append(StreamItem.tokens.does_not_exist() | (StreamItem.tokens < max_tokens))
    return caps[0] & caps[1] if len(caps) == 2 else (caps[0] if caps else None)


def _count_turn_actions() -> list[Any]:
    return [StreamItem.turns.add(1), StreamItem.expires_at.set(_budget_ttl())]


def start_budget_turn(session_id: str, day: int, max_turns: int, max_tokens: int) -> DayUsage | None:
    """Count one turn on `day`, only while fewer than `max_turns` turns and fewer than `max_tokens`
    tokens are counted (0: that cap is off). One UpdateItem; returns the day's use including this
    turn, or None (nothing written) when a cap is reached."""
    item = _budget_item(session_id, day)
    try:
        _update(item, _count_turn_actions(), _budget_caps(max_turns, max_tokens), item.pk)
    except ConditionFailed:
        return None
    return DayUsage(int(item.turns or 0), int(item.tokens or 0))


@dataclass(frozen=True)
class Fence:
    """A run that must still be its session's current run for a write to land."""

    session_pk: str
    run_id: str


def start_fenced_budget_turn(
    fence: Fence, session_id: str, day: int, max_turns: int, max_tokens: int
) -> bool:
    """`start_budget_turn` and the run's fence in one request: a transaction that counts the turn
    only while `fence.run_id` is the session's current run (what a strongly consistent GetItem of
    the session would confirm) and the caps hold. The day's totals are not returned (a transaction
    returns no values); the caps held when it committed.

    Returns False when a cap refused (nothing written). Raises RunSuperseded when the run is no
    longer current (nothing written either).
    """
    item = _budget_item(session_id, day)

    def build(tx: TransactWrite) -> None:  # condition checks go first: reasons[0]
        tx.condition_check(
            SessionModel, fence.session_pk, condition=SessionModel.current_run_id == fence.run_id
        )
        tx.update(item, actions=_count_turn_actions(), condition=_budget_caps(max_turns, max_tokens))

    try:
        _transact_until_decided(build, _FENCED_TURN_ATTEMPTS)
    except TransactionCancelled as exc:
        current, caps = [*exc.reasons, None, None][:2]
        if current == "ConditionalCheckFailed":
            raise RunSuperseded(fence.run_id) from exc
        if caps == "ConditionalCheckFailed":
            return False
        raise
    return True


_FENCED_TURN_ATTEMPTS = 3


def _transact_until_decided(build: Any, attempts: int) -> None:
    """Commit the transaction `build` (a fresh ClientRequestToken each attempt), resent with
    jittered backoff while DynamoDB cancels it for no failed condition of its own (a
    TransactionConflict with a concurrent write, throttling), at most `attempts` times.

    Raises TransactionCancelled at once when a condition failed (the caller reads which from
    `reasons`), or when the last attempt was cancelled.
    """
    delay = _CONFLICT_BACKOFF_SECONDS
    for attempt in range(1, attempts + 1):
        try:
            _transact(build, new_write_token())
            return
        except TransactionCancelled as exc:
            if "ConditionalCheckFailed" in exc.reasons or attempt == attempts:
                raise
        time.sleep(random.uniform(delay / 2, delay))
        delay *= 2


def read_budget(session_id: str, day: int) -> DayUsage:
    try:
        item = StreamItem.get(f"budget#{session_id}", day, consistent_read=True)
    except DoesNotExist:
        return DayUsage(0, 0)
    return DayUsage(int(item.turns or 0), int(item.tokens or 0))


def add_budget_tokens(session_id: str, day: int, tokens: int) -> DayUsage:
    """Add a model call's tokens to `day`'s count (one UpdateItem); returns the day's use after it."""
    item = _budget_item(session_id, day)
    _update(item, [StreamItem.tokens.add(tokens), StreamItem.expires_at.set(_budget_ttl())], None, item.pk)
    return DayUsage(int(item.turns or 0), int(item.tokens or 0))


def uncount_in_window(key: str, window: RateWindow) -> None:
    """Give back one request counted by `count_in_window` (the request then failed as bad input):
    the counter item is deleted when this was its only count, so the table is as it was."""
    item = StreamItem(f"limit#{key}", window.start_ms)
    try:
        retry_transient(
            lambda: item.delete(condition=StreamItem.hits <= 1),
            first_delay=_CONFLICT_BACKOFF_SECONDS,
            retry_on=_CONFLICT,
        )
    except DeleteError as exc:
        if _cause(exc) != CONDITION_FAILED:
            raise
        _update(item, [StreamItem.hits.add(-1)], StreamItem.hits > 1, key)


def swap_current_run(
    pk: str, expected_run_id: str | None, expected_version: int, new_run_id: str
) -> SessionModel:
    """The only write of `current_run_id`: CAS on (run id, version), bumping the version."""
    expected = (
        SessionModel.current_run_id.does_not_exist()
        if expected_run_id is None
        else SessionModel.current_run_id == expected_run_id
    )
    try:
        return update_session(
            pk,
            [SessionModel.current_run_id.set(new_run_id), SessionModel.current_run_version.add(1)],
            condition=expected & (SessionModel.current_run_version == expected_version),
        )
    except ConditionFailed:
        # A retried write whose first reply was lost after it landed fails its own condition:
        # the session naming our new run at the next version is that write, so we won.
        fresh = get_session_item(pk)
        if (
            fresh is not None
            and fresh.current_run_id == new_run_id
            and int(fresh.current_run_version or 0) == expected_version + 1
        ):
            return fresh
        raise


def query_sessions(
    env_id: str, *, newest_first: bool, start_after: dict[str, Any] | None, limit: int
) -> tuple[list[SessionModel], dict[str, Any] | None]:
    result = SessionModel.by_env.query(
        env_id,
        scan_index_forward=not newest_first,
        last_evaluated_key=start_after,
        limit=limit,
    )
    items = list(result)
    return items, result.last_evaluated_key


# ---------------------------------------------------------------- runs data access


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    CANCELED = "CANCELED"

    @property
    def is_final(self) -> bool:
        return self not in LIVE_STATUSES


LIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.EXECUTING, RunStatus.WAITING})


@dataclass(frozen=True)
class Run:
    """A run as callers see it. `lease_expires_at` is in seconds since the epoch (0 when unknown)."""

    run_id: str
    session_id: str
    session_pk: str
    status: RunStatus
    lease_expires_at: float
    attempt: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    reason: str = "initial"
    previous_run_id: str | None = None
    task_token: str | None = None
    pending_input: int | None = None
    execution_arn: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    last_input_at: float = 0.0
    """Epoch seconds: creation, or the last input signalled to the run."""

    def is_alive(self, at: float, leeway: float) -> bool:
        """Not final and its lease not expired, `leeway` seconds of clock skew allowed."""
        return not self.status.is_final and self.lease_expires_at + leeway > at


def epoch() -> float:
    return time.time()


def _run_from_row(row: RunModel) -> Run:
    return Run(
        run_id=row.run_id or "",
        session_id=row.session_id or "",
        session_pk=row.session_pk or "",
        status=RunStatus(row.status or RunStatus.QUEUED),
        lease_expires_at=float(row.lease_expires_at or 0),
        attempt=int(row.attempt or 0),
        payload=dict(row.payload or {}),
        reason=row.reason or "initial",
        previous_run_id=row.previous_run_id,
        task_token=row.task_token,
        pending_input=int(row.pending_input) if row.pending_input is not None else None,
        execution_arn=row.execution_arn,
        error=row.error,
        created_at=row.created_at,
        last_input_at=float(row.last_input_at or 0),
    )


def _shard(run_id: str) -> str:
    return f"live#{zlib.crc32(run_id.encode()) % LIVE_SHARDS}"


def _live() -> Any:
    return RunModel.status.is_in(*LIVE_STATUSES)


def create_run(
    *,
    run_id: str,
    session_id: str,
    session_pk: str,
    payload: dict[str, Any],
    reason: str,
    previous_run_id: str | None,
    lease_until: float,
    env_id: str | None = None,
) -> Run:
    """Write a QUEUED run whose lease is its launch grace (it is judged dead if never started).

    With `env_id` the run counts in that environment's live runs (`count_live_runs`) until final."""
    at = now()
    row = RunModel(
        *run_key(run_id),
        run_id=run_id,
        session_id=session_id,
        session_pk=session_pk,
        status=RunStatus.QUEUED,
        payload=payload,
        reason=reason,
        previous_run_id=previous_run_id,
        lease_expires_at=lease_until,
        live_shard=_shard(run_id),
        live_env=env_id or None,
        last_input_at=at.timestamp(),
        created_at=at,
        updated_at=at,
    )
    try:
        row.save(condition=RunModel.pk.does_not_exist())
    except PutError as exc:
        # Run ids are random: an item already there under ours is this write, landed before its
        # reply was lost and retried.
        existing = get_run(run_id) if _cause(exc) == CONDITION_FAILED else None
        if existing is None or existing.session_pk != session_pk:
            raise
        return existing
    return _run_from_row(row)


def get_run(run_id: str) -> Run | None:
    try:
        return _run_from_row(RunModel.get(*run_key(run_id), consistent_read=True))
    except DoesNotExist:
        return None


def _update_run(run_id: str, actions: list[Any], condition: Any = None) -> None:
    cond = RunModel.pk.exists()
    if condition is not None:
        cond = cond & condition
    _update(RunModel(*run_key(run_id)), [*actions, RunModel.updated_at.set(now())], cond, run_id)


def start_attempt(run: Run, attempt: int, lease_until: float) -> Run:
    """Boot one invocation, fenced: in one transaction, check the session still names this run,
    move the run to EXECUTING (only from a live status) with a fresh lease, and make it the `.out`
    owner so no other run's pages land from now on.

    Raises RunSuperseded when the session moved on, RunFinished when the run is final. The
    transaction carries a ClientRequestToken, so a retry of a commit whose reply was lost succeeds.
    """
    head = StreamItem(head_pk(run.session_id, "out"), 0)

    def build(tx: TransactWrite) -> None:
        tx.condition_check(SessionModel, run.session_pk, condition=SessionModel.current_run_id == run.run_id)
        tx.update(
            RunModel(*run_key(run.run_id)),
            actions=[
                RunModel.status.set(RunStatus.EXECUTING),
                RunModel.attempt.set(attempt),
                RunModel.lease_expires_at.set(lease_until),
                RunModel.pending_input.remove(),
                RunModel.task_token.remove(),
                RunModel.updated_at.set(now()),
            ],
            condition=RunModel.pk.exists() & _live(),
        )
        tx.update(head, actions=[StreamItem.owner.set(run.run_id)])

    try:
        _transact(build, client_request_token=str(uuid.uuid4()))
    except TransactionCancelled as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            raise RunSuperseded(run.run_id) from exc
        if len(exc.reasons) > 1 and exc.reasons[1] == "ConditionalCheckFailed":
            raise RunFinished(run.run_id) from exc
        raise
    return Run(
        **{
            **run.__dict__,
            "status": RunStatus.EXECUTING,
            "attempt": attempt,
            "lease_expires_at": lease_until,
            "pending_input": None,
        }
    )


def renew_lease(run_id: str, until: float) -> float:
    """Heartbeat: extend an EXECUTING run's lease. Raises RunSuperseded once it is no longer EXECUTING.

    Returns the run's `last_input_at` (epoch seconds, 0 when unknown) from the same write's reply.
    """
    row = RunModel(*run_key(run_id))
    try:
        _update(
            row,
            [RunModel.lease_expires_at.set(until), RunModel.updated_at.set(now())],
            RunModel.pk.exists() & (RunModel.status == RunStatus.EXECUTING),
            run_id,
        )
    except ConditionFailed:
        raise RunSuperseded(run_id) from None
    return float(row.last_input_at or 0)


def prepare_park(run_id: str, lease_until: float) -> None:
    """Going idle: clear the input flag (before the last look at `.in`) and take the suspend lease.

    Raises RunSuperseded when the run is no longer EXECUTING.
    """
    try:
        _update_run(
            run_id,
            [RunModel.pending_input.remove(), RunModel.lease_expires_at.set(lease_until)],
            condition=RunModel.status == RunStatus.EXECUTING,
        )
    except ConditionFailed:
        raise RunSuperseded(run_id) from None


def park(run_id: str, token: str) -> bool:
    """What the state machine's WaitForInput state does (the in-process launcher does the same):
    park a task token, only while no input is pending and the run is not final."""
    try:
        _update_run(
            run_id,
            [RunModel.task_token.set(token), RunModel.status.set(RunStatus.WAITING)],
            condition=RunModel.pending_input.does_not_exist()
            & RunModel.status.is_in(RunStatus.QUEUED, RunStatus.EXECUTING),
        )
    except ConditionFailed:
        fresh = get_run(run_id)  # a retry of a park whose reply was lost meets its own token
        return fresh is not None and fresh.task_token == token
    return True


def signal_input(run_id: str, in_seq: int) -> Run | None:
    """Mark input pending and take the parked task token, in one write; returns the run as it was.

    The state machine parks its token only while `pending_input` is absent, so whichever of
    "append" and "park" comes second sees the other: no input is slept through.

    Idempotent: the same write copies the token it takes to `taken_token`. A retry of a signal
    whose reply was lost finds its own `pending_input` and no token, and reports the token its
    first attempt took, so the run is still resumed.
    """
    hash_key, range_key = run_key(run_id)
    try:
        response = retry_transient(
            lambda: RunModel._get_connection().update_item(
                hash_key,
                range_key=range_key,
                actions=[
                    RunModel.pending_input.set(in_seq),
                    RunModel.last_input_at.set(epoch()),
                    RunModel.taken_token.set(RunModel.task_token | ""),
                    RunModel.task_token.remove(),
                ],
                condition=RunModel.pk.exists(),
                return_values="ALL_OLD",
            ),
            first_delay=_CONFLICT_BACKOFF_SECONDS,
            retry_on=_CONFLICT,
        )
    except UpdateError as exc:
        if _cause(exc) == CONDITION_FAILED:
            return None
        raise
    attrs = response.get("Attributes")
    if not attrs:
        return None
    old = RunModel.from_raw_data(attrs)
    if old.task_token is None and old.pending_input == in_seq and old.taken_token:
        old.task_token = old.taken_token  # our own first attempt took it
    return _run_from_row(old)


def _finish(
    run_id: str, status: RunStatus, error: str | None, condition: Any = None, *, keep_listed: bool = False
) -> bool:
    """Move a live run to a final status; False when it already was final (or `condition` failed).

    Idempotent: a retry of a write whose reply was lost fails its condition and finds the run final.
    `keep_listed` leaves the run in the live index with its lease ending now, so the recovery
    sweep looks at its session once (a failed run may leave a turn open or input unanswered).
    """
    actions = [RunModel.status.set(status), RunModel.task_token.remove(), RunModel.live_env.remove()]
    if keep_listed:
        actions.append(RunModel.lease_expires_at.set(epoch()))
    else:
        actions.append(RunModel.live_shard.remove())
    if error is not None:
        actions.append(RunModel.error.set(error))
    cond = _live() if condition is None else _live() & condition
    try:
        _update_run(run_id, actions, condition=cond)
    except ConditionFailed:
        return False
    return True


def complete_run(run_id: str) -> bool:
    return _finish(run_id, RunStatus.COMPLETED, None)


def complete_run_if_answered(run_id: str, session_pk: str, answered: int) -> bool:
    """COMPLETED, only while the session's `.in` holds nothing after seq `answered` (or is closed);
    `answered` is the run's cursor: the last `.in` seq it consumed.

    One transaction: a ConditionCheck on the session item (`in_next_seq <= answered + 1`, or
    `closed_at` set) and the run's move to COMPLETED from a live status. An `.in` append moves
    `in_next_seq` in a transaction on the same item, so the two are ordered: an append ordered
    before this write refuses it (InputPending: the caller hands the input on), one ordered after
    finds the run final when it signals it and starts a continuation itself.

    Returns False when the run already was final (by anyone, or by this write whose reply was lost:
    the transaction carries a ClientRequestToken, and where that is not honoured the resend finds
    the run final). Raises InputPending when only the `.in` check failed.
    """
    head_ok = (
        (SessionModel.in_next_seq <= answered + 1)
        | SessionModel.in_next_seq.does_not_exist()
        | SessionModel.closed_at.exists()
    )
    actions: list[Any] = [
        RunModel.status.set(RunStatus.COMPLETED),
        RunModel.task_token.remove(),
        RunModel.live_env.remove(),
        RunModel.live_shard.remove(),
        RunModel.updated_at.set(now()),
    ]

    def build(tx: TransactWrite) -> None:
        tx.condition_check(SessionModel, session_pk, condition=head_ok)  # sent first: reasons[0]
        tx.update(RunModel(*run_key(run_id)), actions=actions, condition=RunModel.pk.exists() & _live())

    try:
        _transact_until_decided(build, TRANSIENT_ATTEMPTS)
    except TransactionCancelled as exc:
        head, run = [*exc.reasons, None, None][:2]
        if run == "ConditionalCheckFailed":
            return False
        if head == "ConditionalCheckFailed":
            raise InputPending(run_id) from exc
        raise
    return True


def fail_run(run_id: str, error: str) -> bool:
    """FAILED, and left for the recovery sweep to close any open turn and answer pending input."""
    return _finish(run_id, RunStatus.FAILED, error, keep_listed=True)


def unlist_run(run_id: str) -> None:
    """Drop a final run from the live index once the recovery sweep has dealt with it."""
    _update_run(run_id, [RunModel.live_shard.remove(), RunModel.live_env.remove()])


def cancel_run(run_id: str, error: str, *, keep_listed: bool = False) -> bool:
    """CANCELED. `keep_listed` leaves it for the recovery sweep to look at its session once (see
    `_finish`): the kill switch's way to make sure input it cut off is answered."""
    return _finish(run_id, RunStatus.CANCELED, error, keep_listed=keep_listed)


def expire_run(run_id: str, token: str | None) -> bool:
    """Suspend timeout or a failed resume: WAITING → EXPIRED.

    With `token`: only while that token is still parked (the launcher's own timeout; an append that
    took the token meanwhile wins and it is a resume). Without: only while WAITING with no token
    parked (the append took it and could not resume; a worker that moved on to EXECUTING wins).
    """
    parked = RunModel.task_token == token if token is not None else RunModel.task_token.does_not_exist()
    return _finish(run_id, RunStatus.EXPIRED, None, (RunModel.status == RunStatus.WAITING) & parked)


def take_over(run: Run, error: str) -> bool:
    """Declare a run whose lease ran out dead, conditioned on the lease we saw.

    A worker that renewed in between wins (False). True when the run is now final, by this write
    or by anyone's — including this write landing with its reply lost.
    """
    status = RunStatus.EXPIRED if run.status is RunStatus.WAITING else RunStatus.FAILED
    seen = (RunModel.status == run.status) & (RunModel.lease_expires_at == run.lease_expires_at)
    if _finish(run.run_id, status, error, seen):
        return True
    fresh = get_run(run.run_id)
    return fresh is None or fresh.status.is_final


def set_execution(run_id: str, ref: str) -> None:
    _update_run(run_id, [RunModel.execution_arn.set(ref)])


def expired_runs(before: float, limit: int = 100) -> list[str]:
    """Ids of live runs whose lease ended before `before` (eventually consistent: re-read them)."""
    found: list[str] = []
    for shard in range(LIVE_SHARDS):
        for item in RunModel.by_lease.query(
            f"live#{shard}", RunModel.lease_expires_at < before, limit=limit - len(found)
        ):
            found.append(item.pk.removeprefix("run#"))
        if len(found) >= limit:
            break
    return found


def live_runs(limit: int = 1000) -> list[Run]:
    """Runs that are not final (the sparse `live_by_lease` index, every shard), read back strongly
    consistent; at most `limit`, oldest lease first per shard. A run that turned final between the
    index read and its own read is left out."""
    ids: list[str] = []
    for shard in range(LIVE_SHARDS):
        for item in RunModel.by_lease.query(f"live#{shard}", limit=limit - len(ids)):
            ids.append(item.pk.removeprefix("run#"))
        if len(ids) >= limit:
            break
    runs = [get_run(run_id) for run_id in ids]
    return [run for run in runs if run is not None and not run.status.is_final]


def count_live_runs(env_id: str, up_to: int) -> int:
    """How many runs of environment `env_id` are not final, counting at most `up_to` (one Query with
    `Select=COUNT` on the sparse `live_by_env` index, eventually consistent: a run created or
    finalized a moment ago may not be counted yet)."""
    return int(RunModel.by_env.count(env_id, limit=up_to))


def put_session_run(session_id: str, run_id: str, reason: str, at: datetime) -> None:
    """The audit line of a launch; an unconditional put of one key, so a resend is harmless."""
    entry = RunModel(
        f"session#{session_id}",
        f"{at.isoformat()}#{run_id}",
        run_id=run_id,
        session_id=session_id,
        reason=reason,
        triggered_at=at,
    )
    retry_transient(entry.save, first_delay=_CONFLICT_BACKOFF_SECONDS, retry_on=_CONFLICT)


@dataclass(frozen=True)
class SessionRunEntry:
    """One line of a session's run audit trail."""

    run_id: str
    reason: str
    triggered_at: datetime | None


def list_session_runs(session_id: str) -> list[SessionRunEntry]:
    return [
        SessionRunEntry(row.run_id or "", row.reason or "", row.triggered_at)
        for row in RunModel.query(f"session#{session_id}", consistent_read=True)
    ]


# ---------------------------------------------------------------- streams data access


def log_pk(session_id: str, io: str) -> str:
    return f"{session_id}#{io}"


def _page_items(pk: str, records: Sequence[StoredRecord], token: str) -> list[StreamItem]:
    payload = dumps([[r.seq, r.timestamp, r.body, r.headers] for r in records])
    last = records[-1].seq
    parts = split_utf8(payload, PAGE_CHUNK_BYTES)
    head = StreamItem(
        pk, last, first_seq=records[0].seq, records=parts[0], chunks=len(parts), write_token=token
    )
    overflow = [StreamItem(f"{pk}#big#{last}", i, records=part) for i, part in enumerate(parts[1:], start=1)]
    return [head, *overflow]


def append_in_record(
    session_item_pk: str,
    session_id: str,
    io: str,
    expected_seq: int,
    record: StoredRecord,
    part_id: str | None,
    part_ttl_seconds: int,
    session_actions: Sequence[Any] = (),
    rate: RateWindow | None = None,
    live_run: tuple[str, float] | None = None,
) -> None:
    """`.in` append: part marker + page + head advance (guarded by "not closed"), all or nothing.

    `live_run` = (run id, epoch seconds) adds a check, in the same transaction, that the run is not
    final and its lease ends after that time: the live-run cap uses it to learn, without a request
    of its own, that this append would start a run. Raises RunNotLive when only that check failed.

    `session_actions` ride along on the session update (closing writes its wake-up record this way),
    and so does `rate`, the session's `.in/append` window after counting this append: the head CAS
    already proves no other append moved it since the caller read it, so it costs no request.

    Idempotent: a resend after a lost reply is recognised as this call's own write (`_write_once`).
    Raises TransactionCancelled when it did not land; reasons[0] is the part marker when `part_id`
    is given (PynamoDB sends Puts before Updates, in call order).
    """
    pk = log_pk(session_id, io)
    token = new_write_token()
    rate_actions = (
        [SessionModel.in_rate_window.set(rate.start_ms), SessionModel.in_rate_count.set(rate.count)]
        if rate is not None
        else []
    )

    def build(tx: TransactWrite) -> None:
        if live_run is not None:  # condition checks are sent first: reasons[0]
            run_id, lease_after = live_run
            tx.condition_check(
                RunModel, *run_key(run_id), condition=_live() & (RunModel.lease_expires_at > lease_after)
            )
        if part_id is not None:
            tx.save(
                _part_marker(pk, part_id, record.seq, part_ttl_seconds),
                condition=StreamItem.pk.does_not_exist(),
            )
        for page in _page_items(pk, [record], token):
            tx.save(page, condition=StreamItem.pk.does_not_exist())
        tx.update(
            SessionModel(session_item_pk),
            actions=[SessionModel.in_next_seq.set(expected_seq + 1), *session_actions, *rate_actions],
            condition=(SessionModel.in_next_seq == expected_seq) & SessionModel.closed_at.does_not_exist(),
        )

    if live_run is None:
        _write_once(build, token, lambda: _page_token(pk, record.seq) == token)
        return
    try:
        _write_once(build, token, lambda: _page_token(pk, record.seq) == token)
    except TransactionCancelled as exc:
        run_check, rest = (exc.reasons[0] if exc.reasons else None), exc.reasons[1:]
        if run_check == "ConditionalCheckFailed" and "ConditionalCheckFailed" not in rest:
            raise RunNotLive(live_run[0]) from exc
        raise TransactionCancelled(rest) from exc  # as callers index them without the check


def _page_token(pk: str, last_seq: int) -> str | None:
    """The write token of the page ending at `last_seq`, strongly consistent; None if absent."""
    try:
        item = StreamItem.get(pk, last_seq, consistent_read=True, attributes_to_get=["write_token"])
    except DoesNotExist:
        return None
    return item.write_token


def get_part_seq(session_id: str, io: str, part_id: str) -> int | None:
    try:
        item = StreamItem.get(f"{log_pk(session_id, io)}#part#{part_id}", 0, consistent_read=True)
    except DoesNotExist:
        return None
    return int(item.first_seq) if item.first_seq is not None else None


def head_pk(session_id: str, io: str) -> str:
    return f"{log_pk(session_id, io)}#head"


def read_head(session_id: str, io: str) -> int:
    return read_head_and_owner(session_id, io)[0]


def read_head_and_owner(session_id: str, io: str) -> tuple[int, str | None]:
    """The log's next seq and, for `.out`, the run that owns it (None before any run booted)."""
    try:
        item = StreamItem.get(head_pk(session_id, io), 0, consistent_read=True)
    except DoesNotExist:
        return 0, None
    return int(item.next_seq or 0), item.owner


def _part_marker(pk: str, part_id: str, seq: int, ttl_seconds: int) -> StreamItem:
    return StreamItem(f"{pk}#part#{part_id}", 0, first_seq=seq, expires_at=timedelta(seconds=ttl_seconds))


def append_page(
    session_id: str,
    io: str,
    expected_seq: int,
    records: Sequence[StoredRecord],
    part: tuple[str, int] | None = None,
    *,
    owner: str | None = None,
    new_owner: str | None = None,
) -> None:
    """Write a page of consecutive records at the separate head item (the `.out` writer's path).

    `part` = (part id, ttl seconds) dedupes a single-record HTTP append; its marker is reasons[0].
    Idempotent: a resend after a lost reply is recognised as this call's own page (`_write_once`).
    Raises TransactionCancelled when the page did not land (the head moved, or a conflict).
    `owner` fences the write: it commits only while that run owns the head; `new_owner` hands the
    head over in the same write (the recovery sweep retires a dead run's ownership this way).
    """
    pk = log_pk(session_id, io)
    head = StreamItem(head_pk(session_id, io), 0)
    token = new_write_token()

    def build(tx: TransactWrite) -> None:
        if part is not None:
            tx.save(
                _part_marker(pk, part[0], records[0].seq, part[1]), condition=StreamItem.pk.does_not_exist()
            )
        for page in _page_items(pk, records, token):
            tx.save(page, condition=StreamItem.pk.does_not_exist())
        if expected_seq == 0:
            cond = StreamItem.next_seq.does_not_exist() | (StreamItem.next_seq == 0)
        else:
            cond = StreamItem.next_seq == expected_seq
        actions: list[Any] = [StreamItem.next_seq.set(expected_seq + len(records))]
        if owner is not None:
            cond = cond & (StreamItem.owner == owner)
        if new_owner is not None:
            actions.append(StreamItem.owner.set(new_owner))
        tx.update(head, actions=actions, condition=cond)

    _write_once(build, token, lambda: _page_token(pk, records[-1].seq) == token)


def retire_out_owner(session_id: str, run_id: str, expected_next_seq: int) -> bool:
    """Take `.out` from `run_id` (its later pages are refused), only while it still owns it and the
    head is still at `expected_next_seq` (the tail the caller judged has not moved). False otherwise.
    """
    head = StreamItem(head_pk(session_id, "out"), 0)
    cond = (StreamItem.owner == run_id) & (
        StreamItem.next_seq == expected_next_seq
        if expected_next_seq
        else StreamItem.next_seq.does_not_exist() | (StreamItem.next_seq == 0)
    )
    try:
        _update(head, [StreamItem.owner.set(f"retired:{run_id}")], cond, head.pk)
    except ConditionFailed:
        return False
    return True


def _decode_page(pk: str, item: StreamItem) -> list[StoredRecord]:
    """The page's records; [] when its overflow chunks are gone (a trim deleted the page after it
    was read: readers see the gap and learn of the trim, see `streams.read_after`)."""
    payload = item.records or ""
    chunks = int(item.chunks or 1)
    if chunks > 1:
        rest = list(StreamItem.query(f"{pk}#big#{int(item.seq)}", consistent_read=True))
        if len(rest) < chunks - 1:
            return []
        payload += "".join(part.records or "" for part in rest)
    return [StoredRecord(int(s), int(t), b, h) for s, t, b, h in json.loads(payload)]


def read_pages(
    session_id: str,
    io: str,
    after_seq: int,
    *,
    limit: int = 50,
    newest_first: bool = False,
    consistent: bool = True,
) -> Iterator[StoredRecord]:
    """Records with seq > after_seq in order (or newest first), strongly consistent unless
    `consistent=False` (half the read units; the pages may be stale, never torn: a page's
    overflow chunks are always read strongly consistent once its first item was seen).

    `limit` bounds the items (pages) read. Newest-first readers look for something near the end
    (the last turn-complete), so they fetch small pages instead of up to `limit` items at once.
    """
    pk = log_pk(session_id, io)
    condition = StreamItem.seq > after_seq
    page_size = min(limit, 25) if newest_first else limit
    for item in StreamItem.query(
        pk,
        condition,
        consistent_read=consistent,
        limit=limit,
        scan_index_forward=not newest_first,
        page_size=page_size,
    ):
        records = _decode_page(pk, item)
        if newest_first:
            records.reverse()
        for record in records:
            if record.seq > after_seq:
                yield record


# ---------------------------------------------------------------- `.out` retention
#
# A trim moves the `.out` head's `trim_seq` forward (fenced on the run owning `.out`, monotonic, so
# a retry or a late duplicate changes nothing), then deletes the pages wholly below it: first the
# page items, then their overflow chunks, so a reader never decodes a page whose tail is gone.
# Readers learn of a trim from a gap at the start of what they read (`streams.read_after`).


@dataclass(frozen=True)
class OutPage:
    """One stored `.out` page: records `first_seq` .. `last_seq` (its sort key), written together."""

    first_seq: int
    last_seq: int
    chunks: int
    """Items holding the page: 1, or 1 + the overflow chunks of a page larger than one item."""
    records: list[StoredRecord]


def out_pages(session_id: str, *, limit: int) -> Iterator[OutPage]:
    """The stored `.out` pages, oldest first (at most `limit` items), strongly consistent, read
    lazily (Query pages of 8 items) so a caller that stops early reads little.

    Pages a trim left behind (it stopped between moving the head and deleting) come first, so the
    next trim finds and deletes them.
    """
    pk = log_pk(session_id, "out")
    # Small Query pages: a trim usually reads one turn's pages and the first page it keeps.
    for item in StreamItem.query(pk, StreamItem.seq >= 0, consistent_read=True, limit=limit, page_size=8):
        records = _decode_page(pk, item)
        if not records:
            continue
        yield OutPage(records[0].seq, int(item.seq), int(item.chunks or 1), records)


def read_out_trim(session_id: str) -> int:
    """The first retained `.out` seq (0 when nothing was ever trimmed); one strongly consistent GetItem."""
    try:
        item = StreamItem.get(
            head_pk(session_id, "out"), 0, consistent_read=True, attributes_to_get=["trim_seq"]
        )
    except DoesNotExist:
        return 0
    return int(item.trim_seq or 0)


def advance_out_trim(session_id: str, owner: str, trim_seq: int) -> bool:
    """Move `.out`'s first retained seq up to `trim_seq`, only while `owner` owns `.out`.

    True when the head now says `trim_seq` or more (by this write, an earlier one, or this one
    landed with its reply lost); never moves it back. Raises RunSuperseded when another run (or
    none) owns `.out`: a superseded run must not trim.
    """
    head = StreamItem(head_pk(session_id, "out"), 0)
    condition = (StreamItem.owner == owner) & (
        StreamItem.trim_seq.does_not_exist() | (StreamItem.trim_seq < trim_seq)
    )
    try:
        _update(head, [StreamItem.trim_seq.set(trim_seq)], condition, f"{session_id} trim")
    except ConditionFailed:
        _, current_owner = read_head_and_owner(session_id, "out")
        if current_owner != owner:
            raise RunSuperseded(owner) from None
        return read_out_trim(session_id) >= trim_seq
    return True


def delete_out_pages(session_id: str, pages: Sequence[OutPage]) -> None:
    """Delete trimmed pages (all below the head's `trim_seq`): page items first, then overflow
    chunks. Deleting what is already gone is a no-op, so a retry or a second trimmer is harmless."""
    pk = log_pk(session_id, "out")
    with StreamItem.batch_write() as batch:
        for page in pages:
            batch.delete(StreamItem(pk, page.last_seq))
    with StreamItem.batch_write() as batch:
        for page in pages:
            for i in range(1, page.chunks):
                batch.delete(StreamItem(f"{pk}#big#{page.last_seq}", i))


# ---------------------------------------------------------------- legacy snapshot blobs


def _blob_pk(session_id: str, name: str) -> str:
    return f"{session_id}#blob#{name}"


def put_blob(session_id: str, name: str, text: str) -> None:
    """The pre-history format: a whole document in one transaction (≤ 4 MB, every write rewrites all).

    Kept only as the baseline `make bench` compares chat history against; nothing else writes it.
    """
    pk = _blob_pk(session_id, name)
    parts = split_utf8(text, PAGE_CHUNK_BYTES)

    def build(tx: TransactWrite) -> None:
        for i, part in enumerate(parts):
            tx.save(StreamItem(pk, i, records=part, chunks=len(parts) if i == 0 else None))

    _transact(build)


def get_blob(session_id: str, name: str) -> str | None:
    """A document `put_blob` wrote (chats saved before chat history existed are migrated from it)."""
    items = list(StreamItem.query(_blob_pk(session_id, name), consistent_read=True))
    if not items:
        return None
    count = int(items[0].chunks or 1)
    return "".join(item.records or "" for item in items[:count])


def delete_blob(session_id: str, name: str) -> None:
    with StreamItem.batch_write() as batch:
        for item in StreamItem.query(_blob_pk(session_id, name), consistent_read=True):
            batch.delete(item)


# ---------------------------------------------------------------- run state
#
# `<sid>#runstate` / 0: the state a chat agent keeps beside a transcript it does not own (an app's
# TranscriptStorage): `chat.inject`'s queue, `chat.local` values, suspend and recovery markers. With
# the built-in history it rides in the history records instead (atomic with the turn's save).

RUN_STATE_MAX_BYTES = 350_000


def save_run_state(session_id: str, state: dict[str, Any]) -> None:
    """Replace the chat's run state (JSON object; `{}` deletes it). One PutItem: a retry after a
    lost reply writes the same bytes again. Raises ValueError over RUN_STATE_MAX_BYTES."""
    pk = f"{session_id}#runstate"
    if not state:
        StreamItem(pk, 0).delete()
        return
    text = json.dumps(state, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text.encode()) > RUN_STATE_MAX_BYTES:
        raise ValueError(f"run state over {RUN_STATE_MAX_BYTES} bytes (chat.inject queue too long?)")
    StreamItem(pk, 0, records=text).save()


def load_run_state(session_id: str) -> dict[str, Any]:
    """The chat's run state as last saved (`{}` when none); strongly consistent."""
    try:
        item = StreamItem.get(f"{session_id}#runstate", 0, consistent_read=True)
    except StreamItem.DoesNotExist:
        return {}
    loaded = json.loads(item.records or "{}")
    return loaded if isinstance(loaded, dict) else {}


# ---------------------------------------------------------------- chat history
#
# A chat's history is a log of records, one per save, each holding only what that save changed
# (`agent/history.py` says what a record means). Items:
#   `<sid>#history` / n              record n: `records` = its JSON body, or `ref` + `chunks` when the
#                                    body is larger than one item
#   `<sid>#history#blob#<sha256>` / i  chunk i of such a body (content-addressed: a retry rewrites the
#                                    same bytes)
#   `<sid>#history#head` / 0         `first_seq` = first record of the current history (the base),
#                                    `next_seq` = the next record number, `save_token` = the last save
# A record and the head move in one two-item transaction conditioned on the head, so a save is atomic
# and costs the size of what it changed, whatever the chat's length.


class HistoryConflict(Exception):
    """Another writer saved this chat's history since the caller read it (the caller is superseded)."""


@dataclass(frozen=True)
class HistoryHead:
    """Records `base` .. `next - 1` are the chat's history; `token` names the save that wrote `next - 1`."""

    base: int
    next: int
    token: str | None


@dataclass(frozen=True)
class StoredHistory:
    head: HistoryHead | None
    """None: nothing saved in this format yet."""
    records: list[str]
    """The JSON bodies of the records from `head.base` to `head.next - 1`, in order."""


HISTORY_SAVE_ATTEMPTS = 4


def _history_pk(session_id: str) -> str:
    return f"{session_id}#history"


def _history_blob_pk(session_id: str, digest: str) -> str:
    return f"{session_id}#history#blob#{digest}"


def _history_head_pk(session_id: str) -> str:
    return f"{session_id}#history#head"


def read_history_head(session_id: str) -> HistoryHead | None:
    try:
        item = StreamItem.get(_history_head_pk(session_id), 0, consistent_read=True)
    except DoesNotExist:
        return None
    return HistoryHead(base=int(item.first_seq or 0), next=int(item.next_seq or 0), token=item.save_token)


def read_history(session_id: str) -> StoredHistory:
    """The head and the bodies of the current history's records (strongly consistent, paged Query).

    Raises ValueError if a committed record is missing (never expected: records commit with the head).
    """
    head = read_history_head(session_id)
    if head is None or head.next <= head.base:
        return StoredHistory(head, [])
    records: list[str] = []
    for item in StreamItem.query(
        _history_pk(session_id), StreamItem.seq.between(head.base, head.next - 1), consistent_read=True
    ):
        if int(item.seq) != head.base + len(records):
            raise ValueError(f"history record {head.base + len(records)} of {session_id} is missing")
        if item.ref is None:
            records.append(item.records or "")
            continue
        chunks = list(StreamItem.query(_history_blob_pk(session_id, item.ref), consistent_read=True))
        records.append("".join(chunk.records or "" for chunk in chunks[: int(item.chunks or 0)]))
    if len(records) != head.next - head.base:
        raise ValueError(f"history of {session_id} ends at {head.base + len(records)}, head says {head.next}")
    return StoredHistory(head, records)


def append_history(
    session_id: str, expected: HistoryHead | None, body: str, *, token: str, rebase: bool
) -> HistoryHead:
    """Commit `body` as the next history record; `rebase` makes it the first record of the history.

    Idempotent under retry: the body's chunks (if any) are content-addressed puts, and the record and
    head are one transaction conditioned on the head still being `expected`; when the reply of a
    landed commit is lost, the head already carries `token` and that counts as success. `token` must
    be unique per save. Costs one two-item transaction (plus ⌈UTF-8 bytes / 350,000⌉ chunk puts when
    the body exceeds one item), whatever the length of the history.

    Raises HistoryConflict when another save moved the head first.
    """
    number = expected.next if expected is not None else 0
    base = number if rebase or expected is None else expected.base
    committed = HistoryHead(base=base, next=number + 1, token=token)
    data = body.encode()
    if len(data) <= PAGE_CHUNK_BYTES:
        record = StreamItem(_history_pk(session_id), number, records=body)
    else:
        digest = hashlib.sha256(data).hexdigest()
        parts = split_utf8(body, PAGE_CHUNK_BYTES)
        chunks = [StreamItem(_history_blob_pk(session_id, digest), i, records=p) for i, p in enumerate(parts)]
        _put_all(chunks)
        record = StreamItem(_history_pk(session_id), number, ref=digest, chunks=len(parts))
    head = StreamItem(_history_head_pk(session_id), 0)
    condition = StreamItem.pk.does_not_exist() if expected is None else StreamItem.next_seq == expected.next

    def build(tx: TransactWrite) -> None:
        tx.save(record)
        tx.update(
            head,
            actions=[
                StreamItem.next_seq.set(committed.next),
                StreamItem.first_seq.set(committed.base),
                StreamItem.save_token.set(token),
            ],
            condition=condition,
        )

    failure: Exception | None = None
    for attempt in range(HISTORY_SAVE_ATTEMPTS):
        try:
            _transact(build, client_request_token=f"{token[:32]}-{attempt}")
            return committed
        except TransactionCancelled as exc:
            failure = exc
        except TransactWriteError as exc:  # a transient error botocore's own retries did not cure
            failure = exc
        current = read_history_head(session_id)
        if current == committed:
            return committed  # it landed; only the reply was lost
        if current != expected:
            raise HistoryConflict(session_id) from failure
    assert failure is not None
    raise failure


def _put_all(items: Sequence[StreamItem]) -> None:
    """Batch puts of items whose content is fixed by their key: repeating them after an ambiguous
    failure rewrites the same bytes, so they are retried as a whole."""
    for attempt in range(HISTORY_SAVE_ATTEMPTS):
        try:
            with StreamItem.batch_write() as batch:
                for item in items:
                    batch.save(item)
            return
        except PutError:
            if attempt + 1 == HISTORY_SAVE_ATTEMPTS:
                raise


def delete_history_records(session_id: str, start: int, stop: int) -> int:
    """Delete records `start` .. `stop - 1` (no longer part of the history) and their chunks; returns
    how many records went. Safe to repeat or to interrupt: nothing reads below the head's base."""
    if stop <= start:
        return 0
    doomed = list(
        StreamItem.query(
            _history_pk(session_id), StreamItem.seq.between(start, stop - 1), consistent_read=True
        )
    )
    with StreamItem.batch_write() as batch:
        for item in doomed:
            if item.ref is not None:
                for i in range(int(item.chunks or 0)):
                    batch.delete(StreamItem(_history_blob_pk(session_id, item.ref), i))
            batch.delete(StreamItem(_history_pk(session_id), int(item.seq)))
    return len(doomed)
