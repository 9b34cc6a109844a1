"""Ledger timestamps: assigned by the ledger, strictly increasing, whatever the clock does.

The ledger takes the clock's time when it is ahead and otherwise the next nanosecond after the last
timestamp, so a clock that stands still, or one that is behind after a reopen, never produces a
duplicate or a step back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from clearline.core.clock import NANOSECONDS_PER_SECOND, ManualClock
from clearline.ledger import Account, Ledger, Transfer, TransferFlags


def accounts(ledger: Ledger, *ids: int) -> list[int]:
    results = ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in ids])
    assert all(r.ok for r in results)
    return [r.timestamp for r in results]


def pay(ledger: Ledger, *ids: int, **fields: int) -> list[int]:
    results = ledger.create_transfers(
        [Transfer(id=i, debit_account_id=1, credit_account_id=2, amount=1, **fields) for i in ids]
    )
    assert all(r.ok for r in results), results
    return [r.timestamp for r in results]


def strictly_increasing(values: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


def test_the_clock_sets_the_time_when_it_is_ahead(ledger: Ledger, clock: ManualClock) -> None:
    (first,) = accounts(ledger, 1)
    assert first == clock.now_ns()
    now = clock.advance(seconds=10)
    (second,) = accounts(ledger, 2)
    assert second == now


def test_strictly_increasing_within_a_batch(ledger: Ledger) -> None:
    stamps = accounts(ledger, 1, 2, 3)
    stamps += pay(ledger, *range(10, 60))
    assert strictly_increasing(stamps)
    assert stamps == list(range(stamps[0], stamps[0] + len(stamps)))


def test_strictly_increasing_across_calls_with_a_stopped_clock(ledger: Ledger) -> None:
    stamps = accounts(ledger, 1, 2)
    for transfer_id in range(10, 30):
        stamps += pay(ledger, transfer_id)
    assert strictly_increasing(stamps)


def test_strictly_increasing_after_reopen_with_an_earlier_clock(
    ledger: Ledger, clock: ManualClock, reopen: Callable[..., Ledger]
) -> None:
    stamps = accounts(ledger, 1, 2)
    clock.advance(seconds=3600)
    stamps += pay(ledger, 10, 11)
    behind = ManualClock(start_ns=stamps[0] - 3600 * NANOSECONDS_PER_SECOND)
    reopened = reopen(ledger, behind)
    stamps += pay(reopened, 12, 13)
    stamps += [r.timestamp for r in reopened.create_accounts([Account(id=3, asset="USD", code=1)])]
    assert strictly_increasing(stamps)
    assert stamps[-1] == stamps[-4] + 3
    stored = reopened.lookup_transfers([10, 11, 12, 13])
    assert [t.timestamp for t in stored] == stamps[2:6]


def test_after_reopen_the_last_expiry_counts(
    ledger: Ledger, clock: ManualClock, reopen: Callable[..., Ledger]
) -> None:
    accounts(ledger, 1, 2)
    (held,) = pay(ledger, 10, flags=TransferFlags.PENDING, timeout=1)
    expired_at = clock.advance(seconds=2)  # the expiry takes the clock's time
    ledger.tick()
    behind = ManualClock(start_ns=held - NANOSECONDS_PER_SECOND)
    reopened = reopen(ledger, behind)
    (after,) = pay(reopened, 11)
    assert after == expired_at + 1


def test_refused_events_consume_no_timestamp(ledger: Ledger) -> None:
    accounts(ledger, 1, 2)
    (before,) = pay(ledger, 10)
    results = ledger.create_transfers(
        [
            Transfer(id=11, debit_account_id=1, credit_account_id=2, amount=0),
            Transfer(id=12, debit_account_id=1, credit_account_id=2, amount=1),
        ]
    )
    assert results[0].timestamp == 0
    assert results[1].timestamp == before + 1


def test_stored_timestamps_match_the_results(ledger: Ledger) -> None:
    account_stamps = accounts(ledger, 1, 2)
    transfer_stamps = pay(ledger, 10, 11, 12)
    assert [a.timestamp for a in ledger.lookup_accounts([1, 2])] == account_stamps
    assert [t.timestamp for t in ledger.lookup_transfers([10, 11, 12])] == transfer_stamps
