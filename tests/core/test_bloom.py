"""The Bloom filter: no false negatives ever, a bounded false-positive rate while it grows."""

from __future__ import annotations

import pytest

from clearline.core.bloom import BloomFilter


def test_everything_added_is_found_across_growth() -> None:
    bloom = BloomFilter(capacity=100)
    added = [f"principal-{i % 7}\0key-{i}".encode() for i in range(5_000)]  # 50x the capacity
    for item in added:
        bloom.add(item)
    assert len(bloom) == 5_000
    assert all(item in bloom for item in added)


def test_false_positives_stay_rare() -> None:
    bloom = BloomFilter(capacity=1_000)
    for i in range(4_000):
        bloom.add(b"in-%d" % i)
    strangers = [b"out-%d" % i for i in range(20_000)]
    rate = sum(item in bloom for item in strangers) / len(strangers)
    assert rate < 0.05  # about 1% per filter; three filters after growing twice


def test_empty_and_odd_inputs() -> None:
    bloom = BloomFilter()
    assert b"anything" not in bloom and b"" not in bloom
    assert "text" not in bloom  # only bytes are ever added
    bloom.add(b"")
    assert b"" in bloom
    with pytest.raises(ValueError):
        BloomFilter(capacity=0)
