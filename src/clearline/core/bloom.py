"""A scalable Bloom filter of byte strings: "certainly never added" or "maybe added".

Used where a miss saves a database read on the hot path (an `Idempotency-Key` never seen before
needs no lookup). False positives only cost the read they would have saved; there are no false
negatives. When a filter holds its capacity, a new one twice as large is added (Almeida et al.,
"Scalable Bloom Filters", 2007), so the false-positive rate stays bounded (about 1% per filter
at 10 bits and 7 probes per item) without knowing the final size up front and without rehashing
what was added.
"""

from __future__ import annotations

import hashlib

BITS_PER_ITEM = 10
PROBES = 7


class _Filter:
    __slots__ = ("bits", "capacity", "count", "mask")

    def __init__(self, capacity: int) -> None:
        size = 1 << max(10, (capacity * BITS_PER_ITEM - 1).bit_length())  # a power of two
        self.bits = bytearray(size // 8)
        self.mask = size - 1
        self.capacity = capacity
        self.count = 0


class BloomFilter:
    """`add(item)` then `item in filter`: False means `item` was never added."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._filters = [_Filter(capacity)]

    def __len__(self) -> int:
        return sum(part.count for part in self._filters)

    @staticmethod
    def _hashes(item: bytes) -> tuple[int, int]:
        digest = hashlib.blake2b(item, digest_size=16).digest()
        return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1

    def add(self, item: bytes) -> None:
        first, step = self._hashes(item)
        part = self._filters[-1]
        if part.count >= part.capacity:
            part = _Filter(part.capacity * 2)
            self._filters.append(part)
        bits, mask = part.bits, part.mask
        for probe in range(PROBES):
            position = (first + probe * step) & mask
            bits[position >> 3] |= 1 << (position & 7)
        part.count += 1

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, bytes):
            return False
        first, step = self._hashes(item)
        for part in self._filters:
            bits, mask = part.bits, part.mask
            for probe in range(PROBES):
                position = (first + probe * step) & mask
                if not bits[position >> 3] & (1 << (position & 7)):
                    break
            else:
                return True
        return False
