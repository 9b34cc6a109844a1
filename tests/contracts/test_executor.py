"""The Numscript executor on a real ledger and platform database: atomic chains, exact balances
within and across batches, ledger accounts bounded by the ledger, durable and idempotent
executions, recovery after a crash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.contracts import addresses as ad
from clearline.contracts import executor as executor_module
from clearline.contracts.executions import SCHEMA
from clearline.contracts.executor import Execution, Executor
from clearline.contracts.numscript import compile_program
from clearline.core.clock import ManualClock
from clearline.db import PlatformStore
from clearline.ledger import AccountFlags, Ledger, Transfer

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

    monkeypatch.setattr(executor.records, "complete", crash)  # dies before settling
    with pytest.raises(SystemExit):
        executor.execute([Execution(2, SPLIT, {"from": "alice"})])  # in the ledger, not settled
    monkeypatch.setattr(executor_module, "submit_chains", crash)
    with pytest.raises(SystemExit):
        executor.execute([Execution(3, SPLIT, {"from": "alice"})])  # recorded, never submitted
    monkeypatch.undo()
    fresh = Executor(ledger, store, clock)
    assert fresh.recover() == 2
    two, three = fresh.execute(
        [Execution(2, SPLIT, {"from": "alice"}), Execution(3, SPLIT, {"from": "alice"})]
    )
    assert two.status == "replayed" and two.error_code is None and len(two.postings) == 3
    assert three.status == "replayed" and three.error_code == "interrupted"
    assert balance(ledger, "alice") == 900  # the interrupted one moved nothing


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
