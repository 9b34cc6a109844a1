"""Identifiers.

Ledger ids are client-chosen 128-bit unsigned integers and act as idempotency keys. `new_id()` makes
time-ordered ids (48-bit millisecond time, then 80 random bits, like ULID), which keep the ledger's
id index append-mostly and therefore fast; any unique 128-bit value is accepted.
"""

from __future__ import annotations

import hashlib
import os
import time

from clearline.core.errors import InvalidInput

ID_MAX = (1 << 128) - 1
"""The largest 128-bit id; reserved (`id_must_not_be_int_max`), like zero."""


def new_id(now_ms: int | None = None) -> int:
    """A fresh, time-ordered 128-bit id."""
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return ((millis & ((1 << 48) - 1)) << 80) | int.from_bytes(os.urandom(10), "big")


def new_ids(count: int, now_ms: int | None = None) -> list[int]:
    """`count` fresh, time-ordered 128-bit ids from one read of the system's randomness."""
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    prefix = (millis & ((1 << 48) - 1)) << 80
    randomness = os.urandom(10 * count)
    return [
        prefix | int.from_bytes(randomness[offset : offset + 10], "big")
        for offset in range(0, 10 * count, 10)
    ]


def parse_id(text: str, what: str) -> int:
    """A 32-hex-digit id from outside; `InvalidInput` naming `what` otherwise (zero and the
    largest id are reserved, as in the ledger)."""
    if not isinstance(text, str) or len(text) != 32:
        raise InvalidInput(
            f"{what} must be 32 lowercase hex digits, got {text!r}", code=f"invalid_{what}"
        )
    try:
        value = int(text, 16)
    except ValueError:
        raise InvalidInput(
            f"{what} must be 32 lowercase hex digits, got {text!r}", code=f"invalid_{what}"
        ) from None
    if value == 0 or value == ID_MAX:
        raise InvalidInput(f"{what} {text!r} is reserved", code=f"invalid_{what}")
    return value


def format_id(value: int) -> str:
    """An id as the platform writes it outside: 32 lowercase hex digits."""
    return f"{value:032x}"


def derive_id(parent: int, label: str) -> int:
    """A deterministic id for the `label` step of `parent` (its capture, void, …), so a retried
    step is the same ledger transfer and the ledger's idempotency makes it happen once."""
    digest = hashlib.sha256(parent.to_bytes(16, "big") + label.encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    return value if 0 < value < ID_MAX else 1


def key_derived_id(what: str, principal: str, idempotency_key: str) -> int:
    """The id a request with this idempotency key, sent by `principal`, always gets for `what`
    (a payment, a customer, …): a retry, even after a crash, is the same resource."""
    digest = hashlib.sha256(f"{what}\x00{principal}\x00{idempotency_key}".encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    return value if 0 < value < ID_MAX else 1
