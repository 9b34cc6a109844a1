"""Linked chains: all events commit together or none does.

The clock stands still in these tests, so "timestamps not consumed" is exact: the next accepted
event gets the timestamp right after the last accepted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clearline.ledger import (
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)

TR = CreateTransferResult
AR = CreateAccountResult
F = TransferFlags
A, B, C, LIMITED = 1, 2, 3, 4
ACCOUNTS = [A, B, C, LIMITED]


@pytest.fixture
def book(ledger: Ledger) -> Ledger:
    results = ledger.create_accounts(
        [
            Account(id=A, asset="USD", code=1),
            Account(id=B, asset="USD", code=1),
            Account(id=C, asset="USD", code=1),
            Account(
                id=LIMITED, asset="USD", code=1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            ),
        ]
    )
    assert all(r.ok for r in results)
    return ledger


def pay(id: int, debit: int = A, credit: int = B, amount: int = 10, **fields: Any) -> Transfer:
    return Transfer(
        id=id, debit_account_id=debit, credit_account_id=credit, amount=amount, **fields
    )


def linked(id: int, debit: int = A, credit: int = B, amount: int = 10, **fields: Any) -> Transfer:
    flags = F.LINKED | fields.pop("flags", 0)
    return pay(id, debit, credit, amount, flags=flags, **fields)


def codes(results: list[Any]) -> list[Any]:
    return [r.result for r in results]


def state(ledger: Ledger) -> tuple[Any, ...]:
    return (ledger.counts(), tuple(ledger.lookup_accounts(ACCOUNTS)))


def test_a_chain_commits_together(book: Ledger) -> None:
    results = book.create_transfers([linked(10), linked(11, B, C), pay(12, C, A)])
    assert codes(results) == [TR.OK] * 3
    timestamps = [r.timestamp for r in results]
    assert timestamps == list(range(timestamps[0], timestamps[0] + 3))
    assert len(book.lookup_transfers([10, 11, 12])) == 3


def test_later_events_see_earlier_ones(book: Ledger) -> None:
    results = book.create_transfers([linked(10, A, LIMITED, 50), pay(11, LIMITED, B, 50)])
    assert codes(results) == [TR.OK, TR.OK]


@pytest.mark.parametrize("failing_position", [0, 1, 2])
def test_a_chain_fails_together(book: Ledger, failing_position: int) -> None:
    (last,) = book.create_transfers([pay(1, A, LIMITED, 5)])
    before = state(book)
    chain = [linked(10, A, LIMITED, 20), linked(11, LIMITED, B, 20), pay(12, B, C, 20)]
    broken = chain[failing_position]
    chain[failing_position] = Transfer(
        id=broken.id,
        debit_account_id=broken.debit_account_id,
        credit_account_id=broken.credit_account_id,
        amount=0,
        flags=broken.flags,
    )
    results = book.create_transfers(chain)
    expected = [TR.LINKED_EVENT_FAILED] * 3
    expected[failing_position] = TR.AMOUNT_MUST_NOT_BE_ZERO
    assert codes(results) == expected
    assert all(r.timestamp == 0 for r in results)
    assert state(book) == before
    assert book.lookup_transfers([10, 11, 12]) == []
    (after,) = book.create_transfers([pay(20)])
    assert after.timestamp == last.timestamp + 1


def test_a_failed_chain_is_undone_before_the_next_event(book: Ledger) -> None:
    results = book.create_transfers(
        [
            linked(10, A, LIMITED, 50),
            linked(11, LIMITED, B, 60),  # exceeds credits: undoes the funding
            pay(12, C, B, 1),
            pay(13, LIMITED, B, 1),
        ]
    )
    assert codes(results) == [
        TR.LINKED_EVENT_FAILED,
        TR.EXCEEDS_CREDITS,
        TR.LINKED_EVENT_FAILED,
        TR.EXCEEDS_CREDITS,
    ]
    (limited,) = book.lookup_accounts([LIMITED])
    assert (limited.credits_posted, limited.debits_posted) == (0, 0)


def test_chains_around_independent_events(book: Ledger) -> None:
    results = book.create_transfers(
        [pay(10), linked(11), pay(12, amount=0), pay(13), linked(14), pay(15)]
    )
    assert codes(results) == [
        TR.OK,
        TR.LINKED_EVENT_FAILED,
        TR.AMOUNT_MUST_NOT_BE_ZERO,
        TR.OK,
        TR.OK,
        TR.OK,
    ]
    ok_timestamps = [r.timestamp for r in results if r.result is TR.OK]
    assert ok_timestamps == list(range(ok_timestamps[0], ok_timestamps[0] + 4))


def test_chain_open_at_the_end(book: Ledger) -> None:
    before_transfers = book.counts()["transfers"]
    results = book.create_transfers([pay(10), linked(11), linked(12)])
    assert codes(results) == [TR.OK, TR.LINKED_EVENT_CHAIN_OPEN, TR.LINKED_EVENT_CHAIN_OPEN]
    assert book.counts()["transfers"] == before_transfers + 1
    assert book.lookup_transfers([11, 12]) == []


def test_a_single_linked_event_is_an_open_chain(book: Ledger) -> None:
    (result,) = book.create_transfers([linked(10)])
    assert result.result is TR.LINKED_EVENT_CHAIN_OPEN
    assert book.lookup_transfers([10]) == []


def test_replaying_a_whole_chain_is_exists(book: Ledger, reopen: Callable[..., Ledger]) -> None:
    chain = [linked(10), linked(11, B, C), pay(12, C, A)]
    first = book.create_transfers(chain)
    again = book.create_transfers(chain)
    assert codes(again) == [TR.EXISTS] * 3
    assert [r.timestamp for r in again] == [r.timestamp for r in first]
    reopened = reopen(book)
    assert codes(reopened.create_transfers(chain)) == [TR.EXISTS] * 3


def test_replaying_a_chain_with_a_post_is_exists(book: Ledger) -> None:
    chain = [
        linked(10, flags=F.PENDING),
        linked(11, 0, 0, 0, code=0, pending_id=10, flags=F.POST_PENDING_TRANSFER),
        pay(12, B, C),
    ]
    assert codes(book.create_transfers(chain)) == [TR.OK] * 3
    before = state(book)
    assert codes(book.create_transfers(chain)) == [TR.EXISTS] * 3
    assert state(book) == before


def test_a_chain_mixing_new_and_existing_events_fails(book: Ledger) -> None:
    book.create_transfers([linked(10), pay(11)])
    before = state(book)
    results = book.create_transfers([linked(10), pay(12)])
    assert codes(results) == [TR.EXISTS, TR.LINKED_EVENT_FAILED]
    results = book.create_transfers([linked(30), linked(10), pay(11)])
    assert codes(results) == [TR.LINKED_EVENT_FAILED, TR.EXISTS, TR.LINKED_EVENT_FAILED]
    assert state(book) == before
    assert book.lookup_transfers([12, 30]) == []


def test_a_chain_replayed_with_a_changed_event_fails_on_it(book: Ledger) -> None:
    book.create_transfers([linked(10), pay(11)])
    before = state(book)
    results = book.create_transfers([linked(10), linked(11), pay(12)])
    assert codes(results) == [
        TR.LINKED_EVENT_FAILED,
        TR.EXISTS_WITH_DIFFERENT_FLAGS,
        TR.LINKED_EVENT_FAILED,
    ]
    assert state(book) == before


def test_a_failed_chain_undoes_holds_posts_and_closing(book: Ledger) -> None:
    book.create_transfers([pay(1, A, C, 1, flags=F.PENDING | F.CLOSING_DEBIT)])
    before = state(book)
    results = book.create_transfers(
        [
            linked(10, B, C, 5, flags=F.PENDING | F.CLOSING_CREDIT),
            linked(11, 0, 0, 0, code=0, pending_id=10, flags=F.POST_PENDING_TRANSFER),
            linked(12, 0, 0, 0, code=0, pending_id=1, flags=F.VOID_PENDING_TRANSFER),
            pay(13, B, C, 0),
        ]
    )
    assert codes(results)[3] is TR.AMOUNT_MUST_NOT_BE_ZERO
    assert state(book) == before
    (a, c) = book.lookup_accounts([A, C])
    assert a.flags & AccountFlags.CLOSED
    assert not c.flags & AccountFlags.CLOSED
    results = book.create_transfers(
        [pay(14, 0, 0, 0, code=0, pending_id=10, flags=F.POST_PENDING_TRANSFER)]
    )
    assert codes(results) == [TR.PENDING_TRANSFER_NOT_FOUND]


def test_linked_accounts(ledger: Ledger) -> None:
    L = AccountFlags.LINKED
    results = ledger.create_accounts(
        [
            Account(id=1, asset="USD", code=1, flags=L),
            Account(id=2, asset="USD", code=0),
            Account(id=3, asset="USD", code=1, flags=L),
            Account(id=4, asset="USD", code=1),
            Account(id=5, asset="USD", code=1, flags=L),
        ]
    )
    assert codes(results) == [
        AR.LINKED_EVENT_FAILED,
        AR.CODE_MUST_NOT_BE_ZERO,
        AR.OK,
        AR.OK,
        AR.LINKED_EVENT_CHAIN_OPEN,
    ]
    assert [a.id for a in ledger.lookup_accounts([1, 2, 3, 4, 5])] == [3, 4]
    assert results[3].timestamp == results[2].timestamp + 1


def test_a_chain_of_accounts_and_a_transfer_using_them(ledger: Ledger) -> None:
    L = AccountFlags.LINKED
    ledger.create_accounts(
        [Account(id=1, asset="USD", code=1, flags=L), Account(id=2, asset="EUR", code=1)]
    )
    (result,) = ledger.create_transfers([pay(10, 1, 2)])
    assert result.result is TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET
