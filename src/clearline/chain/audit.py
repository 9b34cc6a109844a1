"""Audit an export of a node's settlement log without the node (the export: `export.py`).

Guarantees:
- `verify_export_files` is pure: it takes the files' bytes and the auditor's pins and returns an
  `AuditReport` or raises `AuditFailure` whose `code` names the first inconsistency. It checks, in
  this order: the set of files; the keys; the manifest's signatures and each file's hash; the
  framing and canonical decoding of every event and note; every checkpoint's signatures (every
  trusted key must have signed, every signature present must verify, and a signature from a key the
  export does not list is refused), its origin, strictly increasing size, the SHA-256 link to the
  previous checkpoint, its root recomputed from the leaves; that the last checkpoint covers every
  event; each pinned checkpoint appears verbatim; and finally a replay of the events under the
  ledger's rules (`replay.py`) that recomputes every account's four balances and checks per
  asset Σ debits = Σ credits, posted and pending, and counts the transfers and attestations.
- The export's names (`export_log`, `build_export`, `frame`, file names …) are re-exported here,
  so `clearline.chain.audit` stays the one import for both sides.
- Every byte of every file but the README is covered: a changed byte breaks the manifest hash or
  its signature, and every parser used is canonical (it re-renders what it parsed and compares), so
  no two byte strings pass as the same content.
- What an export alone cannot show: that it is the latest. A node holding its own keys can write a
  consistent shorter history; pin a checkpoint you saw later (a witness-cosigned one) to catch that.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from clearline.chain import merkle
from clearline.chain.export import (
    CHECKPOINTS_FILE,
    COSIGNED_FILE,
    EVENTS_FILE,
    EXPORT_FILES,
    EXPORT_FORMAT,
    HASHED_FILES,
    KEYS_FILE,
    LEAVES_PER_READ,
    MANIFEST_FILE,
    README,
    README_FILE,
    RECORD_BYTES_MAX,
    RECORD_LENGTH,
    SIGNATURE_PREFIX,
    AuditFailure,
    ProgressCallback,
    build_export,
    export_log,
    fail,
    frame,
    manifest_text,
    node_signers,
    unframe,
)
from clearline.chain.keys import (
    NoteVerifier,
    parse_verifier_key,
    verifier_key_string,
)
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    SignedNote,
    checkpoint_hash,
    parse_checkpoint,
    parse_note,
)
from clearline.chain.replay import PROGRESS_EVERY, AccountBalances, Replayed, replay
from clearline.chain.witness import (
    WitnessError,
    WitnessVerifier,
    verify_cosignature,
    witness_key_string,
)
from clearline.core.errors import ClearlineError

__all__ = [
    "CHECKPOINTS_FILE",
    "COSIGNED_FILE",
    "EVENTS_FILE",
    "EXPORT_FILES",
    "EXPORT_FORMAT",
    "HASHED_FILES",
    "KEYS_FILE",
    "LEAVES_PER_READ",
    "MANIFEST_FILE",
    "PROGRESS_EVERY",
    "README",
    "README_FILE",
    "RECORD_BYTES_MAX",
    "RECORD_LENGTH",
    "SIGNATURE_PREFIX",
    "AccountBalances",
    "AuditFailure",
    "AuditReport",
    "ProgressCallback",
    "Replayed",
    "build_export",
    "export_log",
    "frame",
    "manifest_text",
    "node_signers",
    "read_export",
    "unframe",
    "verify_export",
    "verify_export_files",
]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit checked: `origin`, counts, the last checkpoint's size and root, the keys it
    trusted, which of them it took from the export itself (`keys_on_trust`, empty when pinned),
    every account's recomputed balances, and how many transfers and attestations were replayed."""

    origin: str
    events: int
    checkpoints: int
    signatures: int
    root: bytes
    trusted_keys: tuple[str, ...]
    keys_on_trust: tuple[str, ...]
    accounts: tuple[AccountBalances, ...]
    cosigned: int = 0
    """Checkpoints the export carries witness cosignatures for."""
    witness_keys: tuple[str, ...] = ()
    """The witness keys the auditor pinned (only these cosignatures are verified)."""
    published_size: int | None = None
    """The largest checkpoint with at least `min_witnesses` valid pinned cosignatures."""
    transfers: int = 0
    """Transfers replayed."""
    attestations: int = 0
    """Attestations replayed (each a leaf whose digest the checkpoints now vouch for)."""


def _signature_line(name: str, key_id: int, signature: bytes) -> str:
    blob = base64.b64encode(key_id.to_bytes(4, "big") + signature).decode()
    return f"{SIGNATURE_PREFIX}{name} {blob}\n"


def _canonical_note(data: bytes, what: str) -> SignedNote:
    try:
        note = parse_note(data)
    except ClearlineError as error:
        raise fail("note_malformed", f"{what}: {error}") from error
    lines = "".join(_signature_line(s.name, s.key_id, s.signature) for s in note.signatures)
    if (note.text + "\n" + lines).encode() != data:
        raise fail("note_not_canonical", f"{what}: bytes are not the canonical note")
    return note


def _check_signatures(
    note: SignedNote, known: Mapping[tuple[str, int], NoteVerifier], required: set[str], what: str
) -> int:
    """Every signature must come from a known key and verify; every required key must sign."""
    message, signed = note.text.encode(), set()
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            raise fail(
                "signature_key_unknown",
                f"{what}: signature by {signature.name}+{signature.key_id:08x}, not an export key",
            )
        if not verifier.verify(message, signature.signature):
            raise fail(
                "signature_invalid", f"{what}: signature by {verifier_key_string(verifier)[:60]}"
            )
        signed.add(verifier_key_string(verifier))
    missing = required - signed
    if missing:
        raise fail("signature_missing", f"{what}: not signed by {sorted(missing)[0][:60]}")
    return len(note.signatures)


def _parse_keys(data: bytes) -> list[NoteVerifier]:
    try:
        text = data.decode("ascii")
        verifiers = [parse_verifier_key(line) for line in text.splitlines()]
    except (UnicodeDecodeError, ClearlineError) as error:
        raise fail("export_keys_invalid", f"{KEYS_FILE}: {error}") from error
    rendered = "".join(verifier_key_string(v) + "\n" for v in verifiers)
    if not verifiers or rendered != text:
        raise fail("export_keys_invalid", f"{KEYS_FILE} is not one canonical key per line")
    return verifiers


def _check_manifest(
    files: Mapping[str, bytes], note: SignedNote, origin: str, events: int, checkpoints: int
) -> None:
    expected = manifest_text(origin, files, events, checkpoints)
    if note.text == expected:
        return
    for want, got in zip(expected.splitlines(), note.text.splitlines(), strict=False):
        if want != got:
            code = "export_file_hash_mismatch" if want.startswith("sha256") else "manifest_mismatch"
            raise fail(code, f"{MANIFEST_FILE} says {got!r}, the export gives {want!r}")
    raise fail("manifest_mismatch", f"{MANIFEST_FILE} has the wrong number of lines")


def _manifest_origin(note: SignedNote) -> str:
    lines = note.text.splitlines()
    if len(lines) < 2 or lines[0] != EXPORT_FORMAT or not lines[1].startswith("origin "):
        raise fail("manifest_mismatch", f"{MANIFEST_FILE} is not a {EXPORT_FORMAT} manifest")
    return lines[1].removeprefix("origin ")


# -- verification: checkpoints ------------------------------------------------------------------


def _verify_checkpoints(
    notes: Sequence[bytes],
    leaf_hashes: Sequence[bytes],
    origin: str,
) -> list[Checkpoint]:
    """Parse, link and recompute the root of every checkpoint (signatures are checked by the
    caller); the last one must cover every leaf."""
    checkpoints: list[Checkpoint] = []
    previous, frontier = GENESIS_PREVIOUS, merkle.Frontier()
    for position, data in enumerate(notes):
        what = f"checkpoint {position}"
        text = parse_note(data).text
        try:
            checkpoint = parse_checkpoint(text)
        except ClearlineError as error:
            raise fail("checkpoint_malformed", f"{what}: {error}") from error
        if checkpoint.origin != origin:
            raise fail("checkpoint_origin_mismatch", f"{what} is for {checkpoint.origin!r}")
        if checkpoint.size <= frontier.size and checkpoints:
            raise fail("checkpoint_size_not_increasing", f"{what} has size {checkpoint.size}")
        if checkpoint.size > len(leaf_hashes):
            raise fail("checkpoint_beyond_events", f"{what} covers {checkpoint.size} events")
        if checkpoint.previous_hash != previous:
            raise fail("checkpoint_chain_broken", f"{what} does not link to the one before")
        if checkpoints and checkpoint.time_ns < checkpoints[-1].time_ns:
            raise fail("checkpoint_time_decreasing", f"{what} is older than the one before")
        frontier, _ = merkle.append_many(frontier, leaf_hashes[frontier.size : checkpoint.size])
        if frontier.root() != checkpoint.root:
            raise fail(
                "checkpoint_root_mismatch",
                f"{what} (size {checkpoint.size}) root differs from the events' root",
            )
        checkpoints.append(checkpoint)
        previous = checkpoint_hash(text)
    if not checkpoints or checkpoints[-1].size != len(leaf_hashes):
        covered = checkpoints[-1].size if checkpoints else 0
        raise fail(
            "events_beyond_checkpoint", f"{len(leaf_hashes)} events, last checkpoint {covered}"
        )
    return checkpoints


# -- verification: the whole export -------------------------------------------------------------


def _check_file_set(files: Mapping[str, bytes]) -> None:
    for name in EXPORT_FILES:
        if name not in files:
            raise fail("export_file_missing", f"{name} is missing")
    for name in sorted(files):
        if name not in (*EXPORT_FILES, README_FILE):
            raise fail("export_file_unexpected", f"{name} is not part of an export")


def _announced_keys(text: str) -> tuple[str, ...]:
    try:
        return parse_checkpoint(text).keys
    except ClearlineError:
        return ()  # reported as `checkpoint_malformed` in order


def _rotations(data: bytes) -> list[tuple[str, ...]]:
    """The keys each rotation checkpoint announces, in order (a tolerant first pass: whatever
    does not parse is reported later, in order)."""
    rotations: list[tuple[str, ...]] = []
    if b"\nkey " not in data:  # no rotation (the usual case): skip the parse
        return rotations
    try:
        for record in unframe(data, CHECKPOINTS_FILE):
            keys = _announced_keys(parse_note(record).text)
            if keys:
                rotations.append(keys)
    except ClearlineError:
        return []
    return rotations


def _check_cosigned(
    records: Sequence[bytes],
    notes: Sequence[bytes],
    witnesses: Sequence[WitnessVerifier],
    min_witnesses: int,
) -> int | None:
    """Each cosigned record is a checkpoint note of the export, byte for byte, followed by
    cosignature lines; those by pinned witnesses must verify. Returns the largest size that
    `min_witnesses` of them cosigned (None when none)."""
    by_text = {parse_note(note).text: note for note in notes}
    known = {(w.name, w.key_id): w for w in witnesses}
    published, last_size = None, -1
    for position, record in enumerate(records):
        what = f"cosigned {position}"
        note = _canonical_note(record, what)
        original = by_text.get(note.text)
        if original is None or not record.startswith(original):
            raise fail("cosigned_checkpoint_unknown", f"{what} is not a checkpoint of the export")
        size = parse_checkpoint(note.text).size
        if size <= last_size:
            raise fail("cosigned_order_invalid", f"{what} (size {size}) is out of order")
        last_size, valid = size, set()
        extra = note.signatures[len(parse_note(original).signatures) :]
        for signature in extra:
            witness = known.get((signature.name, signature.key_id))
            if witness is None:
                continue
            try:
                verify_cosignature(note.text, signature, witness)
            except WitnessError as error:
                raise fail("cosignature_invalid", f"{what}: {error}") from error
            valid.add(witness_key_string(witness))
        if witnesses and len(valid) >= max(min_witnesses, 1):
            published = size
    if min_witnesses and published is None:
        raise fail(
            "cosignatures_too_few",
            f"no checkpoint has {min_witnesses} valid cosignatures from the pinned witnesses",
        )
    return published


def verify_export_files(
    files: Mapping[str, bytes],
    pinned_keys: Sequence[NoteVerifier] = (),
    pinned_checkpoints: Sequence[str] = (),
    witness_keys: Sequence[WitnessVerifier] = (),
    min_witnesses: int = 0,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Audit an export given as {file name: bytes}. `pinned_keys`: the keys the auditor trusts
    (default: those of keys.txt, reported as taken on trust). `pinned_checkpoints`: signed notes
    the auditor saw elsewhere; each must appear verbatim in the export. `witness_keys`: witness
    keys whose cosignatures (in `cosigned.bin`) are verified; `min_witnesses`: how many of them
    must have cosigned one checkpoint at least (`cosignatures_too_few` otherwise)."""
    if min_witnesses > len(witness_keys):
        raise fail(
            "cosignatures_too_few", f"{min_witnesses} witnesses asked, {len(witness_keys)} keys"
        )
    _check_file_set(files)
    export_keys = _parse_keys(files[KEYS_FILE])
    known = {(v.name, v.key_id): v for v in [*export_keys, *pinned_keys]}
    rotations = _rotations(files[CHECKPOINTS_FILE])
    announced = {key for keys in rotations for key in keys}
    root = pinned_keys or [v for v in export_keys if verifier_key_string(v) not in announced]
    if not root:
        raise fail("export_keys_invalid", f"{KEYS_FILE} has no key the log started with")
    required = {verifier_key_string(v) for v in root}
    in_force = set(rotations[-1]) if rotations else required
    manifest = _canonical_note(files[MANIFEST_FILE], MANIFEST_FILE)
    signatures = _check_signatures(manifest, known, in_force, MANIFEST_FILE)
    origin = _manifest_origin(manifest)
    leaves = unframe(files[EVENTS_FILE], EVENTS_FILE)
    notes = unframe(files[CHECKPOINTS_FILE], CHECKPOINTS_FILE)
    cosigned = unframe(files[COSIGNED_FILE], COSIGNED_FILE)
    _check_manifest(files, manifest, origin, len(leaves), len(notes))
    trusted = set(required)
    for position, data in enumerate(notes):
        note = _canonical_note(data, f"checkpoint {position}")
        signatures += _check_signatures(note, known, required, f"checkpoint {position}")
        keys = _announced_keys(note.text)
        if keys:  # a rotation, signed by the keys in force: the new ones sign from now on
            required = set(keys)
            trusted |= required
    leaf_hashes: list[bytes] = []
    for begin in range(0, len(leaves), PROGRESS_EVERY):
        leaf_hashes += map(merkle.leaf_hash, leaves[begin : begin + PROGRESS_EVERY])
        if progress is not None:
            progress("hash", len(leaf_hashes), len(leaves))
    checkpoints = _verify_checkpoints(notes, leaf_hashes, origin)
    present = {bytes(note) for note in notes}
    for pinned in pinned_checkpoints:
        if pinned.encode() not in present:
            try:
                size = str(parse_checkpoint(parse_note(pinned).text).size)
            except ClearlineError:
                size = "(unreadable)"
            raise fail("pinned_checkpoint_missing", f"the pinned checkpoint of size {size}")
    published = _check_cosigned(cosigned, notes, witness_keys, min_witnesses)
    replayed = replay(leaves, progress)
    if progress is not None:
        progress("replay", len(leaves), len(leaves))
    return AuditReport(
        origin=origin,
        events=len(leaves),
        checkpoints=len(checkpoints),
        signatures=signatures,
        root=checkpoints[-1].root,
        trusted_keys=tuple(sorted(trusted)),
        keys_on_trust=() if pinned_keys else tuple(sorted(verifier_key_string(v) for v in root)),
        accounts=replayed.accounts,
        transfers=replayed.transfers,
        attestations=replayed.attestations,
        cosigned=len(cosigned),
        witness_keys=tuple(witness_key_string(w) for w in witness_keys),
        published_size=published,
    )


def read_export(directory: Path) -> dict[str, bytes]:
    """Every regular file of an export directory, by name (subdirectories are refused)."""
    files: dict[str, bytes] = {}
    for path in sorted(Path(directory).iterdir()):
        if not path.is_file():
            raise fail("export_file_unexpected", f"{path.name} is not a regular file")
        files[path.name] = path.read_bytes()
    return files


def verify_export(
    directory: Path,
    pinned_keys: Sequence[NoteVerifier] = (),
    pinned_checkpoints: Sequence[str] = (),
    witness_keys: Sequence[WitnessVerifier] = (),
    min_witnesses: int = 0,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Read an export directory and audit it (see `verify_export_files`; the export is held in
    memory: about 130 bytes per event, plus 32 per leaf hash)."""
    return verify_export_files(
        read_export(directory),
        pinned_keys,
        pinned_checkpoints,
        witness_keys,
        min_witnesses,
        progress,
    )
