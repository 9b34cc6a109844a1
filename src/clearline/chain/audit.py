"""Export a node's settlement log to a directory, and audit such an export without the node.

Guarantees:
- `export_log` writes, from `ChainLog`'s public reads only, a self-contained directory (layout in
  docs/chain.md, "Export and offline audit"): every event's canonical bytes (`events.bin`), every
  signed checkpoint note (`checkpoints.bin`), the node's verifier keys (`keys.txt`), a manifest
  (`manifest.note`) giving the SHA-256 of each of those files, signed with the node's keys, and a
  `README.md` describing the files. The export is cut at the last checkpoint it read, so a log that
  grows meanwhile still gives a consistent export.
- `verify_export_files` is pure: it takes the files' bytes and the auditor's pins and returns an
  `AuditReport` or raises `AuditFailure` whose `code` names the first inconsistency. It checks, in
  this order: the set of files; the keys; the manifest's signatures and each file's hash; the
  framing and canonical decoding of every event and note; every checkpoint's signatures (every
  trusted key must have signed, every signature present must verify, and a signature from a key the
  export does not list is refused), its origin, strictly increasing size, the SHA-256 link to the
  previous checkpoint, its root recomputed from the leaves; that the last checkpoint covers every
  event; each pinned checkpoint appears verbatim; and finally a replay of the events under the
  ledger's rules (docs/ledger.md) that recomputes every account's four balances and checks per
  asset Σ debits = Σ credits, posted and pending.
- Every byte of every file but the README is covered: a changed byte breaks the manifest hash or
  its signature, and every parser used is canonical (it re-renders what it parsed and compares), so
  no two byte strings pass as the same content.
- What an export alone cannot show: that it is the latest. A node holding its own keys can write a
  consistent shorter history; pin a checkpoint you saw later (a witness-cosigned one) to catch that.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clearline.chain import merkle
from clearline.chain.encoding import EncodingError, decode
from clearline.chain.keys import (
    ED25519,
    KEY_DIRECTORY,
    KEY_FILES,
    MLDSA65,
    NoteSigner,
    NoteVerifier,
    key_history,
    load_next_signers,
    load_or_create_signers,
    parse_verifier_key,
    verifier_key_string,
)
from clearline.chain.log import ChainLog
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    NOTE_BYTES_MAX,
    Checkpoint,
    SignedNote,
    checkpoint_hash,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from clearline.chain.publish import cosigned_notes
from clearline.chain.witness import (
    WitnessError,
    WitnessVerifier,
    verify_cosignature,
    witness_key_string,
)
from clearline.core.clock import NANOSECONDS_PER_SECOND
from clearline.core.errors import ClearlineError
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.types import AMOUNT_MAX, AccountFlags, TransferFlags

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
PROGRESS_EVERY = 65_536
"""Events between two progress reports while verifying."""
SIGNATURE_PREFIX = "— "


class AuditFailure(ClearlineError, ValueError):
    """An export does not hold; `code` names the rule that failed (e.g. `checkpoint_root_mismatch`,
    `export_file_hash_mismatch`, `replay_unbalanced`), the message says where."""

    code = "audit_failed"


def _fail(code: str, message: str) -> AuditFailure:
    return AuditFailure(message, code=code)


# -- export -------------------------------------------------------------------------------------


def frame(records: Sequence[bytes]) -> bytes:
    """Length-prefixed records: 4-byte big-endian length ‖ bytes, for each."""
    return b"".join(RECORD_LENGTH.pack(len(record)) + record for record in records)


def unframe(data: bytes, what: str) -> list[bytes]:
    """The records of `frame`; refuses a truncated, oversized or trailing record."""
    records: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + RECORD_LENGTH.size > len(data):
            raise _fail("export_framing_invalid", f"{what}: truncated length at byte {offset}")
        (length,) = RECORD_LENGTH.unpack_from(data, offset)
        start, offset = offset + RECORD_LENGTH.size, offset + RECORD_LENGTH.size + length
        if length > RECORD_BYTES_MAX or offset > len(data):
            raise _fail("export_framing_invalid", f"{what}: record {len(records)} overruns")
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
        raise _fail("node_keys_missing", f"no node keys in {keys}")
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
        raise _fail("node_keys_missing", f"the key in force {missing[0][:40]}… is not in {keys}")
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
        raise _fail("export_directory_not_empty", f"{out} is not empty")
    with ChainLog(data_directory) as log:
        notes = log.checkpoint_notes()
        if not notes:
            raise _fail("log_empty", f"{data_directory} holds no checkpoint")
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


# -- verification: files, keys, notes -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalances:
    """An account's balances recomputed by replay, in minor units of `asset`."""

    id: int
    asset: str
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What an audit checked: `origin`, counts, the last checkpoint's size and root, the keys it
    trusted, which of them it took from the export itself (`keys_on_trust`, empty when pinned),
    and every account's recomputed balances."""

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


def _signature_line(name: str, key_id: int, signature: bytes) -> str:
    blob = base64.b64encode(key_id.to_bytes(4, "big") + signature).decode()
    return f"{SIGNATURE_PREFIX}{name} {blob}\n"


def _canonical_note(data: bytes, what: str) -> SignedNote:
    try:
        note = parse_note(data)
    except ClearlineError as error:
        raise _fail("note_malformed", f"{what}: {error}") from error
    lines = "".join(_signature_line(s.name, s.key_id, s.signature) for s in note.signatures)
    if (note.text + "\n" + lines).encode() != data:
        raise _fail("note_not_canonical", f"{what}: bytes are not the canonical note")
    return note


def _check_signatures(
    note: SignedNote, known: Mapping[tuple[str, int], NoteVerifier], required: set[str], what: str
) -> int:
    """Every signature must come from a known key and verify; every required key must sign."""
    message, signed = note.text.encode(), set()
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            raise _fail(
                "signature_key_unknown",
                f"{what}: signature by {signature.name}+{signature.key_id:08x}, not an export key",
            )
        if not verifier.verify(message, signature.signature):
            raise _fail(
                "signature_invalid", f"{what}: signature by {verifier_key_string(verifier)[:60]}"
            )
        signed.add(verifier_key_string(verifier))
    missing = required - signed
    if missing:
        raise _fail("signature_missing", f"{what}: not signed by {sorted(missing)[0][:60]}")
    return len(note.signatures)


def _parse_keys(data: bytes) -> list[NoteVerifier]:
    try:
        text = data.decode("ascii")
        verifiers = [parse_verifier_key(line) for line in text.splitlines()]
    except (UnicodeDecodeError, ClearlineError) as error:
        raise _fail("export_keys_invalid", f"{KEYS_FILE}: {error}") from error
    rendered = "".join(verifier_key_string(v) + "\n" for v in verifiers)
    if not verifiers or rendered != text:
        raise _fail("export_keys_invalid", f"{KEYS_FILE} is not one canonical key per line")
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
            raise _fail(code, f"{MANIFEST_FILE} says {got!r}, the export gives {want!r}")
    raise _fail("manifest_mismatch", f"{MANIFEST_FILE} has the wrong number of lines")


def _manifest_origin(note: SignedNote) -> str:
    lines = note.text.splitlines()
    if len(lines) < 2 or lines[0] != EXPORT_FORMAT or not lines[1].startswith("origin "):
        raise _fail("manifest_mismatch", f"{MANIFEST_FILE} is not a {EXPORT_FORMAT} manifest")
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
            raise _fail("checkpoint_malformed", f"{what}: {error}") from error
        if checkpoint.origin != origin:
            raise _fail("checkpoint_origin_mismatch", f"{what} is for {checkpoint.origin!r}")
        if checkpoint.size <= frontier.size and checkpoints:
            raise _fail("checkpoint_size_not_increasing", f"{what} has size {checkpoint.size}")
        if checkpoint.size > len(leaf_hashes):
            raise _fail("checkpoint_beyond_events", f"{what} covers {checkpoint.size} events")
        if checkpoint.previous_hash != previous:
            raise _fail("checkpoint_chain_broken", f"{what} does not link to the one before")
        if checkpoints and checkpoint.time_ns < checkpoints[-1].time_ns:
            raise _fail("checkpoint_time_decreasing", f"{what} is older than the one before")
        frontier, _ = merkle.append_many(frontier, leaf_hashes[frontier.size : checkpoint.size])
        if frontier.root() != checkpoint.root:
            raise _fail(
                "checkpoint_root_mismatch",
                f"{what} (size {checkpoint.size}) root differs from the events' root",
            )
        checkpoints.append(checkpoint)
        previous = checkpoint_hash(text)
    if not checkpoints or checkpoints[-1].size != len(leaf_hashes):
        covered = checkpoints[-1].size if checkpoints else 0
        raise _fail(
            "events_beyond_checkpoint", f"{len(leaf_hashes)} events, last checkpoint {covered}"
        )
    return checkpoints


# -- verification: replay -----------------------------------------------------------------------


@dataclass(slots=True)
class _Account:
    id: int
    asset: str
    flags: int
    balances: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """debits_pending, debits_posted, credits_pending, credits_posted."""


@dataclass(slots=True)
class _Hold:
    debit: _Account
    credit: _Account
    amount: int
    expires_at: int
    open: bool = True


DP, DPO, CP, CPO = range(4)
_BALANCING = TransferFlags.BALANCING_DEBIT | TransferFlags.BALANCING_CREDIT


class _Replay:
    """The ledger's balance rules, applied to a stream of decoded events."""

    def __init__(self) -> None:
        self.accounts: dict[int, _Account] = {}
        self.holds: dict[int, _Hold] = {}
        self.transfer_ids: set[int] = set()

    def apply(self, event: LedgerEvent, where: str) -> None:
        if event.kind is LedgerEventKind.ACCOUNT_CREATED and event.account is not None:
            account = event.account
            if account.id in self.accounts:
                raise _fail("replay_account_duplicate", f"{where}: account {account.id} again")
            self.accounts[account.id] = _Account(account.id, account.asset.spec, account.flags)
        elif event.kind is LedgerEventKind.TRANSFER_CREATED and event.transfer is not None:
            self._transfer(event, where)
        else:
            hold = self._open_hold(event.pending_id, where)
            if not hold.expires_at or event.timestamp < hold.expires_at:
                raise _fail("replay_expiry_early", f"{where}: hold {event.pending_id} not due")
            self._release(hold)

    def _open_hold(self, pending_id: int, where: str) -> _Hold:
        hold = self.holds.get(pending_id)
        if hold is None:
            raise _fail("replay_pending_missing", f"{where}: no hold {pending_id}")
        if not hold.open:
            raise _fail("replay_pending_resolved", f"{where}: hold {pending_id} already resolved")
        return hold

    def _release(self, hold: _Hold) -> None:
        hold.open = False
        hold.debit.balances[DP] -= hold.amount
        hold.credit.balances[CP] -= hold.amount

    def _transfer(self, event: LedgerEvent, where: str) -> None:
        transfer = event.transfer
        assert transfer is not None
        if transfer.id in self.transfer_ids:
            raise _fail("replay_transfer_duplicate", f"{where}: transfer {transfer.id} again")
        self.transfer_ids.add(transfer.id)
        debit = self.accounts.get(transfer.debit_account_id)
        credit = self.accounts.get(transfer.credit_account_id)
        if debit is None or credit is None or debit is credit:
            raise _fail("replay_account_missing", f"{where}: transfer {transfer.id} accounts")
        if debit.asset != credit.asset:
            raise _fail("replay_asset_mismatch", f"{where}: transfer {transfer.id} mixes assets")
        flags, amount = transfer.flags, transfer.amount
        if flags & (TransferFlags.POST_PENDING_TRANSFER | TransferFlags.VOID_PENDING_TRANSFER):
            hold = self._open_hold(transfer.pending_id, where)
            post = bool(flags & TransferFlags.POST_PENDING_TRANSFER)
            if (hold.debit, hold.credit) != (debit, credit) or (
                amount > hold.amount if post else amount != hold.amount
            ):
                raise _fail("replay_hold_mismatch", f"{where}: {transfer.id} differs from hold")
            self._release(hold)
            if post:
                self._move(debit, credit, DPO, CPO, amount, where)
        elif flags & TransferFlags.PENDING:
            timeout_ns = transfer.timeout * NANOSECONDS_PER_SECOND
            expires_at = event.timestamp + timeout_ns if timeout_ns else 0
            self.holds[transfer.id] = _Hold(debit, credit, amount, expires_at)
            self._move(debit, credit, DP, CP, amount, where)
        else:
            if amount == 0 and not flags & _BALANCING:
                raise _fail("replay_amount_zero", f"{where}: transfer {transfer.id} moves 0")
            self._move(debit, credit, DPO, CPO, amount, where)
        for account in (debit, credit):
            self._check_limits(account, where)

    def _move(
        self,
        debit: _Account,
        credit: _Account,
        debit_slot: int,
        credit_slot: int,
        amount: int,
        where: str,
    ) -> None:
        debit.balances[debit_slot] += amount
        credit.balances[credit_slot] += amount
        if debit.balances[debit_slot] > AMOUNT_MAX or credit.balances[credit_slot] > AMOUNT_MAX:
            raise _fail("replay_balance_overflow", f"{where}: a balance passes AMOUNT_MAX")

    @staticmethod
    def _check_limits(account: _Account, where: str) -> None:
        dp, dpo, cp, cpo = account.balances
        if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
            raise _fail("replay_limit_broken", f"{where}: account {account.id} debits > credits")
        if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
            raise _fail("replay_limit_broken", f"{where}: account {account.id} credits > debits")

    def totals_balance(self) -> None:
        """Per asset, Σ debits = Σ credits (pending, posted) and pending = the open holds."""
        sums: dict[str, list[int]] = {}
        for account in self.accounts.values():
            row = sums.setdefault(account.asset, [0, 0, 0, 0, 0])
            for slot in range(4):
                row[slot] += account.balances[slot]
        for hold in self.holds.values():
            if hold.open:
                sums[hold.debit.asset][4] += hold.amount
        for asset_spec, (dp, dpo, cp, cpo, held) in sorted(sums.items()):
            if dp != cp or dpo != cpo or dp != held:
                raise _fail("replay_unbalanced", f"{asset_spec}: Σ debits ≠ Σ credits")

    def balances(self) -> tuple[AccountBalances, ...]:
        return tuple(
            AccountBalances(a.id, a.asset, *a.balances)
            for a in sorted(self.accounts.values(), key=lambda a: a.id)
        )


def _replay(
    leaves: Sequence[bytes], progress: ProgressCallback | None = None
) -> tuple[AccountBalances, ...]:
    replay, last_timestamp = _Replay(), 0
    for index, data in enumerate(leaves):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress("replay", index, len(leaves))
        try:
            event = decode(data)
        except EncodingError as error:
            raise _fail("event_encoding_invalid", f"event {index}: {error}") from error
        if event.timestamp <= last_timestamp:
            raise _fail("event_timestamp_not_increasing", f"event {index}")
        last_timestamp = event.timestamp
        replay.apply(event, f"event {index}")
    replay.totals_balance()
    return replay.balances()


# -- verification: the whole export -------------------------------------------------------------


def _check_file_set(files: Mapping[str, bytes]) -> None:
    for name in EXPORT_FILES:
        if name not in files:
            raise _fail("export_file_missing", f"{name} is missing")
    for name in sorted(files):
        if name not in (*EXPORT_FILES, README_FILE):
            raise _fail("export_file_unexpected", f"{name} is not part of an export")


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
            raise _fail("cosigned_checkpoint_unknown", f"{what} is not a checkpoint of the export")
        size = parse_checkpoint(note.text).size
        if size <= last_size:
            raise _fail("cosigned_order_invalid", f"{what} (size {size}) is out of order")
        last_size, valid = size, set()
        extra = note.signatures[len(parse_note(original).signatures) :]
        for signature in extra:
            witness = known.get((signature.name, signature.key_id))
            if witness is None:
                continue
            try:
                verify_cosignature(note.text, signature, witness)
            except WitnessError as error:
                raise _fail("cosignature_invalid", f"{what}: {error}") from error
            valid.add(witness_key_string(witness))
        if witnesses and len(valid) >= max(min_witnesses, 1):
            published = size
    if min_witnesses and published is None:
        raise _fail(
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
        raise _fail(
            "cosignatures_too_few", f"{min_witnesses} witnesses asked, {len(witness_keys)} keys"
        )
    _check_file_set(files)
    export_keys = _parse_keys(files[KEYS_FILE])
    known = {(v.name, v.key_id): v for v in [*export_keys, *pinned_keys]}
    rotations = _rotations(files[CHECKPOINTS_FILE])
    announced = {key for keys in rotations for key in keys}
    root = pinned_keys or [v for v in export_keys if verifier_key_string(v) not in announced]
    if not root:
        raise _fail("export_keys_invalid", f"{KEYS_FILE} has no key the log started with")
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
            raise _fail("pinned_checkpoint_missing", f"the pinned checkpoint of size {size}")
    published = _check_cosigned(cosigned, notes, witness_keys, min_witnesses)
    accounts = _replay(leaves, progress)
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
        accounts=accounts,
        cosigned=len(cosigned),
        witness_keys=tuple(witness_key_string(w) for w in witness_keys),
        published_size=published,
    )


def read_export(directory: Path) -> dict[str, bytes]:
    """Every regular file of an export directory, by name (subdirectories are refused)."""
    files: dict[str, bytes] = {}
    for path in sorted(Path(directory).iterdir()):
        if not path.is_file():
            raise _fail("export_file_unexpected", f"{path.name} is not a regular file")
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
