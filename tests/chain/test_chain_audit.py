"""Offline audit of exports: a real export verifies and its replayed balances equal the ledger's;
every mutation of an export is detected, by an outsider (manifest untouched), by an insider who
re-signs the manifest with the node's keys, and by an insider who re-seals the whole log with
impossible events. A sample runs in the regular suite; the full campaign is marked slow."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from clearline.chain import merkle
from clearline.chain.audit import (
    CHECKPOINTS_FILE,
    EVENTS_FILE,
    KEYS_FILE,
    MANIFEST_FILE,
    README_FILE,
    AuditFailure,
    build_export,
    export_log,
    frame,
    node_signers,
    read_export,
    unframe,
    verify_export,
    verify_export_files,
)
from clearline.chain.cli import register
from clearline.chain.encoding import decode, encode
from clearline.chain.keys import NoteSigner, parse_verifier_key
from clearline.chain.log import SealingHook
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    checkpoint_hash,
    parse_note,
    sign_note,
)
from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    AccountFlags,
    Attestation,
    Ledger,
    LedgerEvent,
    LedgerEventKind,
    Transfer,
    TransferFlags,
)

ORIGIN = "clearline.example/node-a"
Files = dict[str, bytes]


ATTESTED = [hashlib.sha256(f"audit trail entry {n}".encode()).digest() for n in range(3)]


def fill_ledger(path: Path) -> list[int]:
    """A small sealed history with every kind of event (attestations among the transfers);
    returns the account ids."""
    clock = ManualClock()
    ledger = Ledger.open(path, clock=clock, hooks=[SealingHook.open(path, ORIGIN)], sealed=False)
    wallet = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    ledger.create_accounts(
        [Account(id=n, asset="USD", code=1, flags=wallet if n == 3 else 0) for n in range(1, 5)]
        + [Account(id=10, asset="JPY", code=1), Account(id=11, asset="JPY", code=1)]
    )
    for batch in range(4):
        ledger.create_transfers(
            [
                Transfer(
                    id=100 * batch + k + 1,
                    debit_account_id=1,
                    credit_account_id=2 + k % 2,
                    amount=7 * batch + k + 1,
                )
                for k in range(batch + 1)
            ]
        )
    pending = int(TransferFlags.PENDING)
    ledger.create_transfers(
        [
            Transfer(id=500, debit_account_id=3, credit_account_id=4, amount=5, flags=pending),
            Transfer(id=501, debit_account_id=1, credit_account_id=4, amount=9, flags=pending),
            Transfer(
                id=502,
                debit_account_id=10,
                credit_account_id=11,
                amount=300,
                flags=pending,
                timeout=1,
            ),
            Transfer(id=503, debit_account_id=2, credit_account_id=1, amount=4, flags=pending),
        ]
    )
    ledger.create_transfers(
        [
            Transfer(
                id=600,
                debit_account_id=0,
                credit_account_id=0,
                amount=3,
                pending_id=500,
                flags=TransferFlags.POST_PENDING_TRANSFER,
            ),
            Transfer(
                id=601,
                debit_account_id=0,
                credit_account_id=0,
                amount=0,
                pending_id=501,
                flags=TransferFlags.VOID_PENDING_TRANSFER,
            ),
        ]
    )
    ledger.create_attestations(
        [Attestation(id=800 + n, code=1 + n % 2, digest=ATTESTED[n]) for n in range(3)]
    )
    clock.advance(seconds=2)
    ledger.create_transfers(
        [Transfer(id=700, debit_account_id=11, credit_account_id=10, amount=25)]
    )
    ledger.close()
    return [1, 2, 3, 4, 10, 11]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Files, list[NoteSigner]]:
    data = tmp_path_factory.mktemp("node")
    fill_ledger(data)
    out = data / "export"
    export_log(data, out)
    return data, read_export(out), node_signers(data, ORIGIN)


def fails(files: Files, code: str | None = None, **pins: object) -> AuditFailure:
    with pytest.raises(AuditFailure) as caught:
        verify_export_files(files, **pins)  # type: ignore[arg-type]
    if code is not None:
        assert caught.value.code == code, caught.value
    return caught.value


def test_export_verifies_and_replay_matches_the_ledger(
    node: tuple[Path, Files, list[NoteSigner]],
) -> None:
    data, files, signers = node
    report = verify_export(data / "export")
    assert report.origin == ORIGIN and report.checkpoints == 9 and report.events == 27
    assert (report.transfers, report.attestations) == (17, 3)
    assert report.signatures == 2 * (report.checkpoints + 1)
    assert report.keys_on_trust == report.trusted_keys and len(report.trusted_keys) == 2
    pinned = verify_export_files(files, pinned_keys=[s.verifier for s in signers])
    assert pinned.keys_on_trust == ()
    with Ledger.open(data, clock=ManualClock(1 << 62), sealed=False) as ledger:
        accounts = ledger.lookup_accounts([a.id for a in report.accounts])
    expected = [
        (a.id, a.asset.spec, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
        for a in accounts
    ]
    assert [dataclasses.astuple(a) for a in report.accounts] == expected


def test_readme_is_free_and_other_files_are_not(
    node: tuple[Path, Files, list[NoteSigner]],
) -> None:
    _, files, _ = node
    verify_export_files({**files, README_FILE: b"anything"})
    verify_export_files({k: v for k, v in files.items() if k != README_FILE})
    fails({**files, "extra.bin": b""}, "export_file_unexpected")
    for name in (EVENTS_FILE, CHECKPOINTS_FILE, KEYS_FILE, MANIFEST_FILE):
        fails({k: v for k, v in files.items() if k != name}, "export_file_missing")


def test_pinned_keys_and_checkpoints(node: tuple[Path, Files, list[NoteSigner]]) -> None:
    data, files, signers = node
    other = node_signers_for(data.parent / "other-keys")
    fails(files, "signature_missing", pinned_keys=[other[0].verifier])
    notes = [n.decode() for n in unframe(files[CHECKPOINTS_FILE], CHECKPOINTS_FILE)]
    verify_export_files(files, pinned_checkpoints=[notes[3], notes[-1]])
    forged = sign_note(parse_note(notes[-1]).text.replace("time_ns ", "time_ns 9"), signers)
    fails(files, "pinned_checkpoint_missing", pinned_checkpoints=[forged])


def node_signers_for(path: Path) -> list[NoteSigner]:
    SealingHook.open(path, ORIGIN)
    return node_signers(path, ORIGIN)


# -- mutations ----------------------------------------------------------------------------------


def records(files: Files) -> tuple[list[bytes], list[bytes]]:
    return unframe(files[EVENTS_FILE], EVENTS_FILE), unframe(files[CHECKPOINTS_FILE], "c")


def with_records(files: Files, leaves: list[bytes], notes: list[bytes]) -> Files:
    """An outsider's edit: new events / checkpoints, the original manifest."""
    return {**files, EVENTS_FILE: frame(leaves), CHECKPOINTS_FILE: frame(notes)}


def resigned(signers: list[NoteSigner], leaves: list[bytes], notes: list[bytes]) -> Files:
    """An insider's edit: the manifest re-signed with the node's keys over the edited files."""
    return build_export(ORIGIN, leaves, [n.decode() for n in notes], signers)


def event_field_mutations(data: bytes) -> list[bytes]:
    """The event with each field changed in turn (re-encoded canonically)."""
    event = decode(data)
    if event.attestation is not None:
        return attestation_field_mutations(event)
    record = event.account or event.transfer
    later = event.timestamp + 1
    if record is None:
        changed = [encode(dataclasses.replace(event, timestamp=later))]
    else:
        name = "account" if event.account else "transfer"
        moved = dataclasses.replace(record, timestamp=later)  # type: ignore[type-var]
        changed = [encode(dataclasses.replace(event, timestamp=later, **{name: moved}))]
    if record is None:
        return [*changed, encode(dataclasses.replace(event, pending_id=event.pending_id + 1))]
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if field.name in ("timestamp", "asset") or field.name.endswith(("_pending", "_posted")):
            continue
        new = dataclasses.replace(record, **{field.name: value ^ 1})
        name = "account" if event.account else "transfer"
        changed.append(encode(dataclasses.replace(event, **{name: new})))
    if event.account is not None:
        other = "JPY" if event.account.asset.spec == "USD" else "USD"
        new_account = dataclasses.replace(event.account, asset=other)  # type: ignore[arg-type]
        changed.append(encode(dataclasses.replace(event, account=new_account)))
    return changed


def attestation_field_mutations(event: LedgerEvent) -> list[bytes]:
    """An attestation with its timestamp, id, code and each digest bit in turn changed."""
    record = event.attestation
    assert record is not None
    later = dataclasses.replace(record, timestamp=record.timestamp + 1)
    changed = [
        dataclasses.replace(event, timestamp=later.timestamp, attestation=later),
        dataclasses.replace(event, attestation=dataclasses.replace(record, id=record.id ^ 1)),
        dataclasses.replace(event, attestation=dataclasses.replace(record, code=record.code ^ 1)),
    ]
    for bit in range(0, 256, 37):
        flipped = bytearray(record.digest)
        flipped[bit // 8] ^= 1 << bit % 8
        tampered = dataclasses.replace(record, digest=bytes(flipped))
        changed.append(dataclasses.replace(event, attestation=tampered))
    return [encode(item) for item in changed]


Mutation = tuple[str, Callable[[list[bytes], list[bytes]], tuple[list[bytes], list[bytes]]]]


def structural_mutations(leaves: list[bytes], notes: list[bytes]) -> list[Mutation]:
    """Named edits of the event and checkpoint lists."""
    result: list[Mutation] = []
    for i in range(len(leaves)):
        result.append((f"delete event {i}", lambda e, c, i=i: (e[:i] + e[i + 1 :], c)))
        result.append((f"duplicate event {i}", lambda e, c, i=i: (e[: i + 1] + e[i:], c)))
        if i + 1 < len(leaves):
            swap = lambda e, c, i=i: ([*e[:i], e[i + 1], e[i], *e[i + 2 :]], c)  # noqa: E731
            result.append((f"reorder events {i}", swap))
        for n, changed in enumerate(event_field_mutations(leaves[i])):
            edit = lambda e, c, i=i, x=changed: ([*e[:i], x, *e[i + 1 :]], c)  # noqa: E731
            result.append((f"event {i} field {n}", edit))
    for j in range(len(notes)):
        result.append((f"delete checkpoint {j}", lambda e, c, j=j: (e, c[:j] + c[j + 1 :])))
        result.append((f"duplicate checkpoint {j}", lambda e, c, j=j: (e, c[: j + 1] + c[j:])))
        if j + 1 < len(notes):
            swap = lambda e, c, j=j: (e, [*c[:j], c[j + 1], c[j], *c[j + 2 :]])  # noqa: E731
            result.append((f"reorder checkpoints {j}", swap))
            for line in (0, 1):
                result.append(
                    (
                        f"swap signature {line} of {j}",
                        lambda e, c, j=j, k=line: swap_sig(e, c, j, k),
                    )
                )
        result.append((f"strip ml-dsa of {j}", lambda e, c, j=j: (e, strip_signature(c, j))))
    for dropped in range(1, len(notes)):
        result.append((f"rollback {dropped}", lambda e, c, d=dropped: rollback(e, c, d)))
    return result


def swap_sig(e: list[bytes], c: list[bytes], j: int, line: int) -> tuple[list[bytes], list[bytes]]:
    def split(note: bytes) -> tuple[bytes, list[bytes]]:
        text, _, block = note.partition(b"\n\n")
        return text, block.splitlines(keepends=True)

    (text1, sigs1), (text2, sigs2) = split(c[j]), split(c[j + 1])
    sigs1[line], sigs2[line] = sigs2[line], sigs1[line]
    new = [text1 + b"\n\n" + b"".join(sigs1), text2 + b"\n\n" + b"".join(sigs2)]
    return e, c[:j] + new + c[j + 2 :]


def strip_signature(c: list[bytes], j: int) -> list[bytes]:
    return [*c[:j], c[j].rsplit(b"\n", 2)[0] + b"\n", *c[j + 1 :]]


def rollback(e: list[bytes], c: list[bytes], dropped: int) -> tuple[list[bytes], list[bytes]]:
    kept = c[:-dropped]
    size = int(parse_note(kept[-1]).text.split("\n")[1])
    return e[:size], kept


def check_structural(files: Files, signers: list[NoteSigner], sample: int | None) -> int:
    leaves, notes = records(files)
    last_note = notes[-1].decode()
    mutations = structural_mutations(leaves, notes)
    if sample is not None:
        mutations = random.Random(2026).sample(mutations, sample)
    for name, mutate in mutations:
        new_leaves, new_notes = mutate(list(leaves), list(notes))
        outsider = with_records(files, new_leaves, new_notes)
        assert outsider != files, name
        fails(outsider)  # the signed manifest no longer matches
        insider = resigned(signers, new_leaves, new_notes)
        if name.startswith("rollback"):
            verify_export_files(insider)  # a key holder's shorter history is consistent ...
            fails(insider, "pinned_checkpoint_missing", pinned_checkpoints=[last_note])
        else:
            fails(insider)
    return len(mutations)


def check_byte_flips(files: Files, step: int) -> int:
    count = 0
    for name in (EVENTS_FILE, CHECKPOINTS_FILE, KEYS_FILE, MANIFEST_FILE):
        content = files[name]
        for position in range(0, len(content), step):
            for mask in (0x01, 0x80):
                changed = bytearray(content)
                changed[position] ^= mask
                fails({**files, name: bytes(changed)})
                count += 1
        fails({**files, name: content[:-1]})
        fails({**files, name: content + b"\n"})
    return count


def test_mutation_sample_is_detected(node: tuple[Path, Files, list[NoteSigner]]) -> None:
    _, files, signers = node
    assert check_structural(files, signers, sample=60) == 60
    assert check_byte_flips(files, step=97) > 100


@pytest.mark.slow
def test_full_mutation_campaign_is_detected(node: tuple[Path, Files, list[NoteSigner]]) -> None:
    _, files, signers = node
    structural = check_structural(files, signers, sample=None)
    flips = check_byte_flips(files, step=1)
    print(f"\nmutation campaign: {structural} structural mutations, {flips} byte flips, all caught")


# -- replay rules, with a log re-sealed by a key holder -----------------------------------------


def sealed(signers: list[NoteSigner], events: list[LedgerEvent]) -> Files:
    """An export whose every checkpoint is validly signed: only the replay can object."""
    leaves = [encode(event) for event in events]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    notes, previous = [], GENESIS_PREVIOUS
    for size in range(1, len(leaves) + 1):
        text = Checkpoint(ORIGIN, size, merkle.root_hash(hashes[:size]), previous, size).text()
        notes.append(sign_note(text, signers))
        previous = checkpoint_hash(text)
    return build_export(ORIGIN, leaves, notes, signers)


def account(identifier: int, timestamp: int, asset: str = "USD", flags: int = 0) -> LedgerEvent:
    record = Account(id=identifier, asset=asset, code=1, flags=flags, timestamp=timestamp)  # type: ignore[arg-type]
    return LedgerEvent(LedgerEventKind.ACCOUNT_CREATED, timestamp, account=record)


def transfer(
    timestamp: int, identifier: int, debit: int, credit: int, amount: int, **fields: int
) -> LedgerEvent:
    record = Transfer(
        id=identifier,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        timestamp=timestamp,
        **fields,
    )
    return LedgerEvent(LedgerEventKind.TRANSFER_CREATED, timestamp, transfer=record)


def attestation(timestamp: int, identifier: int, digest: bytes, code: int = 1) -> LedgerEvent:
    record = Attestation(id=identifier, code=code, digest=digest, timestamp=timestamp)
    return LedgerEvent(LedgerEventKind.ATTESTATION_CREATED, timestamp, attestation=record)


PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING_TRANSFER)
VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
BASE = [account(1, 1), account(2, 2), account(3, 3, "JPY")]
REPLAY_CASES = {
    "replay_account_duplicate": [*BASE, account(1, 4)],
    "replay_account_missing": [*BASE, transfer(4, 9, 1, 7, 5)],
    "replay_asset_mismatch": [*BASE, transfer(4, 9, 1, 3, 5)],
    "replay_transfer_duplicate": [*BASE, transfer(4, 9, 1, 2, 5), transfer(5, 9, 1, 2, 5)],
    "replay_amount_zero": [*BASE, transfer(4, 9, 1, 2, 0)],
    "replay_pending_missing": [*BASE, transfer(4, 9, 1, 2, 5, pending_id=8, flags=POST)],
    "replay_pending_resolved": [
        *BASE,
        transfer(4, 8, 1, 2, 5, flags=PENDING),
        transfer(5, 9, 1, 2, 5, pending_id=8, flags=VOID),
        transfer(6, 10, 1, 2, 5, pending_id=8, flags=POST),
    ],
    "replay_hold_mismatch": [
        *BASE,
        transfer(4, 8, 1, 2, 5, flags=PENDING),
        transfer(5, 9, 1, 2, 6, pending_id=8, flags=POST),
    ],
    "replay_expiry_early": [
        *BASE,
        transfer(4, 8, 1, 2, 5, flags=PENDING, timeout=1),
        LedgerEvent(LedgerEventKind.PENDING_EXPIRED, 5, pending_id=8),
    ],
    "replay_attestation_duplicate": [
        *BASE,
        attestation(4, 9, ATTESTED[0]),
        attestation(5, 9, ATTESTED[0]),
    ],
    "replay_attestation_invalid": [*BASE, attestation(4, 9, bytes(32))],
    "replay_limit_broken": [
        *BASE,
        account(4, 4, flags=int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)),
        transfer(5, 9, 4, 1, 5),
    ],
}


@pytest.mark.parametrize("code", sorted(REPLAY_CASES))
def test_replay_refuses_what_the_ledger_never_does(
    code: str, node: tuple[Path, Files, list[NoteSigner]]
) -> None:
    fails(sealed(node[2], REPLAY_CASES[code]), code)


def test_replay_accepts_a_resealed_valid_history(
    node: tuple[Path, Files, list[NoteSigner]],
) -> None:
    events = [
        *BASE,
        transfer(4, 8, 1, 2, 5, flags=PENDING, timeout=1),
        LedgerEvent(LedgerEventKind.PENDING_EXPIRED, 4 + 10**9, pending_id=8),
        transfer(2 * 10**9, 9, 2, 1, 5, flags=PENDING),
        transfer(2 * 10**9 + 1, 10, 2, 1, 2, pending_id=9, flags=POST),
    ]
    report = verify_export_files(sealed(node[2], events))
    balances = {a.id: dataclasses.astuple(a)[2:] for a in report.accounts}
    assert balances == {1: (0, 0, 0, 2), 2: (0, 2, 0, 0), 3: (0, 0, 0, 0)}


def test_keys_file_must_be_canonical(node: tuple[Path, Files, list[NoteSigner]]) -> None:
    _, files, _ = node
    keys = files[KEYS_FILE].decode().splitlines()
    parse_verifier_key(keys[0])
    fails({**files, KEYS_FILE: ("\n".join(keys)).encode()}, "export_keys_invalid")
    fails({**files, KEYS_FILE: ("\n".join(reversed(keys)) + "\n").encode()})


def test_cli_export_verify_and_witness(tmp_path: Path) -> None:
    fill_ledger(tmp_path / "node")
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": tmp_path / "node"}

    register(app)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(app, ["audit", "export", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["audit", "verify", str(out)])
    assert result.exit_code == 0 and "trusted from the export itself" in result.output
    keys = (out / "keys.txt").read_text().split()
    result = runner.invoke(app, ["audit", "verify", str(out), "--key", keys[0], "--key", keys[1]])
    assert result.exit_code == 0 and "trusted from the export itself" not in result.output
    events = out / "events.bin"
    content = bytearray(events.read_bytes())
    content[-1] ^= 1
    events.write_bytes(bytes(content))
    result = runner.invoke(app, ["audit", "verify", str(out)])
    assert result.exit_code == 1 and "export_file_hash_mismatch" in result.output
    witness_dir = ["--witness-dir", str(tmp_path / "witness")]
    assert (
        runner.invoke(app, ["witness", "init", "auditor.example/w1", *witness_dir]).exit_code == 0
    )
    result = runner.invoke(app, ["witness", "add-log", ORIGIN, *keys, *witness_dir])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["witness", "sync", str(tmp_path / "node"), *witness_dir])
    assert result.exit_code == 0 and "cosigned" in result.output, result.output
    result = runner.invoke(app, ["witness", "show", ORIGIN, *witness_dir])
    assert result.exit_code == 0 and result.output.count("— ") == 3
