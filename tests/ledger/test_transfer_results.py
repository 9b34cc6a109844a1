"""Every `CreateTransferResult` code, produced by the smallest scenario that decides it.

A scenario prepares the ledger (accounts, earlier transfers, clock moves) and returns the decisive
batch and the index of the event whose code is asserted. The runner checks the exact code, and that
a refused batch changed nothing (row counts, balances, the refused id not found). `SCENARIOS` must
cover every member of the enum (`test_scenarios_cover_every_code`).

Accounts of every scenario: 1, 2, 3 (USD), 4 (EUR), 5 (USD, debits must not exceed credits),
6 (USD, credits must not exceed debits), 7 (USD, created closed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clearline.core.clock import ManualClock
from clearline.ledger import (
    AMOUNT_MAX,
    Account,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)
from clearline.ledger.types import TIMESTAMP_MAX, U32_MAX, U128_MAX

TR = CreateTransferResult
F = TransferFlags
A, B, C, EUR, DEBIT_LIMITED, CREDIT_LIMITED, CLOSED = 1, 2, 3, 4, 5, 6, 7
ALL_ACCOUNTS = [A, B, C, EUR, DEBIT_LIMITED, CREDIT_LIMITED, CLOSED]


def transfer(id: int, debit: int = A, credit: int = B, amount: int = 10, **fields: Any) -> Transfer:
    return Transfer(
        id=id, debit_account_id=debit, credit_account_id=credit, amount=amount, **fields
    )


def post(id: int, pending_id: int, amount: int = 0, **fields: Any) -> Transfer:
    """A post that inherits accounts and code from the pending transfer."""
    fields = {"debit": 0, "credit": 0, "code": 0, **fields}
    return transfer(
        id, amount=amount, pending_id=pending_id, flags=F.POST_PENDING_TRANSFER, **fields
    )


def void(id: int, pending_id: int, amount: int = 0, **fields: Any) -> Transfer:
    fields = {"debit": 0, "credit": 0, "code": 0, **fields}
    return transfer(
        id, amount=amount, pending_id=pending_id, flags=F.VOID_PENDING_TRANSFER, **fields
    )


class Book:
    """The test's ledger with the standard accounts, and a `must` helper for setup batches."""

    def __init__(self, ledger: Ledger, clock: ManualClock) -> None:
        self.ledger = ledger
        self.clock = clock
        results = ledger.create_accounts(
            [
                Account(id=A, asset="USD", code=10),
                Account(id=B, asset="USD", code=10),
                Account(id=C, asset="USD", code=10),
                Account(id=EUR, asset="EUR", code=10),
                Account(
                    id=DEBIT_LIMITED,
                    asset="USD",
                    code=10,
                    flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
                ),
                Account(
                    id=CREDIT_LIMITED,
                    asset="USD",
                    code=10,
                    flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
                ),
                Account(id=CLOSED, asset="USD", code=10, flags=AccountFlags.CLOSED),
            ]
        )
        assert all(r.ok for r in results)

    def must(self, *transfers: Transfer) -> list[int]:
        """Create `transfers`, which must all succeed; return their timestamps."""
        results = self.ledger.create_transfers(list(transfers))
        assert [r.result for r in results] == [TR.OK] * len(transfers), results
        return [r.timestamp for r in results]

    def state(self) -> tuple[Any, ...]:
        return (self.ledger.counts(), tuple(self.ledger.lookup_accounts(ALL_ACCOUNTS)))


@pytest.fixture
def book(ledger: Ledger, clock: ManualClock) -> Book:
    return Book(ledger, clock)


Scenario = Callable[[Book], tuple[list[Transfer], int]]
SCENARIOS: dict[TR, Scenario] = {}


def scenario(code: TR) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        assert code not in SCENARIOS
        SCENARIOS[code] = function
        return function

    return register


def single(event: Transfer) -> Scenario:
    return lambda book: ([event], 0)


# -- rules checked on the event alone --------------------------------------------------------------

SCENARIOS[TR.OK] = single(transfer(100))
SCENARIOS[TR.TIMESTAMP_MUST_BE_ZERO] = single(transfer(100, timestamp=1))
SCENARIOS[TR.RESERVED_FLAG] = single(transfer(100, flags=1 << 8))
SCENARIOS[TR.ID_MUST_NOT_BE_ZERO] = single(transfer(0))
SCENARIOS[TR.ID_MUST_NOT_BE_INT_MAX] = single(transfer(U128_MAX))
SCENARIOS[TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE] = single(
    transfer(100, flags=F.PENDING | F.POST_PENDING_TRANSFER)
)
SCENARIOS[TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO] = single(transfer(100, debit=0))
SCENARIOS[TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX] = single(transfer(100, debit=U128_MAX))
SCENARIOS[TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO] = single(transfer(100, credit=0))
SCENARIOS[TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX] = single(transfer(100, credit=U128_MAX))
SCENARIOS[TR.ACCOUNTS_MUST_BE_DIFFERENT] = single(transfer(100, debit=A, credit=A))
SCENARIOS[TR.PENDING_ID_MUST_BE_ZERO] = single(transfer(100, pending_id=50))
SCENARIOS[TR.PENDING_ID_MUST_NOT_BE_ZERO] = single(post(100, pending_id=0))
SCENARIOS[TR.PENDING_ID_MUST_NOT_BE_INT_MAX] = single(post(100, pending_id=U128_MAX))
SCENARIOS[TR.PENDING_ID_MUST_BE_DIFFERENT] = single(post(100, pending_id=100))
SCENARIOS[TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER] = single(transfer(100, timeout=5))
SCENARIOS[TR.CLOSING_TRANSFER_MUST_BE_PENDING] = single(transfer(100, flags=F.CLOSING_DEBIT))
SCENARIOS[TR.AMOUNT_MUST_NOT_BE_ZERO] = single(transfer(100, amount=0))
SCENARIOS[TR.CODE_MUST_NOT_BE_ZERO] = single(transfer(100, code=0))

# -- rules that need the accounts ------------------------------------------------------------------

SCENARIOS[TR.DEBIT_ACCOUNT_NOT_FOUND] = single(transfer(100, debit=999))
SCENARIOS[TR.CREDIT_ACCOUNT_NOT_FOUND] = single(transfer(100, credit=999))
SCENARIOS[TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET] = single(transfer(100, credit=EUR))
SCENARIOS[TR.CREDIT_ACCOUNT_ALREADY_CLOSED] = single(transfer(100, credit=CLOSED))
SCENARIOS[TR.EXCEEDS_CREDITS] = single(transfer(100, debit=DEBIT_LIMITED))
SCENARIOS[TR.EXCEEDS_DEBITS] = single(transfer(100, credit=CREDIT_LIMITED))


@scenario(TR.DEBIT_ACCOUNT_ALREADY_CLOSED)
def _debit_closed(book: Book) -> tuple[list[Transfer], int]:
    book.must(transfer(50, debit=A, credit=B, flags=F.PENDING | F.CLOSING_DEBIT))
    return [transfer(100, debit=A, credit=C)], 0


# -- linked chains ---------------------------------------------------------------------------------

SCENARIOS[TR.LINKED_EVENT_FAILED] = lambda book: (
    [transfer(100, flags=F.LINKED), transfer(101, amount=0)],
    0,
)
SCENARIOS[TR.LINKED_EVENT_CHAIN_OPEN] = lambda book: (
    [transfer(100, flags=F.LINKED), transfer(101, flags=F.LINKED)],
    1,
)

# -- two-phase -------------------------------------------------------------------------------------

PENDING = transfer(50, flags=F.PENDING)


@scenario(TR.PENDING_TRANSFER_NOT_FOUND)
def _pending_not_found(book: Book) -> tuple[list[Transfer], int]:
    return [post(100, pending_id=999)], 0


@scenario(TR.PENDING_TRANSFER_NOT_PENDING)
def _pending_not_pending(book: Book) -> tuple[list[Transfer], int]:
    book.must(transfer(50))
    return [post(100, pending_id=50)], 0


def _against_pending(event: Transfer, *earlier: Transfer) -> Scenario:
    def run(book: Book) -> tuple[list[Transfer], int]:
        book.must(PENDING, *earlier)
        return [event], 0

    return run


SCENARIOS[TR.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID] = _against_pending(
    post(100, 50, debit=C)
)
SCENARIOS[TR.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID] = _against_pending(
    post(100, 50, credit=C)
)
SCENARIOS[TR.PENDING_TRANSFER_HAS_DIFFERENT_CODE] = _against_pending(post(100, 50, code=7))
SCENARIOS[TR.EXCEEDS_PENDING_TRANSFER_AMOUNT] = _against_pending(post(100, 50, amount=11))
SCENARIOS[TR.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT] = _against_pending(void(100, 50, amount=9))
SCENARIOS[TR.PENDING_TRANSFER_ALREADY_POSTED] = _against_pending(void(100, 50), post(60, 50))
SCENARIOS[TR.PENDING_TRANSFER_ALREADY_VOIDED] = _against_pending(post(100, 50), void(60, 50))


@scenario(TR.PENDING_TRANSFER_EXPIRED)
def _pending_expired(book: Book) -> tuple[list[Transfer], int]:
    book.must(transfer(50, flags=F.PENDING, timeout=1))
    book.clock.advance(seconds=2)
    book.ledger.tick()
    return [post(100, pending_id=50)], 0


# -- idempotency -----------------------------------------------------------------------------------

ORIGINALS_AND_REPLAYS: dict[TR, tuple[dict[str, Any], dict[str, Any]]] = {
    TR.EXISTS: ({}, {}),
    TR.EXISTS_WITH_DIFFERENT_FLAGS: ({}, {"flags": F.PENDING}),
    TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID: ({}, {"debit": C}),
    TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID: ({}, {"credit": C}),
    TR.EXISTS_WITH_DIFFERENT_AMOUNT: ({}, {"amount": 11}),
    TR.EXISTS_WITH_DIFFERENT_USER_DATA_128: ({"user_data_128": 1}, {"user_data_128": 2}),
    TR.EXISTS_WITH_DIFFERENT_USER_DATA_64: ({"user_data_64": 1}, {"user_data_64": 2}),
    TR.EXISTS_WITH_DIFFERENT_USER_DATA_32: ({"user_data_32": 1}, {"user_data_32": 2}),
    TR.EXISTS_WITH_DIFFERENT_TIMEOUT: (
        {"flags": F.PENDING, "timeout": 10},
        {"flags": F.PENDING, "timeout": 20},
    ),
    TR.EXISTS_WITH_DIFFERENT_CODE: ({"code": 1}, {"code": 2}),
}


def _replayed(original: dict[str, Any], replay: dict[str, Any]) -> Scenario:
    def run(book: Book) -> tuple[list[Transfer], int]:
        book.must(transfer(100, **original))
        return [transfer(100, **{**original, **replay})], 0

    return run


for _code, (_original, _replay) in ORIGINALS_AND_REPLAYS.items():
    SCENARIOS[_code] = _replayed(_original, _replay)


@scenario(TR.EXISTS_WITH_DIFFERENT_PENDING_ID)
def _different_pending_id(book: Book) -> tuple[list[Transfer], int]:
    book.must(transfer(50, flags=F.PENDING), transfer(51, flags=F.PENDING), post(100, 50))
    return [post(100, 51)], 0


# -- overflows -------------------------------------------------------------------------------------

MAX = AMOUNT_MAX


def _after(*earlier: Transfer, then: Transfer) -> Scenario:
    def run(book: Book) -> tuple[list[Transfer], int]:
        book.must(*earlier)
        return [then], 0

    return run


SCENARIOS[TR.OVERFLOWS_DEBITS_PENDING] = _after(
    transfer(50, A, B, MAX, flags=F.PENDING), then=transfer(100, A, C, 1, flags=F.PENDING)
)
SCENARIOS[TR.OVERFLOWS_CREDITS_PENDING] = _after(
    transfer(50, A, B, MAX, flags=F.PENDING), then=transfer(100, C, B, 1, flags=F.PENDING)
)
SCENARIOS[TR.OVERFLOWS_DEBITS_POSTED] = _after(transfer(50, A, B, MAX), then=transfer(100, A, C, 1))
SCENARIOS[TR.OVERFLOWS_CREDITS_POSTED] = _after(
    transfer(50, A, B, MAX), then=transfer(100, C, B, 1)
)
SCENARIOS[TR.OVERFLOWS_DEBITS] = _after(
    transfer(50, A, B, 10, flags=F.PENDING), then=transfer(100, A, C, MAX - 9)
)
SCENARIOS[TR.OVERFLOWS_CREDITS] = _after(
    transfer(50, A, B, 10, flags=F.PENDING), then=transfer(100, C, B, MAX - 9)
)


@scenario(TR.OVERFLOWS_TIMEOUT)
def _overflows_timeout(book: Book) -> tuple[list[Transfer], int]:
    # Near the end of ledger time a long timeout cannot be represented.
    book.clock.set(TIMESTAMP_MAX - U32_MAX * 10**9 // 2)
    return [transfer(100, flags=F.PENDING, timeout=U32_MAX)], 0


# -- the runner ------------------------------------------------------------------------------------


def test_scenarios_cover_every_code() -> None:
    assert set(SCENARIOS) == set(TR)


@pytest.mark.parametrize("code", list(TR), ids=str)
def test_result_code(book: Book, code: TR) -> None:
    batch, index = SCENARIOS[code](book)
    before = book.state()
    results = book.ledger.create_transfers(batch)
    assert [r.index for r in results] == list(range(len(batch)))
    assert results[index].result is code, results
    if code is TR.OK:
        assert book.state() != before
        (stored,) = book.ledger.lookup_transfers([batch[index].id])
        assert stored.timestamp == results[index].timestamp > 0
        return
    assert book.state() == before
    if not code.value.startswith("exists"):
        assert all(r.timestamp == 0 for r in results)
        assert book.ledger.lookup_transfers([event.id for event in batch]) == []


# -- codes produced in other ways, and rule order --------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        F.PENDING | F.POST_PENDING_TRANSFER,
        F.PENDING | F.VOID_PENDING_TRANSFER,
        F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER,
        F.POST_PENDING_TRANSFER | F.BALANCING_DEBIT,
        F.VOID_PENDING_TRANSFER | F.BALANCING_CREDIT,
        F.POST_PENDING_TRANSFER | F.CLOSING_DEBIT,
        F.VOID_PENDING_TRANSFER | F.CLOSING_CREDIT,
    ],
)
def test_flags_are_mutually_exclusive(book: Book, flags: F) -> None:
    (result,) = book.ledger.create_transfers([transfer(100, pending_id=50, flags=flags)])
    assert result.result is TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE


def test_timeout_on_a_post_is_reserved(book: Book) -> None:
    book.must(PENDING)
    (result,) = book.ledger.create_transfers([post(100, 50, timeout=5)])
    assert result.result is TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (transfer(0, debit=0, amount=0, timestamp=1), TR.TIMESTAMP_MUST_BE_ZERO),
        (transfer(0, flags=1 << 9, amount=0), TR.RESERVED_FLAG),
        (transfer(0, debit=0), TR.ID_MUST_NOT_BE_ZERO),
        (transfer(100, debit=0, credit=0), TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
        (transfer(100, debit=A, credit=A, amount=0), TR.ACCOUNTS_MUST_BE_DIFFERENT),
        (transfer(100, amount=0, code=0), TR.AMOUNT_MUST_NOT_BE_ZERO),
        (transfer(100, debit=999, credit=998), TR.DEBIT_ACCOUNT_NOT_FOUND),
        (transfer(100, debit=EUR, credit=CLOSED), TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET),
        (transfer(100, debit=DEBIT_LIMITED, credit=CLOSED), TR.CREDIT_ACCOUNT_ALREADY_CLOSED),
        (transfer(100, debit=DEBIT_LIMITED, credit=CREDIT_LIMITED), TR.EXCEEDS_CREDITS),
        (post(100, 999, timeout=1), TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
    ],
)
def test_first_failing_rule_wins(book: Book, event: Transfer, code: TR) -> None:
    (result,) = book.ledger.create_transfers([event])
    assert result.result is code


# -- idempotency beyond one call -------------------------------------------------------------------


def test_exists_reports_the_original_timestamp(book: Book) -> None:
    (original,) = book.must(transfer(100))
    book.clock.advance(seconds=3)
    (again,) = book.ledger.create_transfers([transfer(100)])
    assert again.result is TR.EXISTS
    assert again.timestamp == original


def test_replays_within_one_batch(book: Book) -> None:
    results = book.ledger.create_transfers([transfer(100), transfer(100), transfer(100, amount=9)])
    assert [r.result for r in results] == [TR.OK, TR.EXISTS, TR.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert results[1].timestamp == results[0].timestamp
    (account,) = book.ledger.lookup_accounts([A])
    assert account.debits_posted == 10


@pytest.mark.parametrize("code", list(ORIGINALS_AND_REPLAYS), ids=str)
def test_replays_after_reopen(book: Book, reopen: Callable[..., Ledger], code: TR) -> None:
    original, replay = ORIGINALS_AND_REPLAYS[code]
    book.must(transfer(100, **original))
    reopened = reopen(book.ledger)
    (result,) = reopened.create_transfers([transfer(100, **{**original, **replay})])
    assert result.result is code


def test_replay_is_exists_even_when_its_rules_would_now_fail(book: Book) -> None:
    book.must(transfer(40, A, DEBIT_LIMITED, 10), transfer(100, DEBIT_LIMITED, B, 10))
    (result,) = book.ledger.create_transfers([transfer(100, DEBIT_LIMITED, B, 10)])
    assert result.result is TR.EXISTS


def test_replay_of_a_post_is_exists(book: Book, reopen: Callable[..., Ledger]) -> None:
    book.must(PENDING, post(100, 50))
    results = book.ledger.create_transfers([post(100, 50), post(100, 50, amount=3)])
    assert [r.result for r in results] == [TR.EXISTS, TR.EXISTS_WITH_DIFFERENT_AMOUNT]
    reopened = reopen(book.ledger)
    (result,) = reopened.create_transfers([post(100, 50)])
    assert result.result is TR.EXISTS


def test_replay_of_a_void_and_of_an_expired_pending_is_exists(book: Book) -> None:
    book.must(PENDING, void(100, 50), transfer(51, flags=F.PENDING, timeout=1))
    book.clock.advance(seconds=2)
    book.ledger.tick()
    results = book.ledger.create_transfers(
        [void(100, 50), transfer(51, flags=F.PENDING, timeout=1)]
    )
    assert [r.result for r in results] == [TR.EXISTS, TR.EXISTS]


def test_replay_of_a_closing_transfer_is_exists(book: Book) -> None:
    closing = transfer(100, A, B, 1, flags=F.PENDING | F.CLOSING_DEBIT)
    book.must(closing)
    (result,) = book.ledger.create_transfers([closing])
    assert result.result is TR.EXISTS


def test_replay_after_accounts_change_reports_the_differing_field(book: Book) -> None:
    book.must(transfer(40, A, DEBIT_LIMITED, 10), transfer(100, DEBIT_LIMITED, B, 10))
    (result,) = book.ledger.create_transfers([transfer(100, DEBIT_LIMITED, B, 10, code=2)])
    assert result.result is TR.EXISTS_WITH_DIFFERENT_CODE


def test_balancing_replay_with_a_larger_limit_is_exists(book: Book) -> None:
    book.must(transfer(40, A, DEBIT_LIMITED, 10))
    book.must(transfer(100, DEBIT_LIMITED, B, 50, flags=F.BALANCING_DEBIT))
    results = book.ledger.create_transfers(
        [
            transfer(100, DEBIT_LIMITED, B, 60, flags=F.BALANCING_DEBIT),
            transfer(100, DEBIT_LIMITED, B, 9, flags=F.BALANCING_DEBIT),
        ]
    )
    assert [r.result for r in results] == [TR.EXISTS, TR.EXISTS_WITH_DIFFERENT_AMOUNT]
