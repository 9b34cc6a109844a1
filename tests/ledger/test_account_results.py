"""Every `CreateAccountResult` code, produced by the smallest batch that decides it.

Each case is (setup batch, decisive batch, index of the decisive event). The test runs the setup,
runs the decisive batch, asserts the exact code of that event, and that a refused batch wrote
nothing. A meta-test asserts the cases cover every member of the enum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from clearline.ledger import Account, AccountFlags, CreateAccountResult, Ledger
from clearline.ledger.types import U128_MAX

AR = CreateAccountResult
LINKED = AccountFlags.LINKED
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

EXISTING = Account(
    id=1, asset="USD", code=10, user_data_128=128, user_data_64=64, user_data_32=32, flags=DMNEC
)


def fresh(**fields: Any) -> Account:
    """A valid new account (id 2) with `fields` changed."""
    return Account(**{"id": 2, "asset": "USD", "code": 10, **fields})


def replay(**fields: Any) -> Account:
    """The existing account with `fields` changed."""
    base = {
        "id": EXISTING.id,
        "asset": "USD",
        "code": EXISTING.code,
        "flags": EXISTING.flags,
        "user_data_128": EXISTING.user_data_128,
        "user_data_64": EXISTING.user_data_64,
        "user_data_32": EXISTING.user_data_32,
    }
    return Account(**{**base, **fields})


Case = tuple[Sequence[Account], Sequence[Account], int]
CASES: dict[AR, Case] = {
    AR.OK: ([], [fresh()], 0),
    AR.LINKED_EVENT_FAILED: ([], [fresh(flags=LINKED), fresh(id=3, code=0)], 0),
    AR.LINKED_EVENT_CHAIN_OPEN: ([], [fresh(flags=LINKED), fresh(id=3, flags=LINKED)], 1),
    AR.TIMESTAMP_MUST_BE_ZERO: ([], [fresh(timestamp=1)], 0),
    AR.RESERVED_FLAG: ([], [fresh(flags=1 << 5)], 0),
    AR.ID_MUST_NOT_BE_ZERO: ([], [fresh(id=0)], 0),
    AR.ID_MUST_NOT_BE_INT_MAX: ([], [fresh(id=U128_MAX)], 0),
    AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE: ([], [fresh(flags=DMNEC | CMNED)], 0),
    AR.DEBITS_PENDING_MUST_BE_ZERO: ([], [fresh(debits_pending=1)], 0),
    AR.DEBITS_POSTED_MUST_BE_ZERO: ([], [fresh(debits_posted=1)], 0),
    AR.CREDITS_PENDING_MUST_BE_ZERO: ([], [fresh(credits_pending=1)], 0),
    AR.CREDITS_POSTED_MUST_BE_ZERO: ([], [fresh(credits_posted=1)], 0),
    AR.CODE_MUST_NOT_BE_ZERO: ([], [fresh(code=0)], 0),
    AR.EXISTS_WITH_DIFFERENT_FLAGS: ([EXISTING], [replay(flags=AccountFlags.HISTORY)], 0),
    AR.EXISTS_WITH_DIFFERENT_USER_DATA_128: ([EXISTING], [replay(user_data_128=1)], 0),
    AR.EXISTS_WITH_DIFFERENT_USER_DATA_64: ([EXISTING], [replay(user_data_64=1)], 0),
    AR.EXISTS_WITH_DIFFERENT_USER_DATA_32: ([EXISTING], [replay(user_data_32=1)], 0),
    AR.EXISTS_WITH_DIFFERENT_ASSET: ([EXISTING], [replay(asset="EUR")], 0),
    AR.EXISTS_WITH_DIFFERENT_CODE: ([EXISTING], [replay(code=11)], 0),
    AR.EXISTS: ([EXISTING], [replay()], 0),
}


def test_cases_cover_every_code() -> None:
    assert set(CASES) == set(AR)


@pytest.mark.parametrize("code", list(AR), ids=str)
def test_result_code(ledger: Ledger, ledger_state: Callable[..., Any], code: AR) -> None:
    setup, batch, index = CASES[code]
    if setup:
        assert all(r.ok for r in ledger.create_accounts(list(setup)))
    ids = [account.id for account in batch]
    before = ledger_state(ledger, ids)
    results = ledger.create_accounts(list(batch))
    assert len(results) == len(batch)
    assert [r.index for r in results] == list(range(len(batch)))
    assert results[index].result is code
    if code is AR.OK:
        assert results[index].timestamp > 0
        assert ledger.lookup_accounts(ids) != []
        return
    assert ledger_state(ledger, ids) == before
    if code.value.startswith("exists"):
        # exists and exists_with_different_*: the stored account's timestamp is reported
        (stored,) = ledger.lookup_accounts([EXISTING.id])
        assert results[index].timestamp == stored.timestamp
    else:
        assert all(r.timestamp == 0 for r in results)


def test_refused_accounts_are_not_found(ledger: Ledger) -> None:
    refused = [fresh(id=10, code=0), fresh(id=11, flags=DMNEC | CMNED), fresh(id=12, timestamp=5)]
    results = ledger.create_accounts(refused)
    assert [r.result for r in results] == [
        AR.CODE_MUST_NOT_BE_ZERO,
        AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        AR.TIMESTAMP_MUST_BE_ZERO,
    ]
    assert ledger.lookup_accounts([10, 11, 12]) == []
    assert ledger.counts()["accounts"] == 0


def test_exists_returns_the_original_timestamp(ledger: Ledger, clock: Any) -> None:
    (first,) = ledger.create_accounts([EXISTING])
    clock.advance(seconds=5)
    (again,) = ledger.create_accounts([replay()])
    assert again.result is AR.EXISTS
    assert again.timestamp == first.timestamp


def test_exists_ignores_the_linked_flag(ledger: Ledger) -> None:
    created = ledger.create_accounts([replay(flags=EXISTING.flags | LINKED), fresh()])
    assert [r.result for r in created] == [AR.OK, AR.OK]
    results = ledger.create_accounts([replay(), fresh(flags=LINKED), replay()])
    assert [r.result for r in results] == [AR.EXISTS, AR.EXISTS, AR.EXISTS]


def test_replay_within_one_batch(ledger: Ledger) -> None:
    results = ledger.create_accounts([fresh(), fresh(), fresh(code=12)])
    assert [r.result for r in results] == [AR.OK, AR.EXISTS, AR.EXISTS_WITH_DIFFERENT_CODE]
    assert results[1].timestamp == results[0].timestamp


def test_exists_after_reopen(ledger: Ledger, reopen: Callable[..., Ledger]) -> None:
    ledger.create_accounts([EXISTING])
    reopened = reopen(ledger)
    results = reopened.create_accounts([replay(), replay(user_data_32=7)])
    assert [r.result for r in results] == [AR.EXISTS, AR.EXISTS_WITH_DIFFERENT_USER_DATA_32]


@pytest.mark.parametrize(
    ("account", "code"),
    [
        # timestamp is checked before everything else
        (fresh(id=0, code=0, timestamp=1), AR.TIMESTAMP_MUST_BE_ZERO),
        (fresh(id=0, flags=1 << 6, code=0), AR.RESERVED_FLAG),
        (fresh(id=0, code=0, flags=DMNEC | CMNED), AR.ID_MUST_NOT_BE_ZERO),
        (fresh(flags=DMNEC | CMNED, debits_posted=1), AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (fresh(credits_posted=1, code=0), AR.CREDITS_POSTED_MUST_BE_ZERO),
        # a field rule wins over an existing id
        (replay(code=0), AR.CODE_MUST_NOT_BE_ZERO),
        # the first differing field is reported
        (replay(flags=0, code=99), AR.EXISTS_WITH_DIFFERENT_FLAGS),
        (replay(asset="EUR", code=99), AR.EXISTS_WITH_DIFFERENT_ASSET),
    ],
)
def test_first_failing_rule_wins(ledger: Ledger, account: Account, code: AR) -> None:
    ledger.create_accounts([EXISTING])
    (result,) = ledger.create_accounts([account])
    assert result.result is code


def test_closed_flag_is_accepted_and_kept(ledger: Ledger) -> None:
    (result,) = ledger.create_accounts([fresh(flags=AccountFlags.CLOSED)])
    assert result.result is AR.OK
    (account,) = ledger.lookup_accounts([2])
    assert account.flags & AccountFlags.CLOSED


def test_custom_asset_account(ledger: Ledger) -> None:
    (result,) = ledger.create_accounts([fresh(asset="usdc/6")])
    assert result.result is AR.OK
    (account,) = ledger.lookup_accounts([2])
    assert account.asset.spec == "USDC/6"
    (again,) = ledger.create_accounts([fresh(asset="USDC/2")])
    assert again.result is AR.EXISTS_WITH_DIFFERENT_ASSET
