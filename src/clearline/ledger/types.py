"""The ledger's records: accounts, transfers, attestations, their flags, balances and query filters.

Guarantees:
- Records are immutable (`frozen`, `slots`) and validate their field types on construction: a float
  anywhere raises `TypeError`; a value outside its field's range raises `InvalidInput` naming the
  field. Business rules (zero amounts, unknown accounts, limits) are result codes, not exceptions.
- Ids and `user_data_128` are unsigned 128-bit integers; `user_data_64` is unsigned 64-bit;
  `user_data_32` and `timeout` unsigned 32-bit; `code` unsigned 16-bit (non-zero).
- An attestation's `digest` is `bytes` (a str or any other type raises `TypeError`); that it is
  a 32-byte SHA-256 is a business rule (`digest_must_be_32_bytes`), like every other rule.
- Amounts and balances are integers in minor units in `0..AMOUNT_MAX` (2**63 - 1), the largest value
  both SQLite and PostgreSQL store natively as an exact integer; a result would overflow it is
  refused with an `overflows_*` result code, never wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

from clearline.core.assets import Asset, asset
from clearline.core.errors import InvalidInput

U128_MAX = (1 << 128) - 1
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
U16_MAX = (1 << 16) - 1
AMOUNT_MAX = (1 << 63) - 1
"""Largest amount and balance, in minor units."""
TIMESTAMP_MAX = (1 << 63) - 1
"""Largest ledger timestamp (nanoseconds since the epoch, year 2262)."""

BATCH_EVENTS_MAX = 8190
"""Most events in one `create_accounts` / `create_transfers` / `create_attestations` call."""
DIGEST_BYTES = 32
"""An attestation's digest: one SHA-256."""
QUERY_LIMIT_MAX = 8190
"""Most records one query returns."""


class AccountFlags(IntFlag):
    """Account options. `linked` chains this event to the next one in the batch."""

    NONE = 0
    LINKED = 1 << 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2
    HISTORY = 1 << 3
    CLOSED = 1 << 4


class TransferFlags(IntFlag):
    """Transfer options; see docs/ledger.md for the rules of each."""

    NONE = 0
    LINKED = 1 << 0
    PENDING = 1 << 1
    POST_PENDING_TRANSFER = 1 << 2
    VOID_PENDING_TRANSFER = 1 << 3
    BALANCING_DEBIT = 1 << 4
    BALANCING_CREDIT = 1 << 5
    CLOSING_DEBIT = 1 << 6
    CLOSING_CREDIT = 1 << 7


ACCOUNT_FLAGS_ALL = int(
    AccountFlags.LINKED
    | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    | AccountFlags.HISTORY
    | AccountFlags.CLOSED
)
TRANSFER_FLAGS_ALL = (1 << 8) - 1


def check_uint(value: object, bits_max: int, field: str) -> int:
    """Return `value` if it is an int in 0..bits_max; raise TypeError / InvalidInput otherwise."""
    if type(value) is not int:
        if isinstance(value, float):
            raise TypeError(f"{field} must be an integer; floats are refused: {value!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{field} must be an int, not {type(value).__name__}")
        value = int(value)  # an IntFlag or another int subclass
    if value < 0:
        raise InvalidInput(f"{field} must not be negative: {value}", code=f"{field}_negative")
    if value > bits_max:
        raise InvalidInput(
            f"{field} is out of range: {value} > {bits_max}", code=f"{field}_too_large"
        )
    return value


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account.

    id: client-chosen unsigned 128-bit id, unique in the ledger; the idempotency key.
    asset: what the account counts (`USD`, `USDC/6`); transfers need both accounts in one asset.
    code: a non-zero 16-bit number the caller uses for the account's kind (chart of accounts).
    flags: `AccountFlags`.
    user_data_128 / user_data_64 / user_data_32: caller's references, indexed for lookup.
    debits_pending / debits_posted / credits_pending / credits_posted: balances in minor units;
      must be zero when creating, filled in by lookups.
    timestamp: assigned by the ledger when the account is created; must be zero when creating.
    """

    id: int
    asset: Asset
    code: int
    flags: int = 0
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.asset, Asset):
            object.__setattr__(self, "asset", asset(self.asset))
        check_uint(self.id, U128_MAX, "id")
        check_uint(self.code, U16_MAX, "code")
        object.__setattr__(self, "flags", check_uint(self.flags, U16_MAX, "flags"))
        check_uint(self.user_data_128, U128_MAX, "user_data_128")
        check_uint(self.user_data_64, U64_MAX, "user_data_64")
        check_uint(self.user_data_32, U32_MAX, "user_data_32")
        check_uint(self.debits_pending, AMOUNT_MAX, "debits_pending")
        check_uint(self.debits_posted, AMOUNT_MAX, "debits_posted")
        check_uint(self.credits_pending, AMOUNT_MAX, "credits_pending")
        check_uint(self.credits_posted, AMOUNT_MAX, "credits_posted")
        check_uint(self.timestamp, TIMESTAMP_MAX, "timestamp")

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits (negative for a debit-normal account in use)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What a debit-limited account may still spend: credits_posted − all debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Transfer:
    """A movement of `amount` from `debit_account_id` to `credit_account_id`.

    id: client-chosen unsigned 128-bit id, unique in the ledger; the idempotency key.
    amount: minor units, 1..AMOUNT_MAX (for a post, 0 means "the whole pending amount"; for
      balancing transfers it is the most that may move).
    pending_id: for `post_pending_transfer` / `void_pending_transfer`, the pending transfer's id.
    timeout: seconds until a `pending` transfer expires and releases its hold (0: never).
    flags: `TransferFlags`.
    code: non-zero 16-bit reason code chosen by the caller.
    user_data_128 / user_data_64 / user_data_32: caller's references, indexed for lookup.
    timestamp: assigned by the ledger; must be zero when creating.
    """

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    code: int = 1
    pending_id: int = 0
    timeout: int = 0
    flags: int = 0
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    timestamp: int = 0

    def __post_init__(self) -> None:
        check_uint(self.id, U128_MAX, "id")
        check_uint(self.debit_account_id, U128_MAX, "debit_account_id")
        check_uint(self.credit_account_id, U128_MAX, "credit_account_id")
        check_uint(self.amount, AMOUNT_MAX, "amount")
        check_uint(self.code, U16_MAX, "code")
        check_uint(self.pending_id, U128_MAX, "pending_id")
        check_uint(self.timeout, U32_MAX, "timeout")
        object.__setattr__(self, "flags", check_uint(self.flags, U16_MAX, "flags"))
        check_uint(self.user_data_128, U128_MAX, "user_data_128")
        check_uint(self.user_data_64, U64_MAX, "user_data_64")
        check_uint(self.user_data_32, U32_MAX, "user_data_32")
        check_uint(self.timestamp, TIMESTAMP_MAX, "timestamp")


_TRANSFER_FIELDS = (
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "code",
    "pending_id",
    "timeout",
    "flags",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "timestamp",
)


def trusted_transfer(
    id: int,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    code: int,
    flags: int = 0,
    user_data_128: int = 0,
) -> Transfer:
    """A transfer built without `Transfer`'s field checks, for an edge that has already checked
    each value's type and range (the API's batch path, the contracts room's executor: 128-bit
    ids, amount in 1..AMOUNT_MAX, code in 1..65535, flags in 0..65535, a 128-bit
    user_data_128). The ledger's rules still apply when it is created."""
    transfer = object.__new__(Transfer)
    for name, value in zip(
        _TRANSFER_FIELDS,
        (
            id,
            debit_account_id,
            credit_account_id,
            amount,
            code,
            0,
            0,
            flags,
            user_data_128,
            0,
            0,
            0,
        ),
        strict=True,
    ):
        object.__setattr__(transfer, name, value)
    return transfer


@dataclass(frozen=True, slots=True)
class Attestation:
    """A digest the ledger seals into its verifiable log, in commit order with its transfers: the
    SHA-256 of something kept elsewhere (an operator's audit-trail entry, a document, a report),
    so that anyone holding that thing can later prove it existed, unchanged, at `timestamp`.

    id: client-chosen unsigned 128-bit id, unique among attestations (transfer ids are another
      space); the idempotency key: the same id with the same code and digest answers `exists`.
    code: non-zero 16-bit number the caller uses for what the digest is of.
    digest: the SHA-256 (DIGEST_BYTES = 32 bytes) of the attested bytes; not all zero.
    timestamp: assigned by the ledger when the attestation is committed; must be zero when
      creating.
    """

    id: int
    code: int
    digest: bytes
    timestamp: int = 0

    def __post_init__(self) -> None:
        check_uint(self.id, U128_MAX, "id")
        check_uint(self.code, U16_MAX, "code")
        check_uint(self.timestamp, TIMESTAMP_MAX, "timestamp")
        if type(self.digest) is not bytes:
            if not isinstance(self.digest, bytes):
                raise TypeError(
                    f"digest must be bytes (hashlib's .digest()), not {type(self.digest).__name__}"
                )
            object.__setattr__(self, "digest", bytes(self.digest))  # a bytes subclass


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account's balances right after the event at `timestamp` (accounts with `history`)."""

    timestamp: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """Which of an account's transfers (or balances) a query returns.

    timestamp_min / timestamp_max: inclusive bounds; 0 means unbounded.
    limit: 1..QUERY_LIMIT_MAX records. debits / credits: include transfers where the account is on
    that side (both default True). reversed: newest first.
    """

    account_id: int
    timestamp_min: int = 0
    timestamp_max: int = 0
    limit: int = QUERY_LIMIT_MAX
    debits: bool = True
    credits: bool = True
    reversed: bool = False

    def __post_init__(self) -> None:
        check_uint(self.account_id, U128_MAX, "account_id")
        check_uint(self.timestamp_min, TIMESTAMP_MAX, "timestamp_min")
        check_uint(self.timestamp_max, TIMESTAMP_MAX, "timestamp_max")
        check_uint(self.limit, QUERY_LIMIT_MAX, "limit")
        if self.limit == 0:
            raise InvalidInput("limit must be at least 1", code="limit_must_not_be_zero")
        if self.timestamp_max and self.timestamp_min > self.timestamp_max:
            raise InvalidInput(
                "timestamp_min must not exceed timestamp_max", code="timestamp_range_invalid"
            )


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """Find accounts or transfers by their caller references (all given fields must match)."""

    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    code: int = 0
    limit: int = QUERY_LIMIT_MAX

    def __post_init__(self) -> None:
        check_uint(self.user_data_128, U128_MAX, "user_data_128")
        check_uint(self.user_data_64, U64_MAX, "user_data_64")
        check_uint(self.user_data_32, U32_MAX, "user_data_32")
        check_uint(self.code, U16_MAX, "code")
        check_uint(self.limit, QUERY_LIMIT_MAX, "limit")
        if not (self.user_data_128 or self.user_data_64 or self.user_data_32):
            raise InvalidInput(
                "give at least one of user_data_128, user_data_64, user_data_32",
                code="query_filter_empty",
            )
