"""An export of a node's settlement log: its format, and how a node writes one.

Guarantees:
- `export_log` writes, from `ChainLog`'s public reads only, a self-contained directory (layout in
  docs/chain.md, "Export and offline audit"): every event's canonical bytes (`events.bin`), every
  signed checkpoint note (`checkpoints.bin`), the node's verifier keys (`keys.txt`), the
  checkpoints witnesses cosigned (`cosigned.bin`), a manifest (`manifest.note`) giving the
  SHA-256 of each of those files, signed with the node's keys, and a `README.md` describing the
  files. The export is cut at the last checkpoint it read, so a log that grows meanwhile still
  gives a consistent export.
- `frame` / `unframe` are the only readers and writers of the length-prefixed records; `unframe`
  refuses a truncated, oversized or trailing record.
- Every refusal, here and in the audit (`audit.py`, `replay.py`), is an `AuditFailure` whose `code`
  names the rule.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from clearline.chain.keys import (
    ED25519,
    KEY_DIRECTORY,
    KEY_FILES,
    MLDSA65,
    NoteSigner,
    key_history,
    load_next_signers,
    load_or_create_signers,
    verifier_key_string,
)
from clearline.chain.log import ChainLog
from clearline.chain.notes import (
    NOTE_BYTES_MAX,
    Checkpoint,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from clearline.chain.publish import cosigned_notes
from clearline.core.errors import ClearlineError

EXPORT_FORMAT = "clearline-export/v2"
EVENTS_FILE = "events.bin"
CHECKPOINTS_FILE = "checkpoints.bin"
KEYS_FILE = "keys.txt"
COSIGNED_FILE = "cosigned.bin"
MANIFEST_FILE = "manifest.note"
README_FILE = "README.md"
HASHED_FILES = (EVENTS_FILE, CHECKPOINTS_FILE, KEYS_FILE, COSIGNED_FILE)
EXPORT_FILES = (*HASHED_FILES, MANIFEST_FILE)
RECORD_LENGTH = struct.Struct(">I")
"""Each record of events.bin and checkpoints.bin: a 4-byte big-endian length, then the bytes."""
RECORD_BYTES_MAX = NOTE_BYTES_MAX
LEAVES_PER_READ = 65_536
"""Leaves read from the log per query while exporting."""
SIGNATURE_PREFIX = "— "


class AuditFailure(ClearlineError, ValueError):
    """An export does not hold; `code` names the rule that failed (e.g. `checkpoint_root_mismatch`,
    `export_file_hash_mismatch`, `replay_unbalanced`), the message says where."""

    code = "audit_failed"


def fail(code: str, message: str) -> AuditFailure:
    return AuditFailure(message, code=code)


def frame(records: Sequence[bytes]) -> bytes:
    """Length-prefixed records: 4-byte big-endian length ‖ bytes, for each."""
    return b"".join(RECORD_LENGTH.pack(len(record)) + record for record in records)


def unframe(data: bytes, what: str) -> list[bytes]:
    """The records of `frame`; refuses a truncated, oversized or trailing record."""
    records: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + RECORD_LENGTH.size > len(data):
            raise fail("export_framing_invalid", f"{what}: truncated length at byte {offset}")
        (length,) = RECORD_LENGTH.unpack_from(data, offset)
        start, offset = offset + RECORD_LENGTH.size, offset + RECORD_LENGTH.size + length
        if length > RECORD_BYTES_MAX or offset > len(data):
            raise fail("export_framing_invalid", f"{what}: record {len(records)} overruns")
        records.append(data[start:offset])
    return records


def manifest_text(
    origin: str,
    files: Mapping[str, bytes],
    events: int,
    checkpoints: int,
    digests: Mapping[str, str] | None = None,
) -> str:
    """The manifest note body: format, origin, counts and the SHA-256 of each hashed file (from
    `digests`, hex, for a file written as a stream, otherwise of its bytes in `files`)."""
    lines = [EXPORT_FORMAT, f"origin {origin}", f"events {events}", f"checkpoints {checkpoints}"]
    for name in HASHED_FILES:
        digest = (digests or {}).get(name) or hashlib.sha256(files[name]).hexdigest()
        lines.append(f"sha256 {name} {digest}")
    return "\n".join(lines) + "\n"


ProgressCallback = Callable[[str, int, int], None]
"""`(phase, done, total)`, called as long work goes on (`export`, `hash`, `replay`)."""


def _checkpoint_of(note: str) -> Checkpoint:
    return parse_checkpoint(parse_note(note).text)


def build_export(
    origin: str,
    leaves: Sequence[bytes],
    notes: Sequence[str],
    signers: Sequence[NoteSigner],
    cosigned: Sequence[str] = (),
    key_history: Sequence[str] | None = None,
    *,
    streamed_events: tuple[int, str] | None = None,
) -> dict[str, bytes]:
    """The files of an export (README included) of these leaves and notes, with the witness
    cosigned checkpoints the node holds, signed by `signers` (the keys in force); `keys.txt`
    lists `key_history` (every key the log used, after rotations) or the signers' keys. With
    `streamed_events` (count, hex SHA-256), `events.bin` was written elsewhere and is left out."""
    keys = key_history or [verifier_key_string(s.verifier) for s in signers]
    files = {
        CHECKPOINTS_FILE: frame([note.encode() for note in notes]),
        KEYS_FILE: "".join(key + "\n" for key in keys).encode(),
        COSIGNED_FILE: frame([note.encode() for note in cosigned]),
    }
    if streamed_events is None:
        files[EVENTS_FILE] = frame(leaves)
        count, digests = len(leaves), {}
    else:
        count, digests = streamed_events[0], {EVENTS_FILE: streamed_events[1]}
    text = manifest_text(origin, files, count, len(notes), digests)
    files[MANIFEST_FILE] = sign_note(text, signers).encode()
    files[README_FILE] = README.encode()
    return files


def node_signers(
    data_directory: Path, origin: str, in_force: Sequence[str] | None = None
) -> list[NoteSigner]:
    """The node's existing signers, or those of the keys `in_force` (announced by the last
    rotation; they may still be the prepared next keys); never creates keys."""
    keys = Path(data_directory) / KEY_DIRECTORY
    if not (keys / KEY_FILES[ED25519]).exists():
        raise fail("node_keys_missing", f"no node keys in {keys}")
    ml_dsa = (keys / KEY_FILES[MLDSA65]).exists()
    current = load_or_create_signers(data_directory, origin, ml_dsa=ml_dsa)
    if not in_force:
        return current
    pool = {verifier_key_string(s.verifier): s for s in current}
    pool.update(
        (verifier_key_string(s.verifier), s) for s in load_next_signers(data_directory, origin)
    )
    missing = [key for key in in_force if key not in pool]
    if missing:
        raise fail("node_keys_missing", f"the key in force {missing[0][:40]}… is not in {keys}")
    return [pool[key] for key in in_force]


def export_log(
    data_directory: Path, out_directory: Path, progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Write the export of the log in `data_directory` to `out_directory` (created; must be empty
    or absent). Events are streamed to `events.bin` `LEAVES_PER_READ` at a time, so memory does
    not grow with the log. Returns counts: events, checkpoints."""
    out = Path(out_directory)
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise fail("export_directory_not_empty", f"{out} is not empty")
    with ChainLog(data_directory) as log:
        notes = log.checkpoint_notes()
        if not notes:
            raise fail("log_empty", f"{data_directory} holds no checkpoint")
        last = parse_checkpoint(parse_note(notes[-1]).text)
        digest = hashlib.sha256()
        with (out / EVENTS_FILE).open("wb") as stream:
            for begin in range(0, last.size, LEAVES_PER_READ):
                end = min(last.size, begin + LEAVES_PER_READ)
                chunk = frame(log.leaves(begin, end))
                stream.write(chunk)
                digest.update(chunk)
                if progress is not None:
                    progress("export", end, last.size)
    cosigned = cosigned_notes(data_directory, up_to_size=last.size)
    rotations = [c.keys for c in map(_checkpoint_of, notes) if c.keys]
    signers = node_signers(data_directory, last.origin, rotations[-1] if rotations else None)
    history = None
    if rotations:
        history = key_history(data_directory, last.origin)
        history += [key for keys in rotations for key in keys if key not in history]
    streamed = (last.size, digest.hexdigest())
    files = build_export(
        last.origin, [], notes, signers, cosigned, history, streamed_events=streamed
    )
    for name, content in files.items():
        (out / name).write_bytes(content)
    return {"events": last.size, "checkpoints": len(notes)}


README = f"""# Clearline settlement log export ({EXPORT_FORMAT})

Check it offline with `clearline audit verify <this directory>` (add `--key` for the node keys you
trust, `--checkpoint` for a signed checkpoint you saw elsewhere). This README is not verified.

- `{EVENTS_FILE}`: every ledger event, oldest first, as records (a 4-byte big-endian length,
  then the event's canonical bytes; docs/chain.md, "Event encoding, version 1"). Record i is
  leaf i: leaf hash = SHA-256(0x00 ‖ bytes).
- `{CHECKPOINTS_FILE}`: every signed checkpoint note (C2SP signed note, UTF-8), oldest first, in
  the same length-prefixed records.
- `{KEYS_FILE}`: the node's verifier keys, one per line, `name+keyid+base64(type ‖ public key)`
  (Ed25519: type 01; ML-DSA-65: type ff + `clearline.dev/ml-dsa-65`).
- `{COSIGNED_FILE}`: checkpoints witnesses cosigned, oldest first, in the same records: each is a
  note of `{CHECKPOINTS_FILE}`, byte for byte, followed by tlog-cosignature lines (type 04).
- `{MANIFEST_FILE}`: a note signed by the node's keys: `{EXPORT_FORMAT}`, the origin, the numbers
  of events and checkpoints, and `sha256 <file> <hex>` for each of the four files above.

An export shows that these events produced these signed checkpoints and balances. It cannot show
by itself that it is the node's latest history: compare with a checkpoint cosigned by a witness.
"""
