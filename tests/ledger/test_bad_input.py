"""Bad input gets a typed error or a result code, and nothing is written.

Every test records the ledger's state (row counts and the balances of every account) before the bad
call and asserts it is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clearline.core.errors import InvalidInput
from clearline.ledger import (
    AMOUNT_MAX,
    BATCH_EVENTS_MAX,
    Account,
    BatchTooLarge,
    CreateTransferResult,
    Ledger,
    LedgerClosed,
    Transfer,
)
from clearline.ledger.types import U16_MAX, U32_MAX, U64_MAX, U128_MAX

TR = CreateTransferResult
USD_1, USD_2, EUR_1 = 1, 2, 3
ACCOUNTS = [USD_1, USD_2, EUR_1]


@pytest.fixture
def book(ledger: Ledger) -> Iterator[Ledger]:
    results = ledger.create_accounts(
        [
            Account(id=USD_1, asset="USD", code=1),
            Account(id=USD_2, asset="USD", code=1),
            Account(id=EUR_1, asset="EUR", code=1),
        ]
    )
    assert all(r.ok for r in results)
    results = ledger.create_transfers(
        [Transfer(id=10, debit_account_id=USD_1, credit_account_id=USD_2, amount=5)]
    )
    assert all(r.ok for r in results)
    before = state(ledger)
    yield ledger
    assert state(ledger) == before, "a bad call changed the ledger"


def state(ledger: Ledger) -> tuple[Any, ...]:
    return (ledger.counts(), tuple(ledger.lookup_accounts(ACCOUNTS)))


def good_transfer(**fields: Any) -> Transfer:
    return Transfer(
        **{"id": 99, "debit_account_id": USD_1, "credit_account_id": USD_2, "amount": 1, **fields}
    )


# -- records refuse bad fields on construction -----------------------------------------------------

TRANSFER_FIELDS_BITS = {
    "id": U128_MAX,
    "debit_account_id": U128_MAX,
    "credit_account_id": U128_MAX,
    "amount": AMOUNT_MAX,
    "pending_id": U128_MAX,
    "timeout": U32_MAX,
    "code": U16_MAX,
    "user_data_128": U128_MAX,
    "user_data_64": U64_MAX,
    "user_data_32": U32_MAX,
}
ACCOUNT_FIELDS_BITS = {
    "id": U128_MAX,
    "code": U16_MAX,
    "user_data_128": U128_MAX,
    "user_data_64": U64_MAX,
    "user_data_32": U32_MAX,
    "debits_posted": AMOUNT_MAX,
}


@pytest.mark.parametrize("field", list(TRANSFER_FIELDS_BITS))
def test_transfer_refuses_floats(field: str) -> None:
    with pytest.raises(TypeError):
        good_transfer(**{field: 1.0})


@pytest.mark.parametrize("field", list(TRANSFER_FIELDS_BITS))
def test_transfer_refuses_negative_values(field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        good_transfer(**{field: -1})
    assert field in str(refused.value)


@pytest.mark.parametrize(("field", "maximum"), list(TRANSFER_FIELDS_BITS.items()))
def test_transfer_refuses_oversized_values(field: str, maximum: int) -> None:
    good_transfer(**{field: maximum})  # the largest value is accepted by the record
    with pytest.raises(InvalidInput) as refused:
        good_transfer(**{field: maximum + 1})
    assert field in str(refused.value)


@pytest.mark.parametrize("value", ["1", b"1", None, True, 1.5, [1]])
def test_transfer_refuses_non_integers(value: Any) -> None:
    with pytest.raises(TypeError):
        good_transfer(amount=value)


@pytest.mark.parametrize(("field", "maximum"), list(ACCOUNT_FIELDS_BITS.items()))
def test_account_refuses_bad_numbers(field: str, maximum: int) -> None:
    base = {"id": 50, "asset": "USD", "code": 1}
    with pytest.raises(TypeError):
        Account(**{**base, field: float(1)})
    with pytest.raises(InvalidInput):
        Account(**{**base, field: -1})
    with pytest.raises(InvalidInput):
        Account(**{**base, field: maximum + 1})


@pytest.mark.parametrize(
    ("asset", "error"),
    [("XYZ", InvalidInput), ("US", InvalidInput), ("USD/3", InvalidInput), (840, TypeError)],
)
def test_account_refuses_bad_assets(asset: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Account(id=50, asset=asset, code=1)


# -- batches ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batch",
    [
        good_transfer(),
        "not a batch",
        None,
        {good_transfer()},
        (t for t in [good_transfer()]),
    ],
    ids=["single_record", "string", "none", "set", "generator"],
)
def test_non_list_batch_is_refused(book: Ledger, batch: Any) -> None:
    with pytest.raises(TypeError):
        book.create_transfers(batch)
    with pytest.raises(TypeError):
        book.create_accounts(batch)


def test_wrong_record_types_refuse_the_whole_batch(book: Ledger) -> None:
    account = Account(id=60, asset="USD", code=1)
    with pytest.raises(TypeError):
        book.create_transfers([good_transfer(), account])
    with pytest.raises(TypeError):
        book.create_accounts([account, good_transfer()])
    with pytest.raises(TypeError):
        book.create_transfers([good_transfer(), {"id": 98}])
    assert book.lookup_transfers([99]) == []
    assert book.lookup_accounts([60]) == []


def test_oversized_batch_is_refused(book: Ledger) -> None:
    transfers = [good_transfer(id=1000 + i) for i in range(BATCH_EVENTS_MAX + 1)]
    with pytest.raises(BatchTooLarge) as refused:
        book.create_transfers(transfers)
    assert isinstance(refused.value, InvalidInput)
    assert refused.value.code == "batch_too_large"
    accounts = [Account(id=1000 + i, asset="USD", code=1) for i in range(BATCH_EVENTS_MAX + 1)]
    with pytest.raises(BatchTooLarge):
        book.create_accounts(accounts)
    assert book.lookup_transfers([1000, 1000 + BATCH_EVENTS_MAX]) == []


def test_the_largest_batch_is_accepted(ledger: Ledger) -> None:
    ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
    batch = [
        Transfer(id=1000 + i, debit_account_id=1, credit_account_id=2, amount=1)
        for i in range(BATCH_EVENTS_MAX)
    ]
    results = ledger.create_transfers(batch)
    assert len(results) == BATCH_EVENTS_MAX
    assert all(r.result is TR.OK for r in results)
    (account,) = ledger.lookup_accounts([1])
    assert account.debits_posted == BATCH_EVENTS_MAX


def test_empty_batches_write_nothing(book: Ledger) -> None:
    assert book.create_transfers([]) == []
    assert book.create_accounts(()) == []


# -- business refusals are result codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (good_transfer(debit_account_id=404), TR.DEBIT_ACCOUNT_NOT_FOUND),
        (good_transfer(credit_account_id=404), TR.CREDIT_ACCOUNT_NOT_FOUND),
        (good_transfer(credit_account_id=EUR_1), TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET),
        (good_transfer(debit_account_id=EUR_1), TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET),
        (good_transfer(amount=0), TR.AMOUNT_MUST_NOT_BE_ZERO),
        (good_transfer(credit_account_id=USD_1), TR.ACCOUNTS_MUST_BE_DIFFERENT),
    ],
)
def test_refusals_write_nothing(book: Ledger, event: Transfer, code: TR) -> None:
    results = book.create_transfers([event, event])
    assert [r.result for r in results] == [code, code]
    assert book.lookup_transfers([event.id]) == []


def test_a_refused_event_does_not_block_the_rest_of_its_batch(
    ledger: Ledger, make_accounts: Callable[..., list[int]]
) -> None:
    debit, credit = make_accounts(ledger, 2)
    results = ledger.create_transfers(
        [
            Transfer(id=98, debit_account_id=debit, credit_account_id=credit, amount=0),
            Transfer(id=99, debit_account_id=debit, credit_account_id=credit, amount=1),
        ]
    )
    assert [r.result for r in results] == [TR.AMOUNT_MUST_NOT_BE_ZERO, TR.OK]
    assert [t.id for t in ledger.lookup_transfers([98, 99])] == [99]
    assert ledger.counts()["transfers"] == 1


# -- lookups and a closed ledger -------------------------------------------------------------------


@pytest.mark.parametrize("ids", [[1.0], [-1], [U128_MAX + 1], ["1"]])
def test_lookups_refuse_bad_ids(book: Ledger, ids: list[Any]) -> None:
    with pytest.raises((TypeError, InvalidInput)):
        book.lookup_accounts(ids)
    with pytest.raises((TypeError, InvalidInput)):
        book.lookup_transfers(ids)


def test_a_closed_ledger_refuses_calls(
    ledger: Ledger, make_accounts: Callable[..., list[int]], open_ledger: Callable[..., Ledger]
) -> None:
    debit, credit = make_accounts(ledger, 2)
    ledger.close()
    with pytest.raises(LedgerClosed):
        ledger.create_transfers(
            [Transfer(id=99, debit_account_id=debit, credit_account_id=credit, amount=1)]
        )
    with pytest.raises(LedgerClosed):
        ledger.lookup_accounts([debit])
    ledger.close()  # safe twice
    reopened = open_ledger()
    assert reopened.lookup_transfers([99]) == []
    assert reopened.counts()["transfers"] == 0
