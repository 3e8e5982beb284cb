"""The fault proxy itself: each fault reaches PynamoDB as real DynamoDB's error would."""

from __future__ import annotations

import pytest
from pynamodb.exceptions import PutError, TransactWriteError

from agent_sessions import store
from tests.faults import ERROR_FAULTS, Fault, FaultProxy, RandomFaults, Rule, puts_to

ATTEMPTS = 4  # PynamoDB's botocore config: standard retry mode, 1 + 3 retries


def _item(pk: str) -> store.StreamItem:
    return store.StreamItem(pk, 0, next_seq=1)


def _exists(proxy: FaultProxy, pk: str) -> bool:
    with proxy.paused():
        return store.StreamItem.count(pk, consistent_read=True) > 0


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.BEFORE_WRITE, "InternalServerError"),
        (Fault.THROTTLE, "ThrottlingException"),
        (Fault.THROUGHPUT, "ProvisionedThroughputExceededException"),
    ],
)
def test_retryable_faults_are_retried_by_botocore_then_surface(
    faulty_dynamodb: FaultProxy, fault: Fault, code: str
) -> None:
    faulty_dynamodb.add(Rule(fault, operation="PutItem"))
    _item("once").save()
    assert _exists(faulty_dynamodb, "once")
    assert len(faulty_dynamodb.injected(fault)) == 1

    faulty_dynamodb.add(Rule(fault, operation="PutItem", times=ATTEMPTS))
    with pytest.raises(PutError) as raised:
        _item("never").save()
    assert raised.value.cause_response_code == code
    assert not _exists(faulty_dynamodb, "never")


def test_reply_lost_after_the_write_landed_is_resent_by_botocore(faulty_dynamodb: FaultProxy) -> None:
    """The case every idempotent write must get right: the retry meets its own committed write."""
    faulty_dynamodb.add(
        Rule(Fault.AFTER_WRITE_REPLY_LOST, operation="TransactWriteItems", where=puts_to("lost"))
    )

    def build(tx: store.TransactWrite) -> None:
        tx.save(_item("lost"), condition=store.StreamItem.pk.does_not_exist())

    with pytest.raises(store.TransactionCancelled) as raised:
        store._transact(build)
    assert raised.value.reasons == ["ConditionalCheckFailed"]
    assert _exists(faulty_dynamodb, "lost")
    sent = [s for s in faulty_dynamodb.seen if s.operation == "TransactWriteItems"]
    assert [s.status for s in sent] == [500, 400]


def test_conflict_cancels_a_transaction_with_a_transaction_conflict_reason(
    faulty_dynamodb: FaultProxy,
) -> None:
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="TransactWriteItems"))

    def build(tx: store.TransactWrite) -> None:
        tx.save(_item("a"))
        tx.save(_item("b"))

    with pytest.raises(store.TransactionCancelled) as raised:
        store._transact(build)
    assert raised.value.reasons == [None, "TransactionConflict"]
    assert not _exists(faulty_dynamodb, "a") and not _exists(faulty_dynamodb, "b")


def test_conflict_on_a_single_write_is_a_transaction_conflict_exception(faulty_dynamodb: FaultProxy) -> None:
    faulty_dynamodb.add(Rule(Fault.CONFLICT, operation="PutItem"))
    with pytest.raises(PutError) as raised:
        _item("x").save()
    assert raised.value.cause_response_code == "TransactionConflictException"


def test_nth_match_only(faulty_dynamodb: FaultProxy) -> None:
    faulty_dynamodb.add(Rule(Fault.BEFORE_WRITE, operation="PutItem", where=puts_to("third"), nth=2))
    for pk in ("first", "third", "third"):
        _item(pk).save()
    faults = faulty_dynamodb.injected()
    assert len(faults) == 1 and "third" in str(faults[0].body)


def test_delay_forwards(faulty_dynamodb: FaultProxy) -> None:
    faulty_dynamodb.add(Rule(Fault.DELAY, operation="PutItem", delay=0.01))
    _item("slow").save()
    assert _exists(faulty_dynamodb, "slow")
    assert [s.status for s in faulty_dynamodb.injected(Fault.DELAY)] == [200]


def test_random_faults_are_seeded() -> None:
    def decisions(seed: int) -> list[Fault | None]:
        chaos = RandomFaults(rate=0.3, seed=seed, delay_rate=0.2)
        return [chaos.choose("TransactWriteItems")[0] for _ in range(200)]

    assert decisions(7) == decisions(7)
    drawn = decisions(7)
    assert set(ERROR_FAULTS) <= set(drawn)
    assert 30 <= sum(f in ERROR_FAULTS for f in drawn) <= 90
    assert RandomFaults(rate=1.0, faults=(Fault.CONFLICT,)).choose("GetItem")[0] is Fault.BEFORE_WRITE


def test_transact_write_error_carries_the_cause(faulty_dynamodb: FaultProxy) -> None:
    faulty_dynamodb.add(Rule(Fault.BEFORE_WRITE, operation="TransactWriteItems", times=ATTEMPTS))

    def build(tx: store.TransactWrite) -> None:
        tx.save(_item("z"))

    with pytest.raises(TransactWriteError) as raised:
        store._transact(build)
    assert raised.value.cause_response_code == "InternalServerError"
