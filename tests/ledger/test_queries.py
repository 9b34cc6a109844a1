"""Queries against brute force: account transfers, balance history, user_data lookups.

A seeded workload gives account X well over 100 transfers (so its every-32nd-transfer index marks
are crossed many times), interleaved with transfers that do not touch X, two-phase transfers, failed
chains and clock moves. Every query is compared with the answer computed from `lookup_transfers` of
every id ever sent. The same grid runs on the live ledger and on a closed-and-reopened one.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearline.core.clock import ManualClock
from clearline.core.errors import InvalidInput
from clearline.ledger import (
    Account,
    AccountBalance,
    AccountFilter,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    QueryFilter,
    Transfer,
    TransferFlags,
)

TR = CreateTransferResult
F = TransferFlags
X, P, Q, R, PLAIN = 1, 2, 3, 4, 5
COUNTERPARTIES = [P, Q, R]
X_TRANSFERS_MIN = 150


@dataclass
class World:
    ledger: Ledger
    sent_ids: list[int]
    x_transfers: list[Transfer]  # brute force: every stored transfer touching X, oldest first


def _build(ledger: Ledger, clock: ManualClock, seed: int = 7) -> list[int]:
    """Run the seeded workload; return every transfer id sent (accepted or not)."""
    rng = random.Random(seed)
    accounts = [
        Account(id=X, asset="USD", code=1, flags=AccountFlags.HISTORY),
        *(Account(id=i, asset="USD", code=2) for i in COUNTERPARTIES),
        Account(id=PLAIN, asset="USD", code=3),
    ]
    assert all(r.ok for r in ledger.create_accounts(accounts))
    sent: list[int] = []
    open_holds: list[int] = []
    next_id = 100
    x_count = 0
    while x_count < X_TRANSFERS_MIN:
        batch: list[Transfer] = []
        for _ in range(rng.randint(1, 12)):
            next_id += 1
            roll = rng.random()
            other = rng.choice(COUNTERPARTIES)
            debit, credit = (X, other) if rng.random() < 0.5 else (other, X)
            amount = rng.randint(1, 1000)
            if roll < 0.25:  # not touching X
                debit, credit = P, Q
                event = Transfer(id=next_id, debit_account_id=P, credit_account_id=Q, amount=amount)
            elif roll < 0.35:
                event = Transfer(
                    id=next_id,
                    debit_account_id=debit,
                    credit_account_id=credit,
                    amount=amount,
                    flags=F.PENDING,
                )
                open_holds.append(next_id)
            elif roll < 0.45 and open_holds:
                hold = open_holds.pop(rng.randrange(len(open_holds)))
                event = Transfer(
                    id=next_id,
                    debit_account_id=0,
                    credit_account_id=0,
                    amount=0,
                    code=0,
                    pending_id=hold,
                    flags=rng.choice([F.POST_PENDING_TRANSFER, F.VOID_PENDING_TRANSFER]),
                )
            elif roll < 0.5:  # refused: never stored
                event = Transfer(id=next_id, debit_account_id=X, credit_account_id=X, amount=1)
            else:
                event = Transfer(
                    id=next_id, debit_account_id=debit, credit_account_id=credit, amount=amount
                )
            batch.append(event)
        sent.extend(event.id for event in batch)
        results = ledger.create_transfers(batch)
        for event, result in zip(batch, results, strict=True):
            if result.result is TR.OK and X in (event.debit_account_id, event.credit_account_id):
                x_count += 1
            elif result.result is TR.OK and event.pending_id:
                x_count += 1  # a post or void of a hold that may touch X; counted loosely
        if rng.random() < 0.3:
            clock.advance(nanoseconds=rng.randint(1, 10**6))
    return sent


def _x_transfers(ledger: Ledger, sent: list[int]) -> list[Transfer]:
    stored = ledger.lookup_transfers(sent)
    touching = [t for t in stored if X in (t.debit_account_id, t.credit_account_id)]
    return sorted(touching, key=lambda t: t.timestamp)


@pytest.fixture(scope="module", params=["live", "reopened"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    directory: Path = tmp_path_factory.mktemp("queries")
    clock = ManualClock()
    ledger = Ledger.open(directory, clock=clock)
    sent = _build(ledger, clock)
    if request.param == "reopened":
        ledger.close()
        ledger = Ledger.open(directory, clock=clock)
    try:
        x_transfers = _x_transfers(ledger, sent)
        assert len(x_transfers) > 100
        yield World(ledger, sent, x_transfers)
    finally:
        ledger.close()


def expected_transfers(world: World, query: AccountFilter) -> list[Transfer]:
    rows = [
        t
        for t in world.x_transfers
        if (not query.timestamp_min or t.timestamp >= query.timestamp_min)
        and (not query.timestamp_max or t.timestamp <= query.timestamp_max)
        and (
            (query.debits and t.debit_account_id == X)
            or (query.credits and t.credit_account_id == X)
        )
    ]
    if query.reversed:
        rows.reverse()
    return rows[: query.limit]


RANGES: dict[str, Callable[[list[int]], tuple[int, int]]] = {
    "all": lambda ts: (0, 0),
    "from_10th": lambda ts: (ts[10], 0),
    "to_90th": lambda ts: (0, ts[90]),
    "marks_31_to_64": lambda ts: (ts[31], ts[64]),
    "between_timestamps": lambda ts: (ts[33] + 1, ts[97] - 1),
    "one": lambda ts: (ts[50], ts[50]),
    "after_last": lambda ts: (ts[-1] + 1, 0),
    "before_first": lambda ts: (1, ts[0] - 1),
}
SIDES = {"both": (True, True), "debits": (True, False), "credits": (False, True)}
LIMITS = [1, 2, 31, 32, 33, 64, 100, 8190]


@pytest.mark.parametrize("side", list(SIDES))
@pytest.mark.parametrize("range_name", list(RANGES))
def test_account_transfers_match_brute_force(world: World, range_name: str, side: str) -> None:
    timestamps = [t.timestamp for t in world.x_transfers]
    low, high = RANGES[range_name](timestamps)
    debits, credits = SIDES[side]
    for limit in LIMITS:
        for newest_first in (False, True):
            query = AccountFilter(
                X,
                timestamp_min=low,
                timestamp_max=high,
                limit=limit,
                debits=debits,
                credits=credits,
                reversed=newest_first,
            )
            got = [t.id for t in world.ledger.get_account_transfers(query)]
            assert got == [t.id for t in expected_transfers(world, query)], query


def test_account_transfers_keyword_form(world: World) -> None:
    got = world.ledger.get_account_transfers(X, limit=5, reversed=True, credits=False)
    expected = expected_transfers(world, AccountFilter(X, limit=5, reversed=True, credits=False))
    assert got == expected
    assert [t.id for t in world.ledger.get_account_transfers(X)] == [
        t.id for t in world.x_transfers
    ]


def test_account_transfers_are_full_records(world: World) -> None:
    listed = world.ledger.get_account_transfers(X)
    assert listed == world.ledger.lookup_transfers([t.id for t in listed])


def test_neither_side_unknown_and_idle_accounts(world: World) -> None:
    assert world.ledger.get_account_transfers(X, debits=False, credits=False) == []
    assert world.ledger.get_account_transfers(999) == []
    assert world.ledger.get_account_transfers(PLAIN) == []


# -- balance history -------------------------------------------------------------------------------


def expected_history(world: World) -> list[AccountBalance]:
    """X's balances after each of its transfers, replayed by hand."""
    holds: dict[int, Transfer] = {}
    dp = dpo = cp = cpo = 0
    rows: list[AccountBalance] = []
    for t in world.x_transfers:
        debit = t.debit_account_id == X
        if t.flags & F.PENDING:
            holds[t.id] = t
            dp, cp = (dp + t.amount, cp) if debit else (dp, cp + t.amount)
        elif t.flags & (F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER):
            held = holds.pop(t.pending_id).amount
            posted = t.amount if t.flags & F.POST_PENDING_TRANSFER else 0
            if debit:
                dp, dpo = dp - held, dpo + posted
            else:
                cp, cpo = cp - held, cpo + posted
        elif debit:
            dpo += t.amount
        else:
            cpo += t.amount
        rows.append(AccountBalance(t.timestamp, dp, dpo, cp, cpo))
    return rows


def test_balance_history_matches_replay(world: World) -> None:
    history = expected_history(world)
    assert world.ledger.get_account_balances(X) == history
    (account,) = world.ledger.lookup_accounts([X])
    last = history[-1]
    assert (
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    ) == (last.debits_pending, last.debits_posted, last.credits_pending, last.credits_posted)


@pytest.mark.parametrize("range_name", ["all", "from_10th", "marks_31_to_64", "between_timestamps"])
def test_balance_history_ranges_limits_and_order(world: World, range_name: str) -> None:
    history = expected_history(world)
    low, high = RANGES[range_name]([row.timestamp for row in history])
    inside = [
        row
        for row in history
        if (not low or row.timestamp >= low) and (not high or row.timestamp <= high)
    ]
    for limit in (1, 7, 8190):
        got = world.ledger.get_account_balances(
            X, timestamp_min=low, timestamp_max=high, limit=limit
        )
        assert got == inside[:limit]
        newest = world.ledger.get_account_balances(
            X, timestamp_min=low, timestamp_max=high, limit=limit, reversed=True
        )
        assert newest == inside[::-1][:limit]


def test_balance_at(world: World) -> None:
    history = expected_history(world)
    assert world.ledger.balance_at(X, history[0].timestamp - 1) is None
    for row in history[:: max(1, len(history) // 20)]:
        assert world.ledger.balance_at(X, row.timestamp) == row
    for before, after in itertools.pairwise(history):
        if after.timestamp - before.timestamp > 1:
            assert world.ledger.balance_at(X, after.timestamp - 1) == before
            break
    assert world.ledger.balance_at(X, history[-1].timestamp + 10**9) == history[-1]


def test_no_history_without_the_flag(world: World) -> None:
    assert world.ledger.get_account_balances(P) == []
    assert world.ledger.balance_at(P, 2**62) is None
    assert world.ledger.get_account_balances(999) == []


# -- lookups and user_data queries -----------------------------------------------------------------


def test_lookup_order_and_missing_ids(ledger: Ledger) -> None:
    ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2, 3)])
    ledger.create_transfers(
        [Transfer(id=i, debit_account_id=1, credit_account_id=2, amount=i) for i in (10, 11, 12)]
    )
    assert [a.id for a in ledger.lookup_accounts([3, 999, 1, 0, 2])] == [3, 1, 2]
    assert [t.id for t in ledger.lookup_transfers([12, 999, 10, 0, 11])] == [12, 10, 11]
    assert [t.amount for t in ledger.lookup_transfers([12, 10])] == [12, 10]
    assert ledger.lookup_accounts([]) == []
    assert ledger.lookup_transfers([404]) == []


def test_lookup_of_many_ids(ledger: Ledger) -> None:
    ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
    ids = list(range(100, 1300))
    ledger.create_transfers(
        [Transfer(id=i, debit_account_id=1, credit_account_id=2, amount=1) for i in ids]
    )
    asked = [*ids[::-1], 5, 6]
    assert [t.id for t in ledger.lookup_transfers(asked)] == ids[::-1]


def _user_data_world(ledger: Ledger) -> tuple[list[Account], list[Transfer]]:
    rng = random.Random(3)
    accounts = [
        Account(
            id=i,
            asset="USD",
            code=rng.choice([1, 2]),
            user_data_128=rng.choice([0, 7, 2**127 + 1]),
            user_data_64=rng.choice([0, 8, 2**64 - 1]),
            user_data_32=rng.choice([0, 9, 2**32 - 1]),
        )
        for i in range(1, 41)
    ]
    assert all(r.ok for r in ledger.create_accounts(accounts))
    transfers = [
        Transfer(
            id=100 + i,
            debit_account_id=1,
            credit_account_id=2,
            amount=1,
            code=rng.choice([1, 2]),
            user_data_128=rng.choice([0, 7, 2**127 + 1]),
            user_data_64=rng.choice([0, 8, 2**64 - 1]),
            user_data_32=rng.choice([0, 9, 2**32 - 1]),
        )
        for i in range(80)
    ]
    for start in range(0, len(transfers), 16):
        assert all(r.ok for r in ledger.create_transfers(transfers[start : start + 16]))
    return ledger.lookup_accounts([a.id for a in accounts]), ledger.lookup_transfers(
        [t.id for t in transfers]
    )


FILTERS = [
    QueryFilter(user_data_128=7),
    QueryFilter(user_data_128=2**127 + 1, code=2),
    QueryFilter(user_data_64=2**64 - 1),
    QueryFilter(user_data_64=8, user_data_32=9),
    QueryFilter(user_data_32=2**32 - 1, code=1),
    QueryFilter(user_data_128=7, user_data_64=8, user_data_32=9),
    QueryFilter(user_data_128=7, limit=3),
    QueryFilter(user_data_32=12345),
]


def _matches(query: QueryFilter, record: Any) -> bool:
    return (
        (not query.user_data_128 or record.user_data_128 == query.user_data_128)
        and (not query.user_data_64 or record.user_data_64 == query.user_data_64)
        and (not query.user_data_32 or record.user_data_32 == query.user_data_32)
        and (not query.code or record.code == query.code)
    )


def test_query_accounts_and_transfers(ledger: Ledger, reopen: Callable[..., Ledger]) -> None:
    accounts, transfers = _user_data_world(ledger)
    by_time = (
        sorted(accounts, key=lambda a: a.timestamp),
        sorted(transfers, key=lambda t: t.timestamp),
    )
    answers = []
    for query in FILTERS:
        expected_accounts = [a for a in by_time[0] if _matches(query, a)][: query.limit]
        expected_transfers = [t for t in by_time[1] if _matches(query, t)][: query.limit]
        got = (ledger.query_accounts(query), ledger.query_transfers(query))
        assert got == (expected_accounts, expected_transfers), query
        answers.append(got)
    assert any(got[0] for got in answers)
    assert any(got[1] for got in answers)
    reopened = reopen(ledger)
    assert [
        (reopened.query_accounts(query), reopened.query_transfers(query)) for query in FILTERS
    ] == answers


def test_query_filter_needs_user_data() -> None:
    with pytest.raises(InvalidInput):
        QueryFilter(code=1)


@pytest.mark.parametrize(
    "fields",
    [{"limit": 0}, {"timestamp_min": 5, "timestamp_max": 4}, {"limit": 8191}, {"account_id": -1}],
)
def test_account_filter_refuses_bad_ranges(fields: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        AccountFilter(**{"account_id": 1, **fields})


# -- identical after reopen ------------------------------------------------------------------------


def test_queries_identical_after_reopen(
    ledger: Ledger, clock: ManualClock, reopen: Callable[..., Ledger]
) -> None:
    sent = _build(ledger, clock, seed=11)

    def answers(current: Ledger) -> tuple[Any, ...]:
        return (
            current.lookup_accounts([X, P, Q, R, PLAIN]),
            current.lookup_transfers(sent),
            current.get_account_transfers(X),
            current.get_account_transfers(X, reversed=True, limit=40, debits=False),
            current.get_account_balances(X),
            current.counts(),
        )

    before = answers(ledger)
    reopened = reopen(ledger)
    assert answers(reopened) == before


def test_peek_spendable_is_credits_less_debits_posted_and_pending(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "peek", clock=ManualClock(10**18), sealed=False)
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        ledger.create_transfers(
            [
                Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=500, code=1),
                Transfer(
                    id=11,
                    debit_account_id=2,
                    credit_account_id=1,
                    amount=120,
                    code=1,
                    flags=F.PENDING,
                    timeout=60,
                ),
            ]
        )
        (two,) = ledger.lookup_accounts([2])
        assert ledger.peek_spendable(2) == two.credits_posted - two.debits_posted - 120 == 380
        assert ledger.peek_spendable(1) == -500  # holds on the other side do not count
        assert ledger.peek_spendable(99) is None
    finally:
        ledger.close()
