"""Attestations in the ledger: created, looked up, replayed idempotently, refused by rule (nothing
written), timestamped in one order with transfers, handed to commit hooks, durable across reopen,
and checked on open like the rest of the store."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from clearline.core.clock import ManualClock
from clearline.core.errors import InvalidInput
from clearline.ledger import (
    BATCH_EVENTS_MAX,
    Attestation,
    BatchTooLarge,
    CorruptStoreError,
    CreateAttestationResult,
    Ledger,
    LedgerEvent,
    LedgerEventKind,
    StoreError,
    Transfer,
)
from clearline.ledger.events import HookTransaction
from clearline.ledger.store import DATABASE_FILE, SCHEMA_VERSION

R = CreateAttestationResult
U128_MAX = (1 << 128) - 1


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def results(ledger: Ledger, batch: Sequence[Attestation]) -> list[str]:
    return [r.result.value for r in ledger.create_attestations(batch)]


def test_created_attestations_are_looked_up_in_the_order_asked(ledger: Ledger) -> None:
    created = ledger.create_attestations(
        [
            Attestation(id=7, code=3, digest=digest("a")),
            Attestation(id=8, code=4, digest=digest("b")),
        ]
    )
    assert [r.result for r in created] == [R.OK, R.OK]
    assert 0 < created[0].timestamp < created[1].timestamp
    found = ledger.lookup_attestations([8, 99, 7])
    assert found == [
        Attestation(id=8, code=4, digest=digest("b"), timestamp=created[1].timestamp),
        Attestation(id=7, code=3, digest=digest("a"), timestamp=created[0].timestamp),
    ]
    assert ledger.counts()["attestations"] == 2
    assert ledger.create_attestations([]) == [] and ledger.lookup_attestations([]) == []


def test_a_retry_answers_exists_and_a_different_one_is_refused(
    ledger: Ledger, ledger_state: Callable[[Ledger, Sequence[int]], Any]
) -> None:
    (first,) = ledger.create_attestations([Attestation(id=7, code=3, digest=digest("a"))])
    before = ledger_state(ledger, [])
    replays = ledger.create_attestations(
        [
            Attestation(id=7, code=3, digest=digest("a")),
            Attestation(id=7, code=3, digest=digest("tampered")),
            Attestation(id=7, code=9, digest=digest("a")),
            Attestation(id=7, code=9, digest=digest("tampered")),
        ]
    )
    assert [r.result for r in replays] == [
        R.EXISTS,
        R.EXISTS_WITH_DIFFERENT_DIGEST,
        R.EXISTS_WITH_DIFFERENT_CODE,
        R.EXISTS_WITH_DIFFERENT_CODE,  # the first differing field, in field order
    ]
    assert {r.timestamp for r in replays} == {first.timestamp}  # the stored one
    assert ledger_state(ledger, []) == before
    assert ledger.lookup_attestations([7])[0].digest == digest("a")


def test_the_same_id_twice_in_one_batch_is_created_once(ledger: Ledger) -> None:
    created = ledger.create_attestations(
        [
            Attestation(id=5, code=1, digest=digest("x")),
            Attestation(id=5, code=1, digest=digest("x")),
            Attestation(id=5, code=1, digest=digest("y")),
            Attestation(id=6, code=1, digest=digest("z")),
        ]
    )
    assert [r.result for r in created] == [R.OK, R.EXISTS, R.EXISTS_WITH_DIFFERENT_DIGEST, R.OK]
    assert created[1].timestamp == created[0].timestamp < created[3].timestamp
    assert ledger.counts()["attestations"] == 2


REFUSALS = [
    (Attestation(id=1, code=1, digest=digest("a"), timestamp=5), R.TIMESTAMP_MUST_BE_ZERO),
    (Attestation(id=0, code=1, digest=digest("a")), R.ID_MUST_NOT_BE_ZERO),
    (Attestation(id=U128_MAX, code=1, digest=digest("a")), R.ID_MUST_NOT_BE_INT_MAX),
    (Attestation(id=1, code=0, digest=digest("a")), R.CODE_MUST_NOT_BE_ZERO),
    (Attestation(id=1, code=1, digest=digest("a")[:31]), R.DIGEST_MUST_BE_32_BYTES),
    (Attestation(id=1, code=1, digest=digest("a") + b"\x00"), R.DIGEST_MUST_BE_32_BYTES),
    (Attestation(id=1, code=1, digest=b""), R.DIGEST_MUST_BE_32_BYTES),
    (Attestation(id=1, code=1, digest=bytes(32)), R.DIGEST_MUST_NOT_BE_ZERO),
    (Attestation(id=0, code=0, digest=b""), R.ID_MUST_NOT_BE_ZERO),  # the first rule reported
]


@pytest.mark.parametrize(("attestation", "expected"), REFUSALS)
def test_each_rule_refuses_and_writes_nothing(
    ledger: Ledger,
    ledger_state: Callable[[Ledger, Sequence[int]], Any],
    attestation: Attestation,
    expected: CreateAttestationResult,
) -> None:
    before = ledger_state(ledger, [])
    ((_, result, timestamp),) = ledger.create_attestations([attestation])
    assert (result, timestamp) == (expected, 0)
    assert ledger_state(ledger, []) == before
    assert ledger.lookup_attestations([attestation.id]) == []


def test_a_refused_replay_of_a_stored_id_is_refused_by_its_rule(ledger: Ledger) -> None:
    """Rules come before the idempotency check, so a refusal never depends on the store."""
    ledger.create_attestations([Attestation(id=7, code=3, digest=digest("a"))])
    assert results(ledger, [Attestation(id=7, code=3, digest=b"short")]) == [
        "digest_must_be_32_bytes"
    ]
    assert results(ledger, [Attestation(id=7, code=0, digest=digest("a"))]) == [
        "code_must_not_be_zero"
    ]


def test_refusals_stand_alone_in_a_batch(ledger: Ledger) -> None:
    assert results(
        ledger,
        [
            Attestation(id=1, code=1, digest=digest("a")),
            Attestation(id=2, code=1, digest=b"bad"),
            Attestation(id=3, code=1, digest=digest("c")),
        ],
    ) == ["ok", "digest_must_be_32_bytes", "ok"]
    assert [a.id for a in ledger.lookup_attestations([1, 2, 3])] == [1, 3]


def test_bad_batches_raise_and_write_nothing(ledger: Ledger) -> None:
    good = Attestation(id=1, code=1, digest=digest("a"))
    transfer = Transfer(id=2, debit_account_id=1, credit_account_id=2, amount=1)
    with pytest.raises(TypeError, match="not Attestation records"):
        ledger.create_attestations([good, transfer])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="takes a list"):
        ledger.create_attestations(good)  # type: ignore[arg-type]
    with pytest.raises(BatchTooLarge):
        ledger.create_attestations([good] * (BATCH_EVENTS_MAX + 1))
    assert ledger.counts()["attestations"] == 0
    assert len(ledger.create_attestations([good] * BATCH_EVENTS_MAX)) == BATCH_EVENTS_MAX


def test_records_check_their_field_types() -> None:
    with pytest.raises(TypeError, match="digest must be bytes"):
        Attestation(id=1, code=1, digest=digest("a").hex())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="digest must be bytes"):
        Attestation(id=1, code=1, digest=bytearray(32))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floats are refused"):
        Attestation(id=1.0, code=1, digest=digest("a"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as too_large:
        Attestation(id=1, code=1 << 16, digest=digest("a"))
    assert too_large.value.code == "code_too_large"
    with pytest.raises(InvalidInput):
        Attestation(id=1 << 128, code=1, digest=digest("a"))

    class Digest(bytes):
        pass

    assert type(Attestation(id=1, code=1, digest=Digest(digest("a"))).digest) is bytes


def test_attestations_and_transfers_share_one_timestamp_order(
    ledger: Ledger, make_accounts: Callable[..., list[int]], clock: ManualClock
) -> None:
    debit, credit = make_accounts(ledger, 2)
    stamps = []
    for n in range(3):
        (moved,) = ledger.create_transfers(
            [Transfer(id=100 + n, debit_account_id=debit, credit_account_id=credit, amount=1)]
        )
        (attested,) = ledger.create_attestations(
            [Attestation(id=n + 1, code=1, digest=digest(str(n)))]
        )
        stamps += [moved.timestamp, attested.timestamp]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # the clock stood still


def test_the_async_call_commits_like_the_sync_one(ledger: Ledger) -> None:
    async def both() -> list[Any]:
        return await asyncio.gather(
            ledger.create_attestations_async([Attestation(id=1, code=1, digest=digest("a"))]),
            ledger.create_attestations_async([Attestation(id=1, code=1, digest=digest("b"))]),
            ledger.create_attestations_async([]),
        )

    first, second, empty = asyncio.run(both())
    assert {first[0].result, second[0].result} == {R.OK, R.EXISTS_WITH_DIFFERENT_DIGEST}
    assert empty == []


def test_hooks_see_attestation_events_in_commit_order(
    ledger_dir: Path, clock: ManualClock, make_accounts: Callable[..., list[int]]
) -> None:
    seen: list[LedgerEvent] = []
    raw_seen: list[LedgerEvent] = []

    def hook(transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        seen.extend(events)

    def raw_hook(
        transaction: HookTransaction, rows: Sequence[bytes], events: Sequence[LedgerEvent]
    ) -> None:
        raw_seen.extend(events)

    with Ledger.open(ledger_dir, clock=clock, hooks=[hook], raw_hooks=[raw_hook]) as ledger:
        debit, credit = make_accounts(ledger, 2)
        ledger.create_transfers(
            [Transfer(id=1, debit_account_id=debit, credit_account_id=credit, amount=1)]
        )
        (made,) = ledger.create_attestations([Attestation(id=4, code=2, digest=digest("e"))])
        ledger.create_attestations([Attestation(id=4, code=2, digest=digest("e"))])  # no event
    kinds = [event.kind for event in seen]
    assert kinds[-2:] == [LedgerEventKind.TRANSFER_CREATED, LedgerEventKind.ATTESTATION_CREATED]
    assert seen[-1].attestation == Attestation(4, 2, digest("e"), made.timestamp)
    assert seen[-1].timestamp == made.timestamp
    assert [e.kind for e in raw_seen].count(LedgerEventKind.ATTESTATION_CREATED) == 1
    assert LedgerEventKind.TRANSFER_CREATED not in [e.kind for e in raw_seen]


def test_attestations_survive_reopen_and_bound_the_next_timestamp(
    ledger: Ledger, reopen: Callable[..., Ledger], make_accounts: Callable[..., list[int]]
) -> None:
    debit, credit = make_accounts(ledger, 2)
    ledger.create_transfers(
        [Transfer(id=1, debit_account_id=debit, credit_account_id=credit, amount=1)]
    )
    (last,) = ledger.create_attestations([Attestation(id=3, code=1, digest=digest("last"))])
    again = reopen(ledger)  # the clock stood still: only the stored attestation bounds time
    assert again.attestation_count_at_open == 1
    assert again.lookup_attestations([3]) == [
        Attestation(id=3, code=1, digest=digest("last"), timestamp=last.timestamp)
    ]
    (after,) = again.create_transfers(
        [Transfer(id=2, debit_account_id=debit, credit_account_id=credit, amount=1)]
    )
    assert after.ok and after.timestamp > last.timestamp
    assert results(again, [Attestation(id=3, code=1, digest=digest("last"))]) == ["exists"]


def corrupt(ledger_dir: Path, sql: str) -> None:
    connection = sqlite3.connect(ledger_dir / DATABASE_FILE)
    with connection:
        connection.execute(sql)
    connection.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE attestations SET digest = substr(digest, 1, 31)",
        "UPDATE attestations SET digest = zeroblob(32)",
        "UPDATE attestations SET code = 0",
        "UPDATE attestations SET id = zeroblob(16)",
        "UPDATE attestations SET digest = 'text of 32 characters, not bytes'",
        "UPDATE attestations SET timestamp = (SELECT MAX(timestamp) FROM transfers)",
    ],
)
def test_an_attestation_row_the_ledger_never_writes_is_refused_on_open(
    ledger: Ledger, ledger_dir: Path, make_accounts: Callable[..., list[int]], sql: str
) -> None:
    debit, credit = make_accounts(ledger, 2)
    ledger.create_transfers(
        [Transfer(id=1, debit_account_id=debit, credit_account_id=credit, amount=1)]
    )
    ledger.create_attestations([Attestation(id=3, code=1, digest=digest("x"))])
    ledger.close()
    corrupt(ledger_dir, sql)
    with pytest.raises(CorruptStoreError, match="attestation at timestamp"):
        Ledger.open(ledger_dir, clock=ManualClock(), sealed=False)


def test_a_store_from_before_attestations_is_upgraded_and_a_newer_one_refused(
    ledger: Ledger, ledger_dir: Path, make_accounts: Callable[..., list[int]]
) -> None:
    make_accounts(ledger, 2)
    ledger.close()
    corrupt(ledger_dir, "DROP TABLE attestations")
    corrupt(ledger_dir, "UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with Ledger.open(ledger_dir, clock=ManualClock(), sealed=False) as upgraded:
        assert results(upgraded, [Attestation(id=1, code=1, digest=digest("a"))]) == ["ok"]
    connection = sqlite3.connect(ledger_dir / DATABASE_FILE)
    (version,) = connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    connection.close()
    assert int(version) == SCHEMA_VERSION == 2
    corrupt(
        ledger_dir, f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key='schema_version'"
    )
    with pytest.raises(StoreError, match="upgrade Clearline"):
        Ledger.open(ledger_dir, clock=ManualClock(), sealed=False)
