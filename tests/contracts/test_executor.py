"""The Numscript executor on a real ledger and platform database: atomic chains, exact balances
within and across batches, ledger accounts bounded by the ledger, durable and idempotent
executions, recovery after a crash."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.contracts import addresses as ad
from clearline.contracts import chains
from clearline.contracts import executor as executor_module
from clearline.contracts.executions import SCHEMA, Plan, Settlement, decode_entry, encode_entry
from clearline.contracts.executor import Execution, Executor
from clearline.contracts.numscript import Posting, Program, Result, Store, compile_program
from clearline.core.clock import ManualClock
from clearline.db import PlatformStore
from clearline.ledger import AMOUNT_MAX, AccountFlags, Ledger, Transfer
from clearline.ledger.results import CreateTransferResult, EventResult

FUND = compile_program(
    "vars { account $to monetary $amount }\nsend $amount (source = @world destination = $to)"
)
PAY = compile_program(
    "vars { account $from account $to monetary $amount }\n"
    "send $amount (source = $from destination = $to)"
)
SPLIT = compile_program(
    "vars { account $from }\n"
    "send [USD/2 100] (source = $from destination = { 1/3 to @a 1/3 to @b remaining to @c })"
)
TIER = compile_program('set_account_meta(@alice, "tier", "gold")')


@pytest.fixture
def store(ledger_dir: Path) -> Iterator[PlatformStore]:
    ledger_dir.mkdir(parents=True, exist_ok=True)
    platform = PlatformStore(ledger_dir, [SCHEMA])
    yield platform
    platform.close()


@pytest.fixture
def executor(ledger: Ledger, store: PlatformStore, clock: ManualClock) -> Executor:
    return Executor(ledger, store, clock)


def balance(ledger: Ledger, address: str, asset: str = "USD/2", color: str = "") -> int:
    found = ledger.lookup_accounts([ad.account_id(address, asset, color)])
    return found[0].balance if found else 0


def fund(executor: Executor, ident: int, to: str, amount: str = "USD/2 1000") -> None:
    [outcome] = executor.execute([Execution(ident, FUND, {"to": to, "amount": amount})])
    assert outcome.status == "done", outcome


def test_a_split_is_one_chain_of_linked_transfers(executor: Executor, ledger: Ledger) -> None:
    fund(executor, 1, "alice")
    [outcome] = executor.execute([Execution(2, SPLIT, {"from": "alice"})])
    assert outcome.status == "done"
    assert [(p.destination, p.amount) for p in outcome.postings] == [
        ("a", 34),
        ("b", 33),
        ("c", 33),
    ]
    transfers = ledger.lookup_transfers(list(outcome.transfer_ids))
    assert [t.flags for t in transfers] == [1, 1, 0]  # linked, linked, end of chain
    assert {t.user_data_128 for t in transfers} == {2}
    assert {t.code for t in transfers} == {ad.SCRIPT_TRANSFER_CODE}
    assert [balance(ledger, a) for a in ("alice", "a", "b", "c")] == [900, 34, 33, 33]
    assert balance(ledger, "world") == -1000


def test_programs_of_one_batch_see_each_other_in_order(executor: Executor, ledger: Ledger) -> None:
    outcomes = executor.execute(
        [
            Execution(1, FUND, {"to": "alice", "amount": "USD/2 100"}),
            Execution(2, PAY, {"from": "alice", "to": "bob", "amount": "USD/2 60"}),
            Execution(3, PAY, {"from": "alice", "to": "carol", "amount": "USD/2 60"}),
            Execution(4, PAY, {"from": "bob", "to": "carol", "amount": "USD/2 60"}),
        ]
    )
    assert [o.status for o in outcomes] == ["done", "done", "refused", "done"]
    assert outcomes[2].error_code == "missing_funds" and outcomes[2].transfer_ids == ()
    assert [balance(ledger, a) for a in ("alice", "bob", "carol")] == [40, 0, 60]


def test_a_failed_program_moves_nothing(executor: Executor, ledger: Ledger) -> None:
    fund(executor, 1, "alice", "USD/2 50")
    before = ledger.counts()
    [outcome] = executor.execute([Execution(2, SPLIT, {"from": "alice"})])
    assert outcome.status == "refused" and outcome.error_code == "missing_funds"
    assert ledger.counts() == before
    assert balance(ledger, "alice") == 50


def test_a_retried_execution_answers_what_happened(executor: Executor, ledger: Ledger) -> None:
    fund(executor, 1, "alice")
    first = executor.execute([Execution(2, SPLIT, {"from": "alice"})])[0]
    counts = ledger.counts()
    again = executor.execute([Execution(2, SPLIT, {"from": "alice"})])[0]
    assert again.status == "replayed"
    assert again.postings == first.postings and again.transfer_ids == first.transfer_ids
    assert ledger.counts() == counts
    refused = executor.execute([Execution(3, PAY, {"from": "x", "to": "y", "amount": "USD/2 1"})])
    assert refused[0].status == "refused"
    replay = executor.execute([Execution(3, PAY, {"from": "x", "to": "y", "amount": "USD/2 1"})])
    assert replay[0].status == "replayed" and replay[0].error_code == "missing_funds"


def test_a_whole_chunk_replays_as_it_ran(executor: Executor, ledger: Ledger) -> None:
    fund(executor, 1, "alice")
    batch = [
        Execution(10 + n, PAY, {"from": "alice", "to": f"shop:{n}", "amount": f"USD/2 {n + 1}"})
        for n in range(40)  # more than one chunk's entries are read one by one
    ] + [Execution(99, PAY, {"from": "nobody", "to": "x", "amount": "USD/2 1"})]
    first = executor.execute(batch)
    executor.flush()
    counts = ledger.counts()
    again = executor.execute(batch)
    assert [o.status for o in again] == ["replayed"] * 41
    assert [(o.postings, o.transfer_ids) for o in again] == [
        (o.postings, o.transfer_ids) for o in first
    ]
    assert again[-1].error_code == "missing_funds" and again[-1].postings == ()
    assert ledger.counts() == counts
    stored = executor.records.find([o.id for o in first])
    assert {s.status for s in stored.values()} == {"done", "refused"}
    assert stored[10].variables == {"from": "alice", "to": "shop:0", "amount": "USD/2 1"}
    assert stored[10].program_sha256 == stored[99].program_sha256


def test_balances_survive_a_new_executor_and_an_evicted_cache(
    ledger: Ledger, store: PlatformStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "BALANCES_MAX", 4)
    first = Executor(ledger, store, clock)
    for n in range(10):
        fund(first, n + 1, f"user:{n}", "USD/2 10")
    second = Executor(ledger, store, clock)
    outcomes = second.execute(
        [
            Execution(100 + n, PAY, {"from": f"user:{n}", "to": "pool", "amount": "USD/2 10"})
            for n in range(10)
        ]
        + [Execution(200, PAY, {"from": "user:0", "to": "pool", "amount": "USD/2 1"})]
    )
    assert [o.status for o in outcomes] == ["done"] * 10 + ["refused"]
    assert balance(ledger, "pool") == 100


def test_the_ledger_id_and_asset_caches_stay_bounded(
    executor: Executor, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "IDS_MAX", 4)
    monkeypatch.setattr(executor_module, "ASSETS_MAX", 1)
    for n, asset in enumerate(["USD/2", "EUR/2", "COIN"] * 4):
        [outcome] = executor.execute(
            [Execution(n + 1, FUND, {"to": f"user:{n}", "amount": f"{asset} 5"})]
        )
        assert outcome.status == "done"
        assert len(executor._ids) <= 4 and len(executor._assets) <= 1
    assert balance(ledger, "user:11", "COIN") == 5
    assert balance(ledger, "world", "EUR/2") == -20


def test_planning_resumes_at_the_first_program_that_missed_an_account(
    executor: Executor, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(executor, 1, "alice")
    runs: list[str] = []
    loads: list[set[int]] = []
    run, load = Program.run, executor._load

    def counting(program: Program, variables: Mapping[str, str], store: Store) -> Result:
        runs.append(variables["to"])
        return run(program, variables, store)

    def loading(misses: set[int]) -> None:
        loads.append(set(misses))
        load(misses)

    monkeypatch.setattr(Program, "run", counting)
    monkeypatch.setattr(executor, "_load", loading)
    pay = [("world", 1), ("world", 2), ("zed", 3), ("yak", 4), ("world", 5)]
    outcomes = executor.execute(
        [
            Execution(10 + n, PAY, {"from": "alice", "to": to, "amount": f"USD/2 {amount}"})
            for n, (to, amount) in enumerate(pay)
        ]
    )
    assert [o.status for o in outcomes] == ["done"] * 5
    # the two before zed ran once; zed, yak and the last ran to find what they miss, then again
    assert runs == ["world", "world", "zed", "yak", "world", "zed", "yak", "world"]
    assert loads == [{ad.account_id(a, "USD/2", "") for a in ("zed", "yak")}]
    assert [balance(ledger, a) for a in ("alice", "zed", "yak")] == [1000 - 15, 3, 4]


def test_a_ledger_account_is_bounded_by_the_ledger(
    executor: Executor, ledger: Ledger, make_accounts: Callable[..., list[int]], next_id: Callable
) -> None:
    wallet, bank = (
        make_accounts(ledger, 1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)[0],
        make_accounts(ledger, 1)[0],
    )
    ledger.create_transfers(
        [Transfer(id=next_id(ledger), debit_account_id=bank, credit_account_id=wallet, amount=500)]
    )
    address = f"ledger:{wallet:032x}"
    overdraw = compile_program(
        f"send [USD/2 800] (source = @{address} allowing unbounded overdraft "
        "destination = @merchant)"
    )
    outcomes = executor.execute(
        [
            Execution(1, overdraw),
            Execution(2, PAY, {"from": address, "to": "shop", "amount": "USD/2 300"}),
        ]
    )
    assert outcomes[0].status == "refused"
    assert outcomes[0].error_code == "ledger_exceeds_credits"
    assert outcomes[1].status == "done"  # waited for the first to settle, then ran
    assert ledger.lookup_accounts([wallet])[0].balance == 200
    assert balance(ledger, "merchant") == 0 and balance(ledger, "shop") == 300
    # the executor holds shop at 300 too (the round it waited in took its staging back)
    more, exact = executor.execute(
        [
            Execution(3, PAY, {"from": "shop", "to": "x", "amount": "USD/2 301"}),
            Execution(4, PAY, {"from": "shop", "to": "x", "amount": "USD/2 300"}),
        ]
    )
    assert more.error_code == "missing_funds" and exact.status == "done"


def test_a_program_that_waits_for_a_ledger_account_takes_its_staging_back(
    executor: Executor, ledger: Ledger, make_accounts: Callable[..., list[int]], next_id: Callable
) -> None:
    wallet, bank = (
        make_accounts(ledger, 1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)[0],
        make_accounts(ledger, 1)[0],
    )
    ledger.create_transfers(
        [Transfer(id=next_id(ledger), debit_account_id=bank, credit_account_id=wallet, amount=500)]
    )
    address = f"ledger:{wallet:032x}"
    outcomes = executor.execute(
        [
            Execution(1, PAY, {"from": address, "to": "merchant", "amount": "USD/2 100"}),
            Execution(2, PAY, {"from": address, "to": "shop", "amount": "USD/2 300"}),
        ]
    )
    assert [o.status for o in outcomes] == ["done", "done"]  # the second in the next round
    assert balance(ledger, "shop") == 300
    more, exact = executor.execute(
        [
            Execution(3, PAY, {"from": "shop", "to": "x", "amount": "USD/2 301"}),
            Execution(4, PAY, {"from": "shop", "to": "x", "amount": "USD/2 300"}),
        ]
    )
    assert more.error_code == "missing_funds" and exact.status == "done"
    assert balance(ledger, "shop") == 0


def test_a_ledger_account_in_another_asset_is_refused(
    executor: Executor, ledger: Ledger, make_accounts: Callable[..., list[int]]
) -> None:
    [wallet] = make_accounts(ledger, 1, asset="EUR")
    [outcome] = executor.execute(
        [Execution(1, PAY, {"from": f"ledger:{wallet:032x}", "to": "x", "amount": "USD/2 1"})]
    )
    assert outcome.status == "refused" and outcome.error_code == "asset_mismatch"


def test_account_metadata_is_kept_and_read_back(
    executor: Executor, ledger: Ledger, store: PlatformStore, clock: ManualClock
) -> None:
    write = compile_program('set_account_meta(@alice, "tier", "gold")')
    read = compile_program(
        'vars { string $tier = meta(@alice, "tier") }\nset_tx_meta("seen", $tier)'
    )
    outcomes = executor.execute([Execution(1, write), Execution(2, read)])
    assert outcomes[1].tx_meta == {"seen": "gold"}
    executor.flush()  # one executor per platform; a second one reads what the first wrote
    later = Executor(ledger, store, clock).execute([Execution(3, read)])
    assert later[0].tx_meta == {"seen": "gold"}


def test_an_amount_the_ledger_cannot_hold_is_refused(executor: Executor, ledger: Ledger) -> None:
    before = ledger.counts()
    [outcome] = executor.execute([Execution(1, FUND, {"to": "a", "amount": f"USD/2 {2**63}"})])
    assert outcome.status == "refused" and outcome.error_code == "amount_too_large"
    assert ledger.counts() == before


def test_dry_run_moves_nothing(executor: Executor, ledger: Ledger) -> None:
    fund(executor, 1, "alice")
    before = ledger.counts()
    result = executor.dry_run(SPLIT, {"from": "alice"})
    assert [p.amount for p in result.postings] == [34, 33, 33]
    assert ledger.counts() == before


def test_recover_settles_what_a_crash_left_pending(
    ledger: Ledger, store: PlatformStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = Executor(ledger, store, clock)
    fund(executor, 1, "alice")

    def crash(*_: object) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(executor.records, "settle", crash)  # dies before settling
    with pytest.raises(SystemExit):  # in the ledger, not settled
        executor.execute(
            [
                Execution(2, SPLIT, {"from": "alice"}),
                Execution(4, TIER),
                Execution(5, PAY, {"from": "nobody", "to": "x", "amount": "USD/2 1"}),
            ]
        )
    monkeypatch.setattr(executor_module, "submit_chains", crash)
    with pytest.raises(SystemExit):
        executor.execute([Execution(3, SPLIT, {"from": "alice"})])  # recorded, never submitted
    monkeypatch.undo()
    fresh = Executor(ledger, store, clock)
    assert fresh.records.get(2).status == "pending"  # type: ignore[union-attr]
    assert fresh.recover() == 3  # 2, 4 and 3; 5 was refused before the ledger
    assert fresh.recover() == 0
    two, three = fresh.execute(
        [Execution(2, SPLIT, {"from": "alice"}), Execution(3, SPLIT, {"from": "alice"})]
    )
    assert two.status == "replayed" and two.error_code is None and len(two.postings) == 3
    assert three.status == "replayed" and three.error_code == "interrupted"
    assert balance(ledger, "alice") == 900  # the interrupted one moved nothing
    assert store.read("SELECT count(*) FROM script_chunks WHERE completed_ns IS NULL") == [(0,)]
    stored = fresh.records.get(2)
    assert stored is not None and stored.status == "done" and stored.completed_ns is not None
    assert fresh.records.account_meta("alice", "tier") == "gold"  # applied by recover
    five = fresh.records.get(5)
    assert five is not None and five.status == "refused" and five.error_code == "missing_funds"


ACCOUNTS = ["a", "b", "c", "d"]
program_strategy = st.tuples(
    st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(0, 400)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(program_strategy, min_size=1, max_size=12), max_size=4))
def test_value_is_conserved_and_no_script_account_is_overdrawn(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[list[tuple[str, str, int]]],
) -> None:
    directory = tmp_path_factory.mktemp("conserve")
    clock = ManualClock()
    with Ledger.open(directory, clock=clock) as ledger:
        store = PlatformStore(directory, [SCHEMA])
        try:
            executor = Executor(ledger, store, clock)
            fund(executor, 1, "a", "USD/2 500")
            model = {"a": 500, "b": 0, "c": 0, "d": 0}
            ident = 10
            for batch in batches:
                executions = []
                for source, destination, amount in batch:
                    ident += 1
                    executions.append(
                        Execution(
                            ident,
                            PAY,
                            {"from": source, "to": destination, "amount": f"USD/2 {amount}"},
                        )
                    )
                outcomes = executor.execute(executions)
                for (source, destination, amount), outcome in zip(batch, outcomes, strict=True):
                    if model[source] >= amount:
                        assert outcome.status == "done", outcome
                        model[source] -= amount
                        model[destination] += amount
                    else:
                        assert outcome.error_code == "missing_funds"
            actual = {a: balance(ledger, a) for a in ACCOUNTS}
            assert actual == model
            assert sum(actual.values()) + balance(ledger, "world") == 0
        finally:
            store.close()


def test_a_chunk_is_settled_by_one_write_that_rides_with_the_next_chunk(
    executor: Executor, ledger: Ledger, store: PlatformStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(executor, 1, "alice")
    executor.flush()
    monkeypatch.setattr(executor_module, "CHUNK_PROGRAMS", 2)
    before = store.commits
    outcomes = executor.execute(
        [
            Execution(10 + n, PAY, {"from": "alice", "to": f"shop:{n}", "amount": "USD/2 10"})
            for n in range(5)
        ]
    )
    executor.flush()
    assert [o.status for o in outcomes] == ["done"] * 5
    # three chunks: each one's rows (the first two also settle the chunk before), then the
    # last chunk's settlement on its own; no write per execution
    assert store.commits - before == 4
    assert store.read("SELECT count(*) FROM script_chunks WHERE completed_ns IS NULL") == [(0,)]
    for outcome in outcomes:
        stored = executor.records.get(outcome.id)
        assert stored is not None and stored.status == "done" and stored.completed_ns is not None
        assert stored.plan.postings == outcome.postings
        assert stored.plan.transfer_ids == outcome.transfer_ids
    assert balance(ledger, "alice") == 950


def test_replays_answer_from_memory_until_the_settlement_is_durable(
    ledger: Ledger,
    store: PlatformStore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    make_accounts: Callable[..., list[int]],
) -> None:
    [wallet] = make_accounts(ledger, 1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    executor = Executor(ledger, store, clock)
    fund(executor, 1, "alice")
    executor.flush()
    settle = executor.records.settle
    held: list[Sequence[Settlement]] = []
    never: Future[None] = Future()  # the settlement's write has not finished

    def slow(settlements: Sequence[Settlement], now_ns: int) -> Future[None]:
        held.append(settlements)
        return never

    monkeypatch.setattr(executor.records, "settle", slow)
    overdraw = compile_program(
        f"send [USD/2 5] (source = @ledger:{wallet:032x} allowing unbounded overdraft "
        "destination = @merchant)"
    )
    batch = [Execution(2, SPLIT, {"from": "alice"}), Execution(3, overdraw), Execution(4, TIER)]
    first = executor.execute(batch)
    assert [o.status for o in first] == ["done", "refused", "done"]
    assert first[1].error_code == "ledger_exceeds_credits"
    assert executor.records.get(2).status == "pending"  # type: ignore[union-attr]
    again = executor.execute(batch)
    assert [o.status for o in again] == ["replayed"] * 3
    assert again[0].postings == first[0].postings
    assert again[0].transfer_ids == first[0].transfer_ids and again[0].error_code is None
    assert again[1].error_code == "ledger_exceeds_credits" and again[1].transfer_ids == ()
    assert again[2].account_meta == {"alice": {"tier": "gold"}}
    assert balance(ledger, "alice") == 900
    [[settlement]] = held
    assert settlement.unsettled == (
        (3, "refused", "ledger_exceeds_credits", first[1].error),
    ) and settlement.account_meta == (("alice", "tier", "gold"),)
    settle([settlement], clock.now_ns()).result()
    never.set_result(None)  # durable now: the executor forgets it
    assert executor._settling == {}
    assert [o.status for o in executor.execute(batch)] == ["replayed"] * 3
    assert executor.records.get(2).status == "done"  # type: ignore[union-attr]
    refused = executor.records.get(3)
    assert refused is not None and refused.status == "refused"
    assert refused.error_code == "ledger_exceeds_credits"
    assert executor.records.account_meta("alice", "tier") == "gold"


@pytest.mark.parametrize(
    "failing",
    [
        f"send [USD/2 {2**63}] (source = @world destination = @carol)",  # amount_too_large
        "send [USD/2 1] (source = @world destination = @carol)",  # @world's debits pass the max
        "send [USD/2 1002] (source = @bank allowing unbounded overdraft destination = @maxed)",
    ],
)
def test_a_program_refused_while_staging_leaves_the_batch_balances_as_they_were(
    executor: Executor, ledger: Ledger, failing: str
) -> None:
    fund(executor, 1, "alice")
    fund(executor, 2, "maxed", f"USD/2 {AMOUNT_MAX - 1000}")  # @world has debits AMOUNT_MAX
    program = compile_program("send [USD/2 600] (source = @alice destination = @bob)\n" + failing)
    refused, later = executor.execute(
        [
            Execution(10, program),
            Execution(11, PAY, {"from": "alice", "to": "erin", "amount": "USD/2 1000"}),
        ]
    )
    assert refused.status == "refused"
    assert refused.error_code in ("amount_too_large", "overflows_account")
    assert later.status == "done"  # alice still held 1000: the first posting was taken back
    assert balance(ledger, "alice") == 0 and balance(ledger, "bob") == 0


def test_a_program_with_more_postings_than_one_ledger_call_is_refused(
    executor: Executor, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(executor, 1, "alice")
    monkeypatch.setattr(executor_module, "BATCH_EVENTS_MAX", 2)
    too_many, fine = executor.execute(
        [
            Execution(2, SPLIT, {"from": "alice"}),
            Execution(3, PAY, {"from": "alice", "to": "bob", "amount": "USD/2 1000"}),
        ]
    )
    assert too_many.error_code == "too_many_postings" and fine.status == "done"
    assert [balance(ledger, a) for a in ("alice", "bob", "a", "b", "c")] == [0, 1000, 0, 0, 0]


class _Answers:
    """A ledger stand-in that records its calls and refuses the transfers it is told to."""

    def __init__(self, refuse: dict[int, CreateTransferResult]) -> None:
        self.refuse = refuse
        self.calls: list[list[int]] = []

    def create_transfers(self, batch: Sequence[Transfer]) -> list[EventResult]:
        self.calls.append([t.id for t in batch])
        ok = CreateTransferResult.OK
        return [EventResult(n, self.refuse.get(t.id, ok)) for n, t in enumerate(batch)]


def test_chains_are_cut_between_calls_and_refusals_go_to_their_execution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chains, "BATCH_EVENTS_MAX", 6)
    transfers: list[Transfer] = []
    sizes = [3, 3, 0, 2, 1]
    for execution, size in enumerate(sizes, start=1):
        moves = [(100 + n, 200 + n, 1 + n) for n in range(size)]
        ids = chains.transfer_ids(execution, size)
        if ids:
            chains.append_chain(transfers, moves, ids[0], execution)
            assert [t.id for t in transfers[-size:]] == list(ids)
    assert [t.flags for t in transfers] == [1, 1, 0, 1, 1, 0, 1, 0, 0]
    assert [t.user_data_128 for t in transfers] == [1, 1, 1, 2, 2, 2, 4, 4, 5]
    assert transfers[4] == Transfer(
        id=chains.transfer_ids(2, 3)[1], debit_account_id=101, credit_account_id=201, amount=2,
        code=ad.SCRIPT_TRANSFER_CODE, flags=1, user_data_128=2,
    )  # fmt: skip
    ledger = _Answers({})
    assert chains.submit_chains(ledger, transfers, sizes) == {}  # type: ignore[arg-type]
    assert [len(c) for c in ledger.calls] == [6, 3]
    refusing = _Answers(
        {
            transfers[6].id: CreateTransferResult.LINKED_EVENT_FAILED,  # the chain's other one
            transfers[7].id: CreateTransferResult.EXCEEDS_CREDITS,
        }
    )
    refused = chains.submit_chains(refusing, transfers, sizes)  # type: ignore[arg-type]
    assert refused == {3: ("ledger_exceeds_credits", chains.ledger_message("exceeds_credits"))}


postings_strategy = st.lists(
    st.builds(
        Posting,
        st.text(min_size=1),
        st.text(min_size=1),
        st.integers(1, AMOUNT_MAX),
        st.sampled_from(["USD/2", "COIN", "EUR/2"]),
        st.sampled_from(["", "RED"]),
    ),
    max_size=5,
)
meta_strategy = st.dictionaries(st.text(), st.text(), max_size=3)


@given(
    ident=st.integers(1, ad.ID_MAX - 1),
    variables=meta_strategy,
    postings=postings_strategy,
    first=st.integers(1, ad.ID_MAX - 10),
    tx_meta=meta_strategy,
    account_meta=st.dictionaries(st.text(min_size=1), meta_strategy, max_size=2),
)
def test_an_entry_reads_back_as_written(
    ident: int,
    variables: dict[str, str],
    postings: list[Posting],
    first: int,
    tx_meta: dict[str, str],
    account_meta: dict[str, dict[str, str]],
) -> None:
    plan = Plan(tuple(postings), tuple(range(first, first + len(postings))), tx_meta, account_meta)
    raw = encode_entry(ident, 3, variables, plan)
    assert b"\n" not in raw  # entries are joined by newlines
    assert decode_entry(raw) == (ident, 3, variables, plan)


def test_a_settlement_of_a_chunk_already_settled_is_an_invariant_violation(
    executor: Executor,
) -> None:
    fund(executor, 1, "alice")
    executor.flush()
    [(chunk,)] = executor.records.store.read("SELECT id FROM script_chunks")
    with pytest.raises(AssertionError, match="not open"):
        executor.records.settle([Settlement(chunk, 1)], 1).result()


KILLED_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from clearline.contracts import executor as executor_module
    from clearline.contracts.executions import SCHEMA
    from clearline.contracts.executor import Execution, Executor
    from clearline.contracts.numscript import compile_program
    from clearline.db import PlatformStore
    from clearline.ledger import Ledger

    executor_module.CHUNK_PROGRAMS = 40  # many chunks, settlements in flight all the time
    directory = Path(sys.argv[1])
    ledger, store = Ledger.open(directory), PlatformStore(directory, [SCHEMA])
    executor = Executor(ledger, store)
    fund = compile_program(
        "vars { account $to } send [USD/2 1] (source = @world destination = $to)"
    )
    print("open", flush=True)
    for start in range(1, 100_000, 200):
        print("batch", start + 199, flush=True)
        batch = [Execution(n, fund, {"to": f"u:{n % 7}"}) for n in range(start, start + 200)]
        executor.execute(batch)
        print("ack", start + 199, flush=True)
    """
)


def _kill_executing(directory: Path, rng: random.Random) -> tuple[int, int]:
    """Run KILLED_CHILD and SIGKILL it inside some batch: the last execution id acknowledged
    and the last one it started."""
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith("open")
    kill_after = rng.randrange(1, 6)
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith("ack") and int(line.split()[1]) >= kill_after * 200:
            time.sleep(rng.random() * 0.05)  # somewhere inside a later batch
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    lines += child.stdout.read().splitlines()  # what it printed before it died
    acked = max(int(line.split()[1]) for line in lines if line.startswith("ack"))
    started = max(int(line.split()[1]) for line in lines if line.startswith("batch"))
    return acked, started


def test_a_killed_executor_loses_no_execution_and_doubles_none(tmp_path: Path) -> None:
    rng = random.Random(11)
    recovered = 0
    for run in range(3):
        directory = tmp_path / f"run{run}"
        acked, started = _kill_executing(directory, rng)
        with Ledger.open(directory) as ledger:
            store = PlatformStore(directory, [SCHEMA])
            try:
                executor = Executor(ledger, store)
                recovered += executor.recover()
                open_chunks = "SELECT count(*) FROM script_chunks WHERE completed_ns IS NULL"
                assert store.read(open_chunks) == [(0,)]
                stored = executor.records.find(range(1, started + 1))
                assert not executor.records.find(range(started + 1, started + 201))
                assert all(stored[i].status == "done" for i in range(1, acked + 1))
                assert {s.status for s in stored.values()} <= {"done", "abandoned"}
                for ident, execution in stored.items():  # done exactly when its chain is there
                    [first] = execution.plan.transfer_ids or chains.transfer_ids(ident, 1)
                    assert bool(ledger.lookup_transfers([first])) == (execution.status == "done")
                done = [i for i, s in stored.items() if s.status == "done"]
                assert balance(ledger, "world") == -len(done)  # nothing doubled, nothing lost
                assert sum(balance(ledger, f"u:{n}") for n in range(7)) == len(done)
                counts = ledger.counts()
                replay = [Execution(i, FUND, {"to": "x", "amount": "USD/2 1"}) for i in done]
                assert {o.status for o in executor.execute(replay)} <= {"replayed"}
                assert ledger.counts() == counts
            finally:
                store.close()
    assert recovered  # the kills left chunks open (a chunk stays open until the next one)
