"""Identifiers.

Ledger ids are client-chosen 128-bit unsigned integers and act as idempotency keys. `new_id()` makes
time-ordered ids (48-bit millisecond time, then 80 random bits, like ULID), which keep the ledger's
id index append-mostly and therefore fast; any unique 128-bit value is accepted.
"""

from __future__ import annotations

import os
import time

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
