"""Publishing checkpoints: a node keeps the cosignatures its witnesses return, and a checkpoint
counts as published only once k of the configured witnesses cosigned it.

Guarantees:
- The witnesses and k are the node's settings (`node.toml`: `witnesses`, `witnesses_required`).
- `add_cosignature(data_directory, note)` takes a checkpoint note as a witness returns it (the
  node's note with cosignature lines appended, e.g. `clearline witness show`). It keeps a
  cosignature only when the note is signed by every key of the node and the cosignature verifies
  under one of the configured witness keys (`witness.verify_cosignature`); a bad cosignature by a
  configured witness is refused (`cosignature_invalid`), lines by other keys are ignored. Storage
  is `cosignatures.sqlite3` in the data directory, separate from the ledger's database, so it can
  be written while the ledger runs; one row per (checkpoint size, witness).
- `published_note` is the latest checkpoint with at least k distinct configured witnesses'
  cosignatures, as a cosigned note (the node's note, then those cosignature lines); with k = 0,
  the log's latest checkpoint. Cosignatures are verified again when read.
- `cosigned_notes` gives every checkpoint that has stored cosignatures, as cosigned notes, for
  exports.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clearline.chain.keys import (
    KEY_DIRECTORY,
    KEY_FILES,
    MLDSA65,
    NoteVerifier,
    load_or_create_signers,
)
from clearline.chain.node import load_node_config
from clearline.chain.notes import NoteSignature, open_note, parse_checkpoint, parse_note
from clearline.chain.reader import ChainLog
from clearline.chain.witness import (
    CosignatureInvalid,
    WitnessError,
    WitnessVerifier,
    cosignature_line,
    parse_witness_key,
    verify_cosignature,
    witness_key_string,
)
from clearline.core.errors import ClearlineError

COSIGNATURES_FILE = "cosignatures.sqlite3"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cosignatures(size INTEGER NOT NULL, witness TEXT NOT NULL,"
    " line TEXT NOT NULL, PRIMARY KEY(size, witness))",
    "CREATE TABLE IF NOT EXISTS cosigned_checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL)",
)


class PublishError(ClearlineError, ValueError):
    code = "publish_refused"


@contextmanager
def _database(data_directory: Path) -> Iterator[sqlite3.Connection]:
    path = Path(data_directory) / COSIGNATURES_FILE
    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        path.chmod(0o600)
        for statement in _SCHEMA:
            connection.execute(statement)
        yield connection
    finally:
        connection.close()


def configured_witnesses(data_directory: Path) -> tuple[list[WitnessVerifier], int]:
    """The node's witness keys and how many must cosign (`node.toml`)."""
    config = load_node_config(data_directory)
    if config is None:
        return [], 0
    return [parse_witness_key(key) for key in config.witnesses], config.witnesses_required


def _node_verifiers(data_directory: Path, origin: str) -> list[NoteVerifier]:
    keys = Path(data_directory) / KEY_DIRECTORY
    ml_dsa = (keys / KEY_FILES[MLDSA65]).exists()
    return [s.verifier for s in load_or_create_signers(data_directory, origin, ml_dsa=ml_dsa)]


def _split(note: str, witnesses: list[WitnessVerifier]) -> tuple[str, list[tuple[str, str]]]:
    """The node's part of a cosigned note, and (witness key, line) for each valid cosignature
    by a configured witness."""
    parsed = parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    node_lines, cosignatures = [], []
    for signature in parsed.signatures:
        witness = known.get((signature.name, signature.key_id))
        if witness is None:
            node_lines.append(signature)
            continue
        time_s = verify_cosignature(parsed.text, signature, witness)
        line = cosignature_line(witness, time_s, signature.signature[8:])
        cosignatures.append((witness_key_string(witness), line))
    return _render(parsed.text, node_lines), cosignatures


def _render(text: str, signatures: list[NoteSignature]) -> str:
    lines = "".join(
        f"— {s.name} {base64.b64encode(s.key_id.to_bytes(4, 'big') + s.signature).decode()}\n"
        for s in signatures
    )
    return f"{text}\n{lines}"


def add_cosignature(data_directory: Path, note: str) -> int:
    """Keep the configured witnesses' cosignatures of `note` (see the module docstring); returns
    how many distinct configured witnesses have cosigned that checkpoint now."""
    witnesses, _ = configured_witnesses(data_directory)
    if not witnesses:
        raise PublishError("node.toml names no witnesses", code="witnesses_not_configured")
    text = parse_note(note).text
    checkpoint = parse_checkpoint(text)
    node_note, cosignatures = _split(note, witnesses)
    verifiers = _node_verifiers(data_directory, checkpoint.origin)
    signed = {(s.name, s.key_id) for s in open_note(node_note, verifiers).signatures}
    if any((v.name, v.key_id) not in signed for v in verifiers):
        raise PublishError("the checkpoint is not signed by every node key", code="note_unverified")
    if not cosignatures:
        raise CosignatureInvalid("no cosignature by a configured witness")
    with _database(data_directory) as connection:
        connection.execute("BEGIN IMMEDIATE")
        stored = connection.execute(
            "SELECT note FROM cosigned_checkpoints WHERE size = ?", (checkpoint.size,)
        ).fetchone()
        if stored is not None and parse_note(str(stored[0])).text != text:
            connection.execute("ROLLBACK")
            raise WitnessError(
                "another checkpoint of this size was cosigned", code="checkpoint_fork"
            )
        connection.execute(
            "INSERT OR IGNORE INTO cosigned_checkpoints VALUES(?, ?)", (checkpoint.size, node_note)
        )
        connection.executemany(
            "INSERT OR REPLACE INTO cosignatures VALUES(?, ?, ?)",
            [(checkpoint.size, key, line) for key, line in cosignatures],
        )
        connection.execute("COMMIT")
        count = connection.execute(
            "SELECT COUNT(*) FROM cosignatures WHERE size = ?", (checkpoint.size,)
        ).fetchone()
    return int(count[0])


def cosigned_notes(data_directory: Path, up_to_size: int | None = None) -> list[str]:
    """Every checkpoint with stored cosignatures (at most `up_to_size`), oldest first, as the
    node's note followed by the cosignature lines (sorted by witness key)."""
    if not (Path(data_directory) / COSIGNATURES_FILE).exists():
        return []
    with _database(data_directory) as connection:
        notes = connection.execute(
            "SELECT size, note FROM cosigned_checkpoints ORDER BY size"
        ).fetchall()
        result = []
        for size, note in notes:
            if up_to_size is not None and size > up_to_size:
                break
            lines = connection.execute(
                "SELECT line FROM cosignatures WHERE size = ? ORDER BY witness", (size,)
            ).fetchall()
            result.append(str(note) + "".join(str(row[0]) for row in lines))
    return result


def published_note(data_directory: Path, log: ChainLog) -> str | None:
    """The latest published checkpoint as a cosigned note (None when none is): with k = 0 the
    log's latest checkpoint, otherwise the latest with k configured witnesses' cosignatures."""
    witnesses, required = configured_witnesses(data_directory)
    if required == 0:
        return log.latest_checkpoint_note()
    for note in reversed(cosigned_notes(data_directory)):
        _, valid = _split(note, witnesses)
        if len({key for key, _ in valid}) >= required:
            return note
    return None
