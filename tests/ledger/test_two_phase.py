"""Two-phase transfers: holds, partial posts, voids, expiry by ledger time, closing, balancing.

Time is a ManualClock: expiry is driven by `clock.set/advance` followed by `ledger.tick()` (or by
the next write), never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clearline.core.clock import NANOSECONDS_PER_SECOND, ManualClock
from clearline.ledger import (
    Account,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)

TR = CreateTransferResult
F = TransferFlags
FUNDING, SPENDER, MERCHANT, OTHER, WATCHED = 1, 2, 3, 4, 5
ACCOUNTS = [FUNDING, SPENDER, MERCHANT, OTHER, WATCHED]


@pytest.fixture
def book(ledger: Ledger) -> Ledger:
    """FUNDING pays 100 into SPENDER (debits must not exceed credits); WATCHED keeps history."""
    results = ledger.create_accounts(
        [
            Account(id=FUNDING, asset="USD", code=1),
            Account(
                id=SPENDER, asset="USD", code=1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            ),
            Account(id=MERCHANT, asset="USD", code=1),
            Account(id=OTHER, asset="USD", code=1),
            Account(id=WATCHED, asset="USD", code=1, flags=AccountFlags.HISTORY),
        ]
    )
    assert all(r.ok for r in results)
    must(ledger, Transfer(id=1, debit_account_id=FUNDING, credit_account_id=SPENDER, amount=100))
    return ledger


def must(ledger: Ledger, *transfers: Transfer) -> list[int]:
    results = ledger.create_transfers(list(transfers))
    assert [r.result for r in results] == [TR.OK] * len(transfers), results
    return [r.timestamp for r in results]


def hold(
    id: int, amount: int, debit: int = SPENDER, credit: int = MERCHANT, **fields: int
) -> Transfer:
    flags = F.PENDING | fields.pop("flags", 0)
    return Transfer(
        id=id,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        flags=flags,
        code=fields.pop("code", 7),
        **fields,
    )


def post(id: int, pending_id: int, amount: int = 0) -> Transfer:
    return Transfer(
        id=id,
        debit_account_id=0,
        credit_account_id=0,
        amount=amount,
        code=0,
        pending_id=pending_id,
        flags=F.POST_PENDING_TRANSFER,
    )


def void(id: int, pending_id: int, amount: int = 0) -> Transfer:
    return Transfer(
        id=id,
        debit_account_id=0,
        credit_account_id=0,
        amount=amount,
        code=0,
        pending_id=pending_id,
        flags=F.VOID_PENDING_TRANSFER,
    )


def pay(id: int, debit: int, credit: int, amount: int, flags: int = 0) -> Transfer:
    return Transfer(
        id=id, debit_account_id=debit, credit_account_id=credit, amount=amount, flags=flags
    )


def balances(ledger: Ledger, account_id: int) -> tuple[int, int, int, int]:
    (account,) = ledger.lookup_accounts([account_id])
    return (
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    )


def is_closed(ledger: Ledger, account_id: int) -> bool:
    (account,) = ledger.lookup_accounts([account_id])
    return bool(account.flags & AccountFlags.CLOSED)


# -- holds, posts and voids ------------------------------------------------------------------------


def test_holds_reduce_availability(book: Ledger) -> None:
    must(book, hold(10, 60))
    (spender,) = book.lookup_accounts([SPENDER])
    assert spender.available == 40
    assert spender.balance == 100
    (refused,) = book.create_transfers([hold(11, 41)])
    assert refused.result is TR.EXCEEDS_CREDITS
    (refused,) = book.create_transfers([pay(12, SPENDER, MERCHANT, 41)])
    assert refused.result is TR.EXCEEDS_CREDITS
    must(book, hold(13, 40))
    assert balances(book, SPENDER) == (100, 0, 0, 100)
    assert balances(book, MERCHANT) == (0, 0, 100, 0)


def test_partial_post_releases_the_rest(book: Ledger) -> None:
    must(book, hold(10, 60))
    must(book, post(11, 10, amount=25))
    assert balances(book, SPENDER) == (0, 25, 0, 100)
    assert balances(book, MERCHANT) == (0, 0, 0, 25)
    (stored,) = book.lookup_transfers([11])
    assert (stored.debit_account_id, stored.credit_account_id) == (SPENDER, MERCHANT)
    assert (stored.amount, stored.code, stored.pending_id) == (25, 7, 10)
    (spender,) = book.lookup_accounts([SPENDER])
    assert spender.available == 75


def test_post_of_zero_posts_the_whole_hold(book: Ledger) -> None:
    must(book, hold(10, 60))
    must(book, post(11, 10))
    assert balances(book, SPENDER) == (0, 60, 0, 100)
    (stored,) = book.lookup_transfers([11])
    assert stored.amount == 60


def test_post_of_the_exact_amount_and_with_matching_fields(book: Ledger) -> None:
    must(book, hold(10, 60))
    event = Transfer(
        id=11,
        debit_account_id=SPENDER,
        credit_account_id=MERCHANT,
        amount=60,
        code=7,
        pending_id=10,
        flags=F.POST_PENDING_TRANSFER,
    )
    must(book, event)
    assert balances(book, MERCHANT) == (0, 0, 0, 60)


def test_post_more_than_held_is_refused(book: Ledger) -> None:
    must(book, hold(10, 60))
    (result,) = book.create_transfers([post(11, 10, amount=61)])
    assert result.result is TR.EXCEEDS_PENDING_TRANSFER_AMOUNT
    assert balances(book, SPENDER) == (60, 0, 0, 100)


def test_void_releases_everything(book: Ledger) -> None:
    must(book, hold(10, 60))
    must(book, void(11, 10))
    assert balances(book, SPENDER) == (0, 0, 0, 100)
    assert balances(book, MERCHANT) == (0, 0, 0, 0)
    (stored,) = book.lookup_transfers([11])
    assert stored.amount == 60
    must(book, pay(12, SPENDER, MERCHANT, 100))


def test_a_hold_resolves_once(book: Ledger) -> None:
    must(book, hold(10, 60), hold(20, 10))
    results = book.create_transfers([post(11, 10, 5), post(12, 10), void(13, 10)])
    assert [r.result for r in results] == [
        TR.OK,
        TR.PENDING_TRANSFER_ALREADY_POSTED,
        TR.PENDING_TRANSFER_ALREADY_POSTED,
    ]
    must(book, void(21, 20))
    results = book.create_transfers([post(22, 20), void(23, 20)])
    assert [r.result for r in results] == [
        TR.PENDING_TRANSFER_ALREADY_VOIDED,
        TR.PENDING_TRANSFER_ALREADY_VOIDED,
    ]
    assert balances(book, SPENDER) == (0, 5, 0, 100)


def test_post_and_void_survive_reopen(book: Ledger, reopen: Callable[..., Ledger]) -> None:
    must(book, hold(10, 60), hold(20, 10), hold(30, 5))
    must(book, post(11, 10, 50), void(21, 20))
    reopened = reopen(book)
    assert balances(reopened, SPENDER) == (5, 50, 0, 100)
    results = reopened.create_transfers([post(12, 10), void(22, 20), post(31, 30)])
    assert [r.result for r in results] == [
        TR.PENDING_TRANSFER_ALREADY_POSTED,
        TR.PENDING_TRANSFER_ALREADY_VOIDED,
        TR.OK,
    ]
    assert balances(reopened, SPENDER) == (0, 55, 0, 100)


# -- expiry ----------------------------------------------------------------------------------------


def test_expiry_releases_exactly_at_timestamp_plus_timeout(
    book: Ledger, clock: ManualClock
) -> None:
    (created,) = must(book, hold(10, 60, credit=WATCHED, timeout=10))
    expires_at = created + 10 * NANOSECONDS_PER_SECOND
    clock.set(expires_at - 1)
    book.tick()
    assert balances(book, SPENDER) == (60, 0, 0, 100)
    clock.set(expires_at)
    book.tick()
    assert balances(book, SPENDER) == (0, 0, 0, 100)
    assert balances(book, WATCHED) == (0, 0, 0, 0)
    history = book.get_account_balances(WATCHED)
    assert [(row.timestamp, row.credits_pending) for row in history] == [
        (created, 60),
        (expires_at, 0),
    ]


def test_expiry_is_by_ledger_time_not_by_event_count(book: Ledger, clock: ManualClock) -> None:
    (created,) = must(book, hold(10, 1, timeout=1))
    for batch in range(5):  # the clock stands still: ledger time moves 1 ns per event
        must(book, *[pay(100 + batch * 10 + i, FUNDING, OTHER, 1) for i in range(10)])
    book.tick()
    assert balances(book, SPENDER)[0] == 1
    clock.set(created + NANOSECONDS_PER_SECOND)
    book.tick()
    assert balances(book, SPENDER)[0] == 0


def test_the_next_write_expires_due_holds_first(book: Ledger, clock: ManualClock) -> None:
    (created,) = must(book, hold(10, 100, timeout=5))
    clock.set(created + 5 * NANOSECONDS_PER_SECOND)
    (result,) = book.create_transfers([pay(11, SPENDER, MERCHANT, 100)])
    assert result.result is TR.OK


@pytest.mark.parametrize("resolve", [post, void])
def test_post_or_void_after_expiry(
    book: Ledger, clock: ManualClock, resolve: Callable[[int, int], Transfer]
) -> None:
    must(book, hold(10, 60, timeout=1))
    clock.advance(seconds=2)
    (result,) = book.create_transfers([resolve(11, 10)])
    assert result.result is TR.PENDING_TRANSFER_EXPIRED
    assert balances(book, SPENDER) == (0, 0, 0, 100)
    book.tick()
    (result,) = book.create_transfers([resolve(12, 10)])
    assert result.result is TR.PENDING_TRANSFER_EXPIRED


def test_resolved_holds_do_not_expire(book: Ledger, clock: ManualClock) -> None:
    must(book, hold(10, 60, timeout=1), hold(20, 10, timeout=1))
    must(book, post(11, 10, 30), void(21, 20))
    clock.advance(seconds=5)
    book.tick()
    assert balances(book, SPENDER) == (0, 30, 0, 100)
    (result,) = book.create_transfers([post(12, 10)])
    assert result.result is TR.PENDING_TRANSFER_ALREADY_POSTED


def test_expiry_after_reopen(
    book: Ledger, clock: ManualClock, reopen: Callable[..., Ledger]
) -> None:
    must(book, hold(10, 60, timeout=30), hold(20, 10))
    reopened = reopen(book)
    clock.advance(seconds=31)
    reopened.tick()
    assert balances(reopened, SPENDER) == (10, 0, 0, 100)
    (result,) = reopened.create_transfers([post(11, 10)])
    assert result.result is TR.PENDING_TRANSFER_EXPIRED
    again = reopen(reopened)
    assert balances(again, SPENDER) == (10, 0, 0, 100)
    (result,) = again.create_transfers([void(12, 10)])
    assert result.result is TR.PENDING_TRANSFER_EXPIRED


def test_expiry_order_is_by_deadline(book: Ledger, clock: ManualClock) -> None:
    must(book, hold(10, 30, timeout=20), hold(20, 30, timeout=10), hold(30, 30))
    clock.advance(seconds=15)
    book.tick()
    assert balances(book, SPENDER)[0] == 60
    results = book.create_transfers([post(11, 10), post(21, 20)])
    assert [r.result for r in results] == [TR.OK, TR.PENDING_TRANSFER_EXPIRED]


# -- closing ---------------------------------------------------------------------------------------


def test_closing_debit_closes_the_debit_account(book: Ledger) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT))
    assert is_closed(book, FUNDING)
    assert not is_closed(book, OTHER)
    results = book.create_transfers(
        [pay(11, FUNDING, MERCHANT, 1), pay(12, MERCHANT, FUNDING, 1), pay(13, MERCHANT, OTHER, 1)]
    )
    assert [r.result for r in results] == [
        TR.DEBIT_ACCOUNT_ALREADY_CLOSED,
        TR.CREDIT_ACCOUNT_ALREADY_CLOSED,
        TR.OK,
    ]


def test_closing_both_sides(book: Ledger) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT | F.CLOSING_CREDIT))
    assert is_closed(book, FUNDING)
    assert is_closed(book, OTHER)


def test_void_reopens(book: Ledger) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_CREDIT))
    assert is_closed(book, OTHER)
    must(book, void(11, 10))
    assert not is_closed(book, OTHER)
    must(book, pay(12, FUNDING, OTHER, 1))


def test_expiry_reopens(book: Ledger, clock: ManualClock) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT, timeout=5))
    assert is_closed(book, FUNDING)
    clock.advance(seconds=6)
    book.tick()
    assert not is_closed(book, FUNDING)
    must(book, pay(11, FUNDING, OTHER, 1))


def test_post_keeps_it_closed_across_reopen(book: Ledger, reopen: Callable[..., Ledger]) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT))
    must(book, post(11, 10))
    assert is_closed(book, FUNDING)
    reopened = reopen(book)
    assert is_closed(reopened, FUNDING)
    (result,) = reopened.create_transfers([pay(12, FUNDING, OTHER, 1)])
    assert result.result is TR.DEBIT_ACCOUNT_ALREADY_CLOSED


def test_open_closing_hold_survives_reopen_and_void_reopens(
    book: Ledger, reopen: Callable[..., Ledger]
) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT))
    reopened = reopen(book)
    assert is_closed(reopened, FUNDING)
    must(reopened, void(11, 10))
    assert not is_closed(reopened, FUNDING)


def test_existing_holds_on_a_closed_account_can_still_resolve(book: Ledger) -> None:
    must(book, hold(10, 30), hold(20, 30))
    must(book, hold(30, 1, debit=SPENDER, credit=OTHER, flags=F.CLOSING_DEBIT))
    assert is_closed(book, SPENDER)
    must(book, post(11, 10), void(21, 20))
    assert balances(book, SPENDER) == (1, 30, 0, 100)


def test_a_closed_account_takes_no_second_closing_hold(book: Ledger) -> None:
    must(book, hold(10, 1, debit=FUNDING, credit=OTHER, flags=F.CLOSING_DEBIT))
    (result,) = book.create_transfers(
        [hold(20, 1, debit=FUNDING, credit=MERCHANT, flags=F.CLOSING_DEBIT)]
    )
    assert result.result is TR.DEBIT_ACCOUNT_ALREADY_CLOSED
    must(book, void(11, 10))
    assert not is_closed(book, FUNDING)


# -- balancing -------------------------------------------------------------------------------------


def test_balancing_debit_moves_what_the_account_holds(book: Ledger) -> None:
    must(book, hold(10, 30))
    must(book, pay(11, SPENDER, OTHER, 1000, flags=F.BALANCING_DEBIT))
    (stored,) = book.lookup_transfers([11])
    assert stored.amount == 70
    assert balances(book, SPENDER) == (30, 70, 0, 100)
    (result,) = book.create_transfers([pay(12, SPENDER, OTHER, 5, flags=F.BALANCING_DEBIT)])
    assert result.result is TR.OK
    (stored,) = book.lookup_transfers([12])
    assert stored.amount == 0
    assert balances(book, SPENDER) == (30, 70, 0, 100)


def test_balancing_debit_moves_no_more_than_asked(book: Ledger) -> None:
    must(book, pay(11, SPENDER, OTHER, 40, flags=F.BALANCING_DEBIT))
    (stored,) = book.lookup_transfers([11])
    assert stored.amount == 40


def test_balancing_credit_fills_up_to_the_debits(ledger: Ledger) -> None:
    ledger.create_accounts(
        [
            Account(id=1, asset="USD", code=1),
            Account(id=2, asset="USD", code=1, flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
        ]
    )
    must(ledger, pay(10, 2, 1, 50), pay(11, 1, 2, 20, flags=F.PENDING))
    must(ledger, pay(12, 1, 2, 1000, flags=F.BALANCING_CREDIT))
    (stored,) = ledger.lookup_transfers([12])
    assert stored.amount == 30
    assert balances(ledger, 2) == (0, 50, 20, 30)


def test_pending_balancing_transfer_and_its_post(book: Ledger) -> None:
    must(book, hold(10, 500, flags=F.BALANCING_DEBIT))
    (stored,) = book.lookup_transfers([10])
    assert stored.amount == 100
    must(book, post(11, 10))
    assert balances(book, SPENDER) == (0, 100, 0, 100)
