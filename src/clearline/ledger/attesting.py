"""Attestations: 32-byte digests the ledger timestamps and hands to its sealer with the transfers.

Guarantees:
- An attestation is checked against every rule before anything is recorded, in this order:
  `timestamp_must_be_zero`, `id_must_not_be_zero`, `id_must_not_be_int_max`,
  `code_must_not_be_zero`, `digest_must_be_32_bytes`, `digest_must_not_be_zero`; then, for an id
  already stored (or created earlier in the group), `exists_with_different_code`,
  `exists_with_different_digest` or `exists` (with the stored timestamp). Nothing of a refused
  attestation is written, and it uses no timestamp.
- The rules before the idempotency check read nothing but the event, so a refusal never depends
  on the store. A new id is assumed new, as for transfers: the store's unique index on
  `attestations.id` is the check, and a replayed id makes the group's insert fail, so the writer
  decides the group again with the stored attestations fetched (`check_store`).
- An accepted attestation takes the next ledger timestamp, so attestations and transfers share one
  strictly increasing order: the order the sealer turns them into log leaves.
- Attestations keep no in-memory state beyond the group being decided, so rolling a group back
  needs nothing here but the engine's own timestamp reset (the next group starts with no rows).
- A group without attestations costs nothing here: its rows list is reset only after a group that
  used it, and the id map only for a group decided with the store checked (measured with
  cachegrind: docs/benchmarks.md, "Ledger: attestations A/B").
"""

from __future__ import annotations

from collections.abc import Sequence

from clearline.ledger import store as st
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.records import Output, attestation_exists
from clearline.ledger.results import CreateAttestationResult as ATR
from clearline.ledger.results import EventResult
from clearline.ledger.types import DIGEST_BYTES, U128_MAX, Attestation

ZERO_DIGEST = bytes(DIGEST_BYTES)


class Attesting:
    """The engine's attestation rules; mixed into `Engine`, which owns the state named below."""

    store: st.Store
    out: Output
    next_timestamp: int
    check_store: bool
    emit_events: bool
    attestations_known: dict[int, st.AttestationRow]
    """With `check_store`: attestations stored or created in this group, by id."""
    attestation_rows: list[st.AttestationRow]
    """The group's new attestations, as the store writes them (beside `out`, not in it, so a
    group without attestations allocates nothing for them)."""

    def run_attestations(self, events: Sequence[Attestation]) -> list[EventResult]:
        """Decide a batch of attestations; each stands alone (attestations have no `linked`)."""
        if self.check_store:
            self._prefetch_attestations(events)
        results: list[EventResult] = []
        ok = ATR.OK
        for index, event in enumerate(events):
            timestamp = self.next_timestamp
            code, stored_timestamp = self._create_attestation(event, timestamp)
            if code is ok:
                self.next_timestamp = timestamp + 1
            results.append(EventResult(index, code, stored_timestamp))
        return results

    def _prefetch_attestations(self, events: Sequence[Attestation]) -> None:
        ids = [event.id.to_bytes(16, "big") for event in events if 0 < event.id < U128_MAX]
        for row in self.store.attestations_by_id(ids):
            self.attestations_known.setdefault(int.from_bytes(row[1], "big"), row)

    def _create_attestation(self, event: Attestation, timestamp: int) -> tuple[ATR, int]:
        if event.timestamp:
            return ATR.TIMESTAMP_MUST_BE_ZERO, 0
        if event.id == 0:
            return ATR.ID_MUST_NOT_BE_ZERO, 0
        if event.id == U128_MAX:
            return ATR.ID_MUST_NOT_BE_INT_MAX, 0
        if event.code == 0:
            return ATR.CODE_MUST_NOT_BE_ZERO, 0
        if len(event.digest) != DIGEST_BYTES:
            return ATR.DIGEST_MUST_BE_32_BYTES, 0
        if event.digest == ZERO_DIGEST:
            return ATR.DIGEST_MUST_NOT_BE_ZERO, 0
        if self.check_store:
            known = self.attestations_known.get(event.id)
            if known is not None:
                return attestation_exists(event, known), known[0]
        row = (timestamp, event.id.to_bytes(16, "big"), event.code, event.digest)
        if self.check_store:
            self.attestations_known[event.id] = row
        self.attestation_rows.append(row)
        if self.emit_events:
            self.out.events.append(
                LedgerEvent(
                    LedgerEventKind.ATTESTATION_CREATED,
                    timestamp,
                    attestation=Attestation(event.id, event.code, event.digest, timestamp),
                )
            )
        return ATR.OK, timestamp
