"""The ledger's rules replayed over an export's decoded events: balances and attestations.

Guarantees:
- `replay(leaves)` decodes every leaf canonically (`encoding.decode`), requires strictly
  increasing ledger timestamps, and applies docs/ledger.md: a hold adds to `*_pending`; a post
  releases the whole hold and adds its (possibly smaller) amount to `*_posted`; a void or an
  expiry (not before `timestamp + timeout`) releases it; limit flags hold after every transfer;
  per asset Σ debits = Σ credits, posted and pending, and pending equals the open holds. An
  attestation moves no money: its id must be new among attestations, non-zero and not all ones,
  its code non-zero and its digest not all zero (its 32 bytes are the encoding's fixed width).
- It raises `AuditFailure` with a `replay_*` (or `event_*`) code at the first event that breaks a
  rule, naming the event's index; otherwise it returns a `Replayed`: every account's recomputed
  balances and the counts of each kind of event.
- It is pure: it reads its arguments and returns values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clearline.chain.encoding import EncodingError, decode
from clearline.chain.export import ProgressCallback, fail
from clearline.core.clock import NANOSECONDS_PER_SECOND
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.types import (
    AMOUNT_MAX,
    DIGEST_BYTES,
    U128_MAX,
    AccountFlags,
    Attestation,
    TransferFlags,
)

PROGRESS_EVERY = 65_536
"""Events between two progress reports while verifying."""


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
class Replayed:
    """What a replay found: every account's balances, and how many events of each kind."""

    accounts: tuple[AccountBalances, ...]
    transfers: int
    attestations: int


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
ZERO_DIGEST = bytes(DIGEST_BYTES)
_BALANCING = TransferFlags.BALANCING_DEBIT | TransferFlags.BALANCING_CREDIT


class _Replay:
    """The ledger's balance rules, applied to a stream of decoded events."""

    def __init__(self) -> None:
        self.accounts: dict[int, _Account] = {}
        self.holds: dict[int, _Hold] = {}
        self.transfer_ids: set[int] = set()
        self.attestation_ids: set[int] = set()

    def apply(self, event: LedgerEvent, where: str) -> None:
        if event.kind is LedgerEventKind.ACCOUNT_CREATED and event.account is not None:
            account = event.account
            if account.id in self.accounts:
                raise fail("replay_account_duplicate", f"{where}: account {account.id} again")
            self.accounts[account.id] = _Account(account.id, account.asset.spec, account.flags)
        elif event.kind is LedgerEventKind.TRANSFER_CREATED and event.transfer is not None:
            self._transfer(event, where)
        elif event.kind is LedgerEventKind.ATTESTATION_CREATED and event.attestation is not None:
            self._attestation(event.attestation, where)
        else:
            hold = self._open_hold(event.pending_id, where)
            if not hold.expires_at or event.timestamp < hold.expires_at:
                raise fail("replay_expiry_early", f"{where}: hold {event.pending_id} not due")
            self._release(hold)

    def _attestation(self, attestation: Attestation, where: str) -> None:
        if attestation.id in self.attestation_ids:
            raise fail(
                "replay_attestation_duplicate", f"{where}: attestation {attestation.id} again"
            )
        self.attestation_ids.add(attestation.id)
        if (
            not 0 < attestation.id < U128_MAX
            or attestation.code == 0
            or attestation.digest == ZERO_DIGEST
        ):
            raise fail(
                "replay_attestation_invalid",
                f"{where}: attestation {attestation.id} breaks the ledger's rules",
            )

    def _open_hold(self, pending_id: int, where: str) -> _Hold:
        hold = self.holds.get(pending_id)
        if hold is None:
            raise fail("replay_pending_missing", f"{where}: no hold {pending_id}")
        if not hold.open:
            raise fail("replay_pending_resolved", f"{where}: hold {pending_id} already resolved")
        return hold

    def _release(self, hold: _Hold) -> None:
        hold.open = False
        hold.debit.balances[DP] -= hold.amount
        hold.credit.balances[CP] -= hold.amount

    def _transfer(self, event: LedgerEvent, where: str) -> None:
        transfer = event.transfer
        assert transfer is not None
        if transfer.id in self.transfer_ids:
            raise fail("replay_transfer_duplicate", f"{where}: transfer {transfer.id} again")
        self.transfer_ids.add(transfer.id)
        debit = self.accounts.get(transfer.debit_account_id)
        credit = self.accounts.get(transfer.credit_account_id)
        if debit is None or credit is None or debit is credit:
            raise fail("replay_account_missing", f"{where}: transfer {transfer.id} accounts")
        if debit.asset != credit.asset:
            raise fail("replay_asset_mismatch", f"{where}: transfer {transfer.id} mixes assets")
        flags, amount = transfer.flags, transfer.amount
        if flags & (TransferFlags.POST_PENDING_TRANSFER | TransferFlags.VOID_PENDING_TRANSFER):
            hold = self._open_hold(transfer.pending_id, where)
            post = bool(flags & TransferFlags.POST_PENDING_TRANSFER)
            if (hold.debit, hold.credit) != (debit, credit) or (
                amount > hold.amount if post else amount != hold.amount
            ):
                raise fail("replay_hold_mismatch", f"{where}: {transfer.id} differs from hold")
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
                raise fail("replay_amount_zero", f"{where}: transfer {transfer.id} moves 0")
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
            raise fail("replay_balance_overflow", f"{where}: a balance passes AMOUNT_MAX")

    @staticmethod
    def _check_limits(account: _Account, where: str) -> None:
        dp, dpo, cp, cpo = account.balances
        if account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS and dp + dpo > cpo:
            raise fail("replay_limit_broken", f"{where}: account {account.id} debits > credits")
        if account.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS and cp + cpo > dpo:
            raise fail("replay_limit_broken", f"{where}: account {account.id} credits > debits")

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
                raise fail("replay_unbalanced", f"{asset_spec}: Σ debits ≠ Σ credits")

    def balances(self) -> tuple[AccountBalances, ...]:
        return tuple(
            AccountBalances(a.id, a.asset, *a.balances)
            for a in sorted(self.accounts.values(), key=lambda a: a.id)
        )


def replay(leaves: Sequence[bytes], progress: ProgressCallback | None = None) -> Replayed:
    state, last_timestamp = _Replay(), 0
    for index, data in enumerate(leaves):
        if progress is not None and index % PROGRESS_EVERY == 0:
            progress("replay", index, len(leaves))
        try:
            event = decode(data)
        except EncodingError as error:
            raise fail("event_encoding_invalid", f"event {index}: {error}") from error
        if event.timestamp <= last_timestamp:
            raise fail("event_timestamp_not_increasing", f"event {index}")
        last_timestamp = event.timestamp
        state.apply(event, f"event {index}")
    state.totals_balance()
    return Replayed(state.balances(), len(state.transfer_ids), len(state.attestation_ids))
