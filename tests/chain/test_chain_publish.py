"""k-of-n witness cosignatures: the node stores what configured witnesses cosigned, a checkpoint
is published once k of them did, exports carry the cosigned checkpoints, and `verify` checks them
against the witness keys the auditor pins, refusing forged or missing cosignatures."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from clearline.chain.audit import (
    COSIGNED_FILE,
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
from clearline.chain.keys import verifier_key_string
from clearline.chain.log import ChainLog
from clearline.chain.node import NodeConfig, default_origin, save_node_config
from clearline.chain.notes import parse_checkpoint, parse_note
from clearline.chain.publish import add_cosignature, cosigned_notes, published_note
from clearline.chain.witness import (
    CosignatureInvalid,
    Witness,
    count_cosignatures,
    require_cosignatures,
)
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer


def grow(path: Path, first_id: int) -> None:
    with Ledger.open(path, clock=ManualClock(1_800_000_000 * 10**9 + first_id * 10**9)) as ledger:
        if first_id == 10:
            ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        ledger.create_transfers(
            [
                Transfer(id=first_id + n, debit_account_id=1, credit_account_id=2, amount=1, code=1)
                for n in range(3)
            ]
        )


def cosign(witness: Witness, node: Path) -> str:
    with ChainLog(node) as log:
        note = log.checkpoint_notes()[-1]
        size = parse_checkpoint(parse_note(note).text).size
        proof = log.consistency_proof(min(witness.last_size(origin(node)), size), size)
    return note + witness.cosign(note, proof)


def origin(node: Path) -> str:
    return default_origin(node)


@pytest.fixture
def network(tmp_path: Path) -> tuple[Path, list[Witness]]:
    node = tmp_path / "node"
    witnesses = [
        Witness.open(tmp_path / f"w{n}", f"auditor.example/w{n}", ManualClock()) for n in range(3)
    ]
    grow(node, 10)
    keys = [verifier_key_string(s.verifier) for s in node_signers(node, origin(node))]
    for witness in witnesses:
        witness.add_log(origin(node), keys)
    config = NodeConfig(
        origin(node), witnesses=tuple(w.key_string() for w in witnesses[:2]), witnesses_required=2
    )
    save_node_config(node, config)
    return node, witnesses


def test_a_checkpoint_is_published_once_k_witnesses_cosigned(
    network: tuple[Path, list[Witness]],
) -> None:
    node, (first, second, _) = network
    assert add_cosignature(node, cosign(first, node)) == 1
    with ChainLog(node) as log:
        assert published_note(node, log) is None  # 1 of 2
        size = log.size()
    assert add_cosignature(node, cosign(second, node)) == 2
    with ChainLog(node) as log:
        published = published_note(node, log)
    assert published is not None and parse_checkpoint(parse_note(published).text).size == size
    require_cosignatures(published, [first.verifier, second.verifier], 2)
    grow(node, 20)  # a newer checkpoint, cosigned by one witness only
    add_cosignature(node, cosign(first, node))
    with ChainLog(node) as log:
        assert published_note(node, log) == published
        assert log.size() > size
    assert len(cosigned_notes(node)) == 2


def test_forged_and_unconfigured_cosignatures_are_refused(
    network: tuple[Path, list[Witness]],
) -> None:
    node, (first, _, outsider) = network
    cosigned = cosign(first, node)
    head, _, tail = cosigned.rpartition("— ")
    flipped = tail[:-8] + ("A" if tail[-8] != "A" else "B") + tail[-7:]  # in the signature
    forged = head + "— " + flipped
    with pytest.raises(CosignatureInvalid, match="does not verify"):
        add_cosignature(node, forged)
    with pytest.raises(CosignatureInvalid, match="configured"):
        add_cosignature(node, cosign(outsider, node))
    assert cosigned_notes(node) == []


def test_exports_carry_cosignatures_and_verify_checks_them(
    network: tuple[Path, list[Witness]], tmp_path: Path
) -> None:
    node, (first, second, outsider) = network
    add_cosignature(node, cosign(first, node))
    add_cosignature(node, cosign(second, node))
    with ChainLog(node) as log:
        size = log.size()
    grow(node, 20)
    add_cosignature(node, cosign(first, node))
    export_log(node, tmp_path / "export")
    pins = [first.verifier, second.verifier]
    report = verify_export(tmp_path / "export", witness_keys=pins, min_witnesses=2)
    assert (report.cosigned, report.published_size) == (2, size)
    assert (
        verify_export(tmp_path / "export", witness_keys=pins, min_witnesses=1).published_size > size
    )
    assert verify_export(tmp_path / "export").published_size is None  # nothing pinned
    with pytest.raises(AuditFailure) as refused:
        verify_export(tmp_path / "export", witness_keys=[outsider.verifier], min_witnesses=1)
    assert refused.value.code == "cosignatures_too_few"
    files = read_export(tmp_path / "export")
    records = [r.decode() for r in unframe(files[COSIGNED_FILE], COSIGNED_FILE)]
    events = unframe(files["events.bin"], "events")
    notes = [n.decode() for n in unframe(files["checkpoints.bin"], "checkpoints")]
    signers = node_signers(node, origin(node))
    head, _, tail = records[0].rpartition("— ")
    flipped = tail[:-8] + ("A" if tail[-8] != "A" else "B") + tail[-7:]  # in the signature
    cases = {
        "cosignature_invalid": [head + "— " + flipped, records[1]],
        "cosigned_order_invalid": [records[1], records[0]],
        "cosigned_checkpoint_unknown": [records[0].replace("\n", "\n\n", 1)],
    }
    for code, cosigned in cases.items():  # an insider re-signs the manifest: still caught
        rebuilt = build_export(origin(node), events, notes, signers, cosigned)
        with pytest.raises(AuditFailure) as refused:
            verify_export_files(rebuilt, witness_keys=pins, min_witnesses=1)
        assert refused.value.code in (code, "note_malformed"), (code, refused.value.code)
    outsider_edit = {**files, COSIGNED_FILE: frame([records[0].encode()])}
    with pytest.raises(AuditFailure) as refused:
        verify_export_files(outsider_edit, witness_keys=pins)
    assert refused.value.code == "export_file_hash_mismatch"
    assert count_cosignatures(records[0], pins) == 2


def test_cli_rotate_deliver_published_and_verify_with_witnesses(tmp_path: Path) -> None:
    node = tmp_path / "node"
    grow(node, 10)
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": node}

    register(app)
    runner = CliRunner()
    witness_dir = ["--witness-dir", str(tmp_path / "w")]
    result = runner.invoke(app, ["witness", "init", "auditor.example/w", *witness_dir])
    witness_key = result.output.strip()
    keys = [verifier_key_string(s.verifier) for s in node_signers(node, origin(node))]
    assert (
        runner.invoke(app, ["witness", "add-log", origin(node), *keys, *witness_dir]).exit_code == 0
    )
    save_node_config(node, NodeConfig(origin(node), witnesses=(witness_key,), witnesses_required=1))
    result = runner.invoke(app, ["audit", "published"])
    assert result.exit_code == 1 and "no checkpoint is published" in result.output
    result = runner.invoke(app, ["audit", "rotate-key"])
    assert result.exit_code == 0 and result.output.count("+") >= 4, result.output
    grow(node, 20)  # the next checkpoint announces the new keys
    result = runner.invoke(app, ["witness", "sync", str(node), "--deliver", *witness_dir])
    assert result.exit_code == 0 and "delivered: 1" in result.output, result.output
    result = runner.invoke(app, ["audit", "published"])
    assert result.exit_code == 0 and result.output.count("— auditor.example/w ") == 1
    out = tmp_path / "export"
    assert runner.invoke(app, ["audit", "export", str(out)]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", str(out), "--witness-key", witness_key])
    assert result.exit_code == 0 and "published" in result.output, result.output
    result = runner.invoke(
        app, ["audit", "verify", str(out), "--witness-key", witness_key, "--min-witnesses", "2"]
    )
    assert result.exit_code == 1 and "cosignatures_too_few" in result.output
