"""The settlement log: every ledger event one Merkle leaf, sealed in the ledger's own commit.

Guarantees:
- `SealingHook` is the ledger's sealer (`Ledger.open` loads it through `node.open_sealer` by
  default) and a commit hook: its fast form reads the ledger's packed transfer rows
  (`raw_hooks=[hook.seal_rows]`), the plain form takes `LedgerEvent`s (`hooks=[hook]`); both write
  the same log. It runs inside the group's transaction, so a group's leaves are durable exactly
  when the group is: no event without its leaf, no leaf without its event. A leaf is its index
  (`chain_runs`: leaf index ↔ ledger timestamp, one row per run of consecutive timestamps) and
  its bytes: the ledger's `transfers` row for a transfer, its `attestations` row for an attestation,
  `chain_events` for the other events.
- The Merkle tree over the leaves (tiles, `chain_state`: size and compact range) is derived data.
  Inline (the default), a group's hashes are written in its own transaction. With `hasher=True`
  (the default sealer), groups of at least `HASHER_GROUP_LEAVES_MIN` leaves are hashed by a
  worker process (`hasher.py`) while the writer goes on, and their tiles are written by a later
  transaction of the same hook (the next group's, an idle seal, or close): `chain_state.size`
  (the tree size, what proofs and checkpoints cover) may then trail the leaves appended by the
  groups in flight, at most `HASHER_IN_FLIGHT_MAX` of them. Whenever the tree trails the leaves
  without work in flight (an aborted group, a crash, a failed worker), the hook rebuilds the
  missing hashes from the stored leaves before going on.
- Appending g leaves costs O(g + log n) hashing and about 34·g bytes of tiles (see `tiles.py`);
  the compact range and right-edge tiles live in memory as a cache of `chain_state` and
  `chain_tiles`, checked on every call against the stored size, checkpoint hash and last leaf,
  and reloaded when they differ (a group aborted after the hook ran, or another writer).
- Checkpoints: a C2SP signed note (Ed25519, and ML-DSA-65 when enabled) over origin, size, root,
  the SHA-256 of the previous checkpoint's text and the time; sizes strictly increase and each
  checkpoint links to the one before. With `checkpoint_interval_ms=0` every group closes one.
  With I > 0, a group signs only when I ms have passed since the last checkpoint (the hook's
  clock, else the group's last ledger timestamp); the ledger asks `seal_due_ns` while idle and
  calls `seal_tail` when it has passed (and on `tick` and close), so a committed leaf is covered
  within about I ms (plus a group's hashing) of its commit.
- The hook refuses a group whose first timestamp is not after the log's last leaf (a second
  sealing hook on one ledger) and, at `attach`, a log sealed under another origin.
- The tables and the cached tip live in `tip.py`; reading back (`ChainLog`, proofs) lives in
  `reader.py`, whose names are re-exported here.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from clearline.chain import backfill, merkle, tiles
from clearline.chain.encoding import encode
from clearline.chain.hasher import HashedGroup, Hasher
from clearline.chain.keys import (
    NoteSigner,
    load_next_signers,
    load_or_create_signers,
    promote_rotation,
    verifier_key_string,
)
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    checkpoint_hash,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from clearline.chain.reader import (
    ChainLog,
    InclusionProof,
    LeafNotFound,
    LogNotFound,
    StoreReader,
    TransferLookup,
    read_leaves,
    transfer_inclusion_proof,
    transfer_leaf,
)
from clearline.chain.tip import (
    SCHEMA,
    Tip,
    last_leaf,
    load_tip,
    row_timestamp,
    runs,
    write_tiles,
)
from clearline.core.clock import Clock
from clearline.core.errors import ClearlineError, InvariantViolation
from clearline.ledger.events import HookTransaction, LedgerEvent, LedgerEventKind
from clearline.ledger.store import DATABASE_FILE

__all__ = [
    "ChainLog",
    "InclusionProof",
    "LeafNotFound",
    "LogNotFound",
    "LogOriginMismatch",
    "SealingHook",
    "StoreReader",
    "TransferLookup",
    "transfer_inclusion_proof",
    "transfer_leaf",
]

CHECKPOINT_INTERVAL_MS_MAX = 60_000
"""The longest minimum interval between checkpoints a hook accepts."""
CHECKPOINT_INTERVAL_MS_UNDER_LOAD = 200
"""The interval `bench.chain` runs with: at most five signed checkpoints a second."""
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long `seal_pending_in` waits for the database lock."""
LEDGER_HELD_KINDS = frozenset(
    (LedgerEventKind.TRANSFER_CREATED, LedgerEventKind.ATTESTATION_CREATED)
)
"""Events whose leaf bytes the reader rebuilds from the ledger's own rows (`transfers`,
`attestations`), so `chain_events` does not hold them twice."""
HASHER_GROUP_LEAVES_MIN = 1_024
"""Smaller groups are hashed inline: a round trip to the worker costs more than it saves."""
HASHER_IN_FLIGHT_MAX = 8
"""Groups handed to the worker and not yet written back: at the next group beyond it the writer
waits for them all. The worker hashes a group of 8,190 in about 8 ms, a third of the writer's
time for it, so this only binds when the worker is starved of CPU; it bounds the memory queued
for the worker (about 1 MB a group) and how far the tree trails the leaves."""


class LogOriginMismatch(ClearlineError):
    """The sealer's origin differs from the one the ledger's log was sealed under."""

    code = "log_origin_mismatch"


class SealingHook:
    """The commit hook that appends a group's events and closes a signed checkpoint."""

    def __init__(
        self,
        origin: str,
        signers: Sequence[NoteSigner],
        clock: Clock | None = None,
        *,
        checkpoint_interval_ms: int = 0,
        hasher: bool = False,
    ):
        if not signers:
            raise ValueError("a sealing hook needs at least one signer")
        if not 0 <= checkpoint_interval_ms <= CHECKPOINT_INTERVAL_MS_MAX:
            raise ValueError(
                f"checkpoint_interval_ms must be within 0..{CHECKPOINT_INTERVAL_MS_MAX}"
            )
        self.origin = origin
        self.signers = list(signers)
        self.clock = clock
        self.checkpoint_interval_ms = checkpoint_interval_ms
        self._hasher = Hasher() if hasher else None
        self.data_directory: Path | None = None
        """Where to look for prepared next keys (`keys.prepare_rotation`); set by `open`."""
        self._pool = {verifier_key_string(s.verifier): s for s in self.signers}
        self._tip: Tip | None = None
        self._lock = threading.Lock()  # the ledger's writer and an idle `seal_pending` caller

    @classmethod
    def open(
        cls,
        data_directory: Path,
        origin: str,
        *,
        ml_dsa: bool = True,
        clock: Clock | None = None,
        checkpoint_interval_ms: int = 0,
        hasher: bool = False,
    ) -> SealingHook:
        """A hook signing with the node's keys in `data_directory` (created on first use)."""
        signers = load_or_create_signers(data_directory, origin, ml_dsa=ml_dsa)
        hook = cls(
            origin, signers, clock, checkpoint_interval_ms=checkpoint_interval_ms, hasher=hasher
        )
        hook.data_directory = Path(data_directory)
        return hook

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        """The plain commit hook (`Ledger.open(…, hooks=[hook])`)."""
        data = [encode(event) for event in events]
        hashes = [merkle.leaf_hash(item) for item in data]
        kept = [
            (offset, item)
            for offset, (event, item) in enumerate(zip(events, data, strict=True))
            if event.kind not in LEDGER_HELD_KINDS
        ]
        self._append(transaction, [event.timestamp for event in events], kept, hashes)

    def seal_rows(
        self, transaction: HookTransaction, rows: Sequence[bytes], events: Sequence[LedgerEvent]
    ) -> None:
        """The fast commit hook (`Ledger.open(…, raw_hooks=[hook.seal_rows])`): `rows` are the
        group's packed transfer rows, `events` its other events, both in timestamp order."""
        deferred = self._hasher is not None and len(rows) + len(events) >= HASHER_GROUP_LEAVES_MIN
        if not events:
            timestamps = [row_timestamp(rows[0]), row_timestamp(rows[-1])] if rows else []
            if timestamps and timestamps[1] - timestamps[0] == len(rows) - 1:
                timestamps = list(range(timestamps[0], timestamps[1] + 1))
            else:
                timestamps = [row_timestamp(row) for row in rows]
            if deferred:
                self._append(transaction, timestamps, [], rows=b"".join(rows))
            else:
                self._append(transaction, timestamps, [], tiles.transfer_leaf_hashes(rows))
            return
        merged = heapq.merge(
            ((row_timestamp(row), row, None) for row in rows),
            ((event.timestamp, b"", event) for event in events),
            key=lambda item: item[0],
        )
        timestamps, kept, inserts = [], [], []
        for offset, (timestamp, _, event) in enumerate(merged):
            timestamps.append(timestamp)
            if event is not None:
                data = encode(event)
                if event.kind not in LEDGER_HELD_KINDS:
                    kept.append((offset, data))
                inserts.append((offset, merkle.leaf_hash(data)))
        if deferred:
            self._append(transaction, timestamps, kept, rows=b"".join(rows), inserts=inserts)
            return
        hashes = tiles.transfer_leaf_hashes(rows)
        for offset, leaf_hash in inserts:  # ascending offsets in the merged group
            hashes.insert(offset, leaf_hash)
        self._append(transaction, timestamps, kept, hashes)

    def _current_tip(self, transaction: HookTransaction) -> Tip:
        """The tip, checked against the database; reloaded (and the tree caught up with the
        leaves) when they differ."""
        tip = self._tip
        if tip is None:  # the tables exist once this hook has seen them
            for statement in SCHEMA:
                transaction.execute(statement)
        row = transaction.execute(
            "SELECT size, checkpoint_hash FROM chain_state WHERE id = 0"
        ).fetchone()
        stored = (int(row[0]), bytes(row[1])) if row else (0, GENESIS_PREVIOUS)
        if tip is not None and (tip.size, tip.checkpoint_hash) == stored:  # noqa: SIM102
            if (tip.appended, tip.last_timestamp) == last_leaf(transaction):  # one more query
                return tip
        if self._hasher is not None:
            self._hasher.discard()  # whatever is in flight was rolled back or is reloaded
        tip = load_tip(transaction)  # first call, or the last group this hook saw aborted
        self._catch_up(transaction, tip)
        return tip

    def _catch_up(self, transaction: HookTransaction, tip: Tip) -> None:
        """Hash the stored leaves the tree does not cover yet, inline."""
        if tip.appended > tip.size:
            leaves = read_leaves(transaction, tip.size, tip.appended)
            self._extend(transaction, tip, [merkle.leaf_hash(leaf) for leaf in leaves])

    def _extend(self, transaction: HookTransaction, tip: Tip, leaf_hashes: list[bytes]) -> None:
        frontier, completed = tiles.append_leaves(tip.size, tip.frontier, leaf_hashes)
        joined = {tier: b"".join(hashes) for tier, hashes in completed.items()}
        self._apply(
            transaction, tip, HashedGroup(tip.size, tip.size + len(leaf_hashes), frontier, joined)
        )

    def _apply(self, transaction: HookTransaction, tip: Tip, group: HashedGroup) -> None:
        if group.first_index != tip.size:
            raise InvariantViolation(f"hashes for leaf {group.first_index}, tree at {tip.size}")
        write_tiles(transaction, tip, group.completed)
        tip.size, tip.frontier = group.size, group.frontier

    def _collect(self, transaction: HookTransaction, tip: Tip, *, wait: bool) -> None:
        """Write the hashes the worker finished (all of them with `wait`); if it failed, hash
        what it held inline."""
        if self._hasher is None or not self._hasher.in_flight:
            return
        try:
            groups = self._hasher.drain() if wait else self._hasher.ready()
        except Exception:  # the worker died or refused: the leaves are stored, hash them here
            self._hasher.discard()
            self._catch_up(transaction, tip)
            return
        for group in groups:
            self._apply(transaction, tip, group)

    def _submit(
        self,
        transaction: HookTransaction,
        tip: Tip,
        first: int,
        rows: bytes,
        inserts: Sequence[tuple[int, bytes]],
    ) -> None:
        """Hand a group to the worker (with the tree state when nothing is in flight); if the
        worker cannot take it, hash everything the tree lacks inline."""
        assert self._hasher is not None
        reset = None if self._hasher.in_flight else (tip.size, list(tip.frontier))
        try:
            self._hasher.submit(first, reset, rows, inserts)
        except Exception:  # a broken pool: start afresh on the next group
            self._hasher.close()
            self._catch_up(transaction, tip)

    def _append(
        self,
        transaction: HookTransaction,
        timestamps: Sequence[int],
        kept: Sequence[tuple[int, bytes]],
        leaf_hashes: list[bytes] | None = None,
        *,
        rows: bytes = b"",
        inserts: Sequence[tuple[int, bytes]] = (),
    ) -> None:
        """Append a group's leaves: their ledger timestamps, the bytes of those the ledger does not
        hold (by offset in the group), and either their hashes (inline) or the packed rows and
        other leaf hashes for the worker; then tiles, state and, when due, a checkpoint."""
        if not timestamps:
            return
        with self._lock:
            tip = self._current_tip(transaction)
            if timestamps[0] <= tip.last_timestamp:
                raise InvariantViolation(
                    f"the event at {timestamps[0]} is not after the log's last leaf "
                    f"({tip.last_timestamp}): is a second sealing hook on this ledger? Pass your "
                    "own hook only with `Ledger.open(…, sealed=False)`"
                )
            self._tip = None  # until this group's writes are all issued
            first = tip.appended
            transaction.executemany(
                "INSERT INTO chain_runs VALUES(?, ?, ?)", runs(first, timestamps)
            )
            if kept:
                transaction.executemany(
                    "INSERT INTO chain_events VALUES(?, ?)",
                    [(first + offset, data) for offset, data in kept],
                )
            tip.appended, tip.last_timestamp = first + len(timestamps), timestamps[-1]
            if leaf_hashes is not None:
                self._collect(transaction, tip, wait=True)
                if tip.size < tip.appended:  # else a failed worker's catch-up hashed them too
                    self._extend(transaction, tip, leaf_hashes)
            else:
                assert self._hasher is not None
                self._collect(transaction, tip, wait=self._hasher.in_flight >= HASHER_IN_FLIGHT_MAX)
                if tip.size < tip.appended:
                    self._submit(transaction, tip, first, rows, inserts)
            if tip.size > tip.appended or (self._hasher is None and tip.size != tip.appended):
                raise InvariantViolation(f"tree of {tip.size} leaves, {tip.appended} appended")
            time_ns = self.clock.now_ns() if self.clock else timestamps[-1]
            if tip.size > tip.checkpoint_size and self._checkpoint_due(tip, time_ns):
                self._sign(transaction, tip, time_ns)
            self._store_state(transaction, tip)

    def _checkpoint_due(self, tip: Tip, time_ns: int) -> bool:
        if tip.checkpoint_time_ns is None:
            return True
        return time_ns - tip.checkpoint_time_ns >= self.checkpoint_interval_ms * 1_000_000

    def _sign(self, transaction: HookTransaction, tip: Tip, time_ns: int) -> None:
        """Sign a checkpoint over the tree (its time never before the previous checkpoint's)
        with the keys in force; announce prepared next keys, if any."""
        time_ns = max(time_ns, tip.checkpoint_time_ns or 0)
        root = merkle.Frontier(tip.size, tuple(tip.frontier)).root()
        signers = self._signers_in_force(tip)
        announced = self._next_keys(tip)
        checkpoint = Checkpoint(
            self.origin, tip.size, root, tip.checkpoint_hash, time_ns, announced
        )
        text = checkpoint.text()
        transaction.execute(
            "INSERT INTO chain_checkpoints VALUES(?, ?)", (tip.size, sign_note(text, signers))
        )
        tip.checkpoint_hash, tip.checkpoint_size = checkpoint_hash(text), tip.size
        tip.checkpoint_time_ns = time_ns
        tip.keys = announced or tip.keys

    def _next_keys(self, tip: Tip) -> tuple[str, ...]:
        """The prepared next keys when not announced yet (a stat per checkpoint)."""
        if self.data_directory is None:
            return ()
        upcoming = load_next_signers(self.data_directory, self.origin)
        keys = tuple(verifier_key_string(s.verifier) for s in upcoming)
        if not keys or keys == tip.keys:
            return ()
        self._pool.update(zip(keys, upcoming, strict=True))
        return keys

    def _signers_in_force(self, tip: Tip) -> list[NoteSigner]:
        if tip.keys is None:
            return self.signers
        missing = [key for key in tip.keys if key not in self._pool]
        if missing and self.data_directory is not None:
            upcoming = load_next_signers(self.data_directory, self.origin)
            self._pool.update((verifier_key_string(s.verifier), s) for s in upcoming)
        try:
            return [self._pool[key] for key in tip.keys]
        except KeyError as error:
            raise InvariantViolation(f"the log's keys in force are not here: {error}") from error

    def promote_keys(self) -> None:
        """After a rotation checkpoint is durable: move the new keys in place (`keys.py`)."""
        tip = self._tip
        if tip is None or tip.keys is None or self.data_directory is None:
            return
        upcoming = load_next_signers(self.data_directory, self.origin)
        if tuple(verifier_key_string(s.verifier) for s in upcoming) == tip.keys:
            self.signers = promote_rotation(self.data_directory, self.origin)
            self._pool.update((verifier_key_string(s.verifier), s) for s in self.signers)

    def _store_state(self, transaction: HookTransaction, tip: Tip) -> None:
        transaction.execute(
            "INSERT OR REPLACE INTO chain_state VALUES(0, ?, ?, ?)",
            (tip.size, b"".join(tip.frontier), tip.checkpoint_hash),
        )
        self._tip = tip

    # -- the ledger's `Sealer` protocol (`Ledger.open` seals with it by default) ----------------

    def attach(self, transaction: HookTransaction, last_timestamp: int) -> None:
        """At open: create the tables, load the tip, and append every event the ledger holds
        beyond the log (`backfill.events_after`: a ledger never sealed, or opened unsealed since),
        so the log covers the ledger before its first group."""
        with self._lock:
            self._tip = None
            tip = self._current_tip(transaction)
            stored = transaction.execute("SELECT size FROM chain_state WHERE id = 0").fetchone()
            if stored is None or int(stored[0]) != tip.size:  # a catch-up hashed leaves
                self._store_state(transaction, tip)
            self._tip = tip
        self.promote_keys()  # a rotation that became durable before the last close
        last_note = transaction.execute(
            "SELECT note FROM chain_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        if last_note is not None:
            origin = parse_checkpoint(parse_note(str(last_note[0])).text).origin
            if origin != self.origin:
                raise LogOriginMismatch(
                    f"the log in this ledger is {origin!r}, the sealer signs as {self.origin!r}: "
                    f'set origin = "{origin}" in node.toml'
                )
        row = transaction.execute(
            "SELECT first_timestamp + count - 1 FROM chain_runs ORDER BY first_index DESC LIMIT 1"
        ).fetchone()
        last_leaf = int(row[0]) if row else 0
        if last_leaf > last_timestamp:
            raise InvariantViolation(
                f"the log's last leaf (timestamp {last_leaf}) is beyond the ledger's last event "
                f"({last_timestamp}): the log belongs to another ledger"
            )
        for events in backfill.events_after(transaction, last_leaf):
            self(transaction, events)

    def seal_due_ns(self) -> int | None:
        """When the uncovered tail is due for a checkpoint (ledger clock, ns); None if none."""
        tip = self._tip
        if tip is None or tip.appended == tip.checkpoint_size:
            return None
        return (tip.checkpoint_time_ns or 0) + self.checkpoint_interval_ms * 1_000_000

    def seal_tail(self, transaction: HookTransaction, force: bool) -> bool:
        """Sign the uncovered tail when its checkpoint is due (always with `force`: on close);
        returns whether it signed."""
        due_ns = self.seal_due_ns()
        if not force and (due_ns is None or (self.clock and self.clock.now_ns() < due_ns)):
            return False
        return self.seal_pending(transaction)

    def close(self) -> None:
        """Stop the hashing worker. (Announced keys are promoted at the next `attach`, which
        reads that their checkpoint is durable.)"""
        if self._hasher is not None:
            self._hasher.close()

    def seal_pending(self, transaction: HookTransaction) -> bool:
        """Sign a checkpoint over leaves no checkpoint covers yet, whatever the interval; returns
        whether it signed. Run it inside a write transaction on the ledger's database
        (`seal_pending_in` opens one; the ledger must be closed)."""
        with self._lock:
            tip = self._current_tip(transaction)
            self._tip = None
            self._collect(transaction, tip, wait=True)
            if tip.size == tip.checkpoint_size:
                self._store_state(transaction, tip)
                return False
            if self.clock is not None:
                time_ns = self.clock.now_ns()
            else:  # the ledger's time: the last leaf's timestamp
                row = transaction.execute(
                    "SELECT first_timestamp + count - 1 FROM chain_runs"
                    " ORDER BY first_index DESC LIMIT 1"
                ).fetchone()
                time_ns = int(row[0])
            self._sign(transaction, tip, time_ns)
            self._store_state(transaction, tip)
            return True

    def seal_pending_in(self, data_directory: Path) -> bool:
        """`seal_pending` in its own transaction on the closed ledger in `data_directory` (an
        open ledger holds the database exclusively: this waits `SQLITE_BUSY_TIMEOUT_MS`, then
        raises `sqlite3.OperationalError`)."""
        path = Path(data_directory) / DATABASE_FILE
        if not path.exists():
            raise LogNotFound(f"{data_directory} holds no ledger ({DATABASE_FILE} is missing)")
        connection = sqlite3.connect(
            path, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
        )
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                signed = self.seal_pending(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return signed
        finally:
            connection.close()
