"""Group commit: concurrent callers share SQLite transactions, yet each gets exactly its own
results, a failing linked chain stays inside its caller's batch, and a replayed id inside a group
takes the retry path without disturbing the other callers."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    AccountFlags,
    Attestation,
    EventResult,
    Ledger,
    LedgerEvent,
    Transfer,
    TransferFlags,
)
from clearline.ledger.events import HookTransaction

THREADS = 64
CALLS_PER_THREAD = 12
ACCOUNTS = 8
UNKNOWN_ACCOUNT_ID = 10_000
LINKED = TransferFlags.LINKED
WAIT_SECONDS_MAX = 10.0
HOLDER_ACCOUNT_IDS = itertools.count(UNKNOWN_ACCOUNT_ID + 1)


class WriterGate:
    """A commit hook that, when armed, holds the writer inside the next group's transaction, so
    the test can queue several calls and know they will be decided together as the next group."""

    def __init__(self) -> None:
        self.armed = False
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        if self.armed:
            self.armed = False
            self.holding.set()
            assert self.release.wait(WAIT_SECONDS_MAX)


def run_as_one_group(
    ledger: Ledger, gate: WriterGate, calls: Sequence[Callable[[], Any]]
) -> list[Any]:
    """Hold the writer, queue `calls` from threads, release: they form the next group."""
    with ThreadPoolExecutor(len(calls) + 1) as pool:
        gate.armed = True
        gate.holding.clear()
        gate.release.clear()
        held = pool.submit(ledger.create_accounts, [usd(next(HOLDER_ACCOUNT_IDS))])
        assert gate.holding.wait(WAIT_SECONDS_MAX)
        futures: list[Future[Any]] = []
        for call in calls:
            futures.append(pool.submit(call))
            # Queue them one by one so the group keeps the callers' order.
            deadline = time.monotonic() + WAIT_SECONDS_MAX
            while ledger._writer.queue.qsize() < len(futures):
                assert time.monotonic() < deadline, "a call never reached the writer's queue"
                time.sleep(0.001)
        commits_before = ledger.stats.commits
        gate.release.set()
        held.result()
        results = [future.result() for future in futures]
    assert ledger.stats.commits - commits_before == 2, "the calls were not decided as one group"
    return results


def usd(account_id: int, flags: int = 0) -> Account:
    return Account(id=account_id, asset="USD", code=1, flags=flags)


def codes(results: Sequence[EventResult]) -> list[str]:
    return [result.result.value for result in results]


def assert_balanced(ledger: Ledger, account_ids: Sequence[int]) -> None:
    accounts = ledger.lookup_accounts(account_ids)
    assert sum(a.debits_posted for a in accounts) == sum(a.credits_posted for a in accounts)
    assert sum(a.debits_pending for a in accounts) == sum(a.credits_pending for a in accounts)


def test_64_threads_of_single_transfer_calls_are_grouped(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, clock=ManualClock())
    ledger.create_accounts([usd(n) for n in range(1, ACCOUNTS + 1)])
    start = threading.Barrier(THREADS)

    def client(thread: int) -> list[tuple[Transfer, list[EventResult]]]:
        start.wait()
        calls = []
        for call in range(CALLS_PER_THREAD):
            transfer_id = 1_000 * (thread + 1) + call
            debit = 1 + (thread + call) % ACCOUNTS
            credit = 1 + (thread + call + 1 + call % 3) % ACCOUNTS
            if call % 5 == 4:
                credit = UNKNOWN_ACCOUNT_ID  # each caller also gets refusals of its own
            transfer = Transfer(
                id=transfer_id,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=transfer_id,
                user_data_64=thread,
            )
            calls.append((transfer, ledger.create_transfers([transfer])))
        return calls

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [c for batch in pool.map(client, range(THREADS)) for c in batch]

    expected = defaultdict(lambda: [0, 0])  # account id -> [debits_posted, credits_posted]
    accepted: list[tuple[Transfer, int]] = []
    for transfer, results in outcomes:
        assert len(results) == 1 and results[0].index == 0
        if transfer.credit_account_id == UNKNOWN_ACCOUNT_ID:
            assert codes(results) == ["credit_account_not_found"]
            assert results[0].timestamp == 0
            continue
        assert codes(results) == ["ok"]
        accepted.append((transfer, results[0].timestamp))
        expected[transfer.debit_account_id][0] += transfer.amount
        expected[transfer.credit_account_id][1] += transfer.amount
    calls = THREADS * CALLS_PER_THREAD
    assert len(accepted) == calls - THREADS * (CALLS_PER_THREAD // 5)
    timestamps = [timestamp for _, timestamp in accepted]
    assert len(set(timestamps)) == len(timestamps)
    stored = ledger.lookup_transfers([transfer.id for transfer, _ in accepted])
    assert [(t.id, t.amount, t.timestamp) for t in stored] == [
        (transfer.id, transfer.amount, timestamp) for transfer, timestamp in accepted
    ]
    # Calls of one thread are acknowledged in the order they were made.
    by_thread = defaultdict(list)
    for transfer, timestamp in accepted:
        by_thread[transfer.user_data_64].append(timestamp)
    assert all(stamps == sorted(stamps) for stamps in by_thread.values())
    accounts = ledger.lookup_accounts(list(range(1, ACCOUNTS + 1)))
    assert {a.id: [a.debits_posted, a.credits_posted] for a in accounts} == expected
    assert_balanced(ledger, list(range(1, ACCOUNTS + 1)))
    assert ledger.stats.commits < calls, "no two calls shared a commit"
    assert ledger.stats.largest_group > 1
    ledger.close()


def test_many_async_tasks_each_get_their_own_results(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, clock=ManualClock())
    ledger.create_accounts(
        [usd(1), usd(2), usd(3, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)]
    )
    tasks_count = 200

    async def main() -> list[list[EventResult]]:
        batches = [
            [
                Transfer(
                    id=10_000 + task, debit_account_id=1, credit_account_id=2, amount=task + 1
                ),
                # account 3 has no credits: always refused, whatever the grouping
                Transfer(id=20_000 + task, debit_account_id=3, credit_account_id=1, amount=1),
            ]
            for task in range(tasks_count)
        ]
        return await asyncio.gather(*(ledger.create_transfers_async(b) for b in batches))

    commits_before = ledger.stats.commits
    outcomes = asyncio.run(main())
    for task, results in enumerate(outcomes):
        assert [r.index for r in results] == [0, 1]
        assert codes(results) == ["ok", "exceeds_credits"]
        (stored,) = ledger.lookup_transfers([10_000 + task])
        assert stored.amount == task + 1 and stored.timestamp == results[0].timestamp
    assert ledger.stats.commits - commits_before < tasks_count
    (one, two, three) = ledger.lookup_accounts([1, 2, 3])
    total = tasks_count * (tasks_count + 1) // 2
    assert (one.debits_posted, two.credits_posted, three.debits_posted) == (total, total, 0)
    assert ledger.lookup_transfers([20_000 + task for task in range(tasks_count)]) == []
    ledger.close()


def test_failing_chain_in_one_batch_leaves_the_other_batches_of_its_group_alone(
    tmp_path: Path,
) -> None:
    gate = WriterGate()
    ledger = Ledger.open(tmp_path, clock=ManualClock(), hooks=[gate])
    ledger.create_accounts([usd(1), usd(2), usd(3)])
    failing_chain = [
        Transfer(id=100, debit_account_id=1, credit_account_id=2, amount=5, flags=LINKED),
        Transfer(id=101, debit_account_id=2, credit_account_id=3, amount=5, flags=LINKED),
        Transfer(id=102, debit_account_id=3, credit_account_id=9_999, amount=5),  # unknown
        Transfer(id=103, debit_account_id=1, credit_account_id=3, amount=1),  # alone: ok
    ]
    good_chain = [
        Transfer(id=200, debit_account_id=1, credit_account_id=2, amount=7, flags=LINKED),
        Transfer(id=201, debit_account_id=2, credit_account_id=3, amount=7),
    ]
    plain = [Transfer(id=300, debit_account_id=3, credit_account_id=1, amount=11)]
    first, second, third = run_as_one_group(
        ledger,
        gate,
        [
            lambda: ledger.create_transfers(good_chain),
            lambda: ledger.create_transfers(failing_chain),
            lambda: ledger.create_transfers(plain),
        ],
    )
    assert codes(first) == ["ok", "ok"]
    assert codes(second) == [
        "linked_event_failed",
        "linked_event_failed",
        "credit_account_not_found",
        "ok",
    ]
    assert codes(third) == ["ok"]
    stamps = [r.timestamp for r in (*first, second[3], *third)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert [t.id for t in ledger.lookup_transfers(range(100, 400))] == [103, 200, 201, 300]
    accounts = ledger.lookup_accounts([1, 2, 3])
    assert [(a.debits_posted, a.credits_posted) for a in accounts] == [(8, 11), (7, 7), (11, 8)]
    ledger.close()


def test_replayed_id_inside_a_group_takes_the_retry_path(tmp_path: Path) -> None:
    gate = WriterGate()
    ledger = Ledger.open(tmp_path, clock=ManualClock(), hooks=[gate])
    ledger.create_accounts([usd(1), usd(2)])
    original = Transfer(id=50, debit_account_id=1, credit_account_id=2, amount=10)
    (first,) = ledger.create_transfers([original])
    retried_before = ledger.stats.groups_retried
    new_before, replay, new_after, new_accounts = run_as_one_group(
        ledger,
        gate,
        [
            lambda: ledger.create_transfers(
                [Transfer(id=60, debit_account_id=1, credit_account_id=2, amount=1)]
            ),
            lambda: ledger.create_transfers(
                [original, Transfer(id=61, debit_account_id=2, credit_account_id=1, amount=2)]
            ),
            lambda: ledger.create_transfers(
                [Transfer(id=62, debit_account_id=1, credit_account_id=2, amount=3)]
            ),
            lambda: ledger.create_accounts([usd(3), usd(1)]),
        ],
    )
    assert ledger.stats.groups_retried > retried_before
    assert codes(new_before) == ["ok"]
    assert codes(replay) == ["exists", "ok"]
    assert replay[0].timestamp == first.timestamp
    assert codes(new_after) == ["ok"]
    assert codes(new_accounts) == ["ok", "exists"]
    stamps = [new_before[0].timestamp, replay[1].timestamp, new_after[0].timestamp]
    assert stamps == sorted(stamps) and first.timestamp < stamps[0]
    one, two = ledger.lookup_accounts([1, 2])
    assert (one.debits_posted, one.credits_posted) == (10 + 1 + 3, 2)
    assert (two.debits_posted, two.credits_posted) == (2, 10 + 1 + 3)
    assert ledger.counts()["transfers"] == 4
    ledger.close()
    reopened = Ledger.open(tmp_path, clock=ManualClock())
    assert reopened.lookup_accounts([1, 2]) == [one, two]
    reopened.close()


def test_writer_bug_fails_callers_instead_of_hanging(tmp_path, monkeypatch) -> None:
    """An unexpected error in the writer fails the caller and every later call; reopen recovers."""
    from clearline.ledger import LedgerBroken

    ledger = Ledger.open(tmp_path, clock=ManualClock())
    ledger.create_accounts([Account(id=1, asset="USD", code=1), Account(id=2, asset="USD", code=1)])
    assert ledger.create_transfers(
        [Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=5)]
    )[0].ok

    def explode(group: object) -> None:
        raise RuntimeError("simulated bug in the writer")

    monkeypatch.setattr(ledger._writer, "_gather", explode)
    with pytest.raises(LedgerBroken) as caught:
        ledger.create_transfers(
            [Transfer(id=11, debit_account_id=1, credit_account_id=2, amount=5)]
        )
    assert isinstance(caught.value.__cause__, RuntimeError)
    with pytest.raises(LedgerBroken):
        ledger.lookup_accounts([1])
    ledger.close()
    with Ledger.open(tmp_path, clock=ManualClock()) as again:
        (account,) = again.lookup_accounts([2])
        assert account.credits_posted == 5
        assert again.lookup_transfers([11]) == []


def test_attestations_share_a_group_with_transfers_and_a_replay_retries_it(
    tmp_path: Path,
) -> None:
    gate = WriterGate()
    ledger = Ledger.open(tmp_path, clock=ManualClock(), hooks=[gate])
    ledger.create_accounts([usd(1), usd(2)])
    seen = Attestation(id=9, code=1, digest=hashlib.sha256(b"seen").digest())
    (first,) = ledger.create_attestations([seen])
    retried_before = ledger.stats.groups_retried
    moved, attested, replayed, moved_again = run_as_one_group(
        ledger,
        gate,
        [
            lambda: ledger.create_transfers(
                [Transfer(id=70, debit_account_id=1, credit_account_id=2, amount=4)]
            ),
            lambda: ledger.create_attestations(
                [Attestation(id=10, code=1, digest=hashlib.sha256(b"new").digest())]
            ),
            lambda: ledger.create_attestations([seen]),
            lambda: ledger.create_transfers(
                [Transfer(id=71, debit_account_id=2, credit_account_id=1, amount=1)]
            ),
        ],
    )
    assert ledger.stats.groups_retried == retried_before + 1
    assert (codes(moved), codes(attested), codes(replayed), codes(moved_again)) == (
        ["ok"],
        ["ok"],
        ["exists"],
        ["ok"],
    )
    assert replayed[0].timestamp == first.timestamp
    stamps = [moved[0].timestamp, attested[0].timestamp, moved_again[0].timestamp]
    assert stamps == sorted(stamps) and stamps[1] == stamps[0] + 1  # the callers' order
    assert ledger.counts()["attestations"] == 2 and ledger.counts()["transfers"] == 2
    ledger.close()
