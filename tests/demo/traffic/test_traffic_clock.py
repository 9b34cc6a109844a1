"""The shared world clock: one file, written forward only by one side and read by the other."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from clearline.core.clock import Clock
from clearline.demo.traffic.clock import CLOCK_BYTES, SharedClock

START_NS = 1_767_225_600 * 1_000_000_000


def test_a_reader_sees_what_the_writer_advanced_to(tmp_path: Path) -> None:
    reader = SharedClock.create(tmp_path / "clock", START_NS)
    writer = SharedClock(tmp_path / "clock")  # as the traffic process opens it
    assert reader.now_ns() == writer.now_ns() == START_NS
    writer.advance(START_NS + 5)
    assert reader.now_ns() == START_NS + 5
    writer.advance(START_NS + 1)  # a payment sent a little out of order
    assert reader.now_ns() == START_NS + 5
    assert (tmp_path / "clock").stat().st_size == CLOCK_BYTES
    writer.close()
    reader.close()


def test_it_is_a_clock(tmp_path: Path) -> None:
    clock: Clock = SharedClock.create(tmp_path / "clock", START_NS)
    assert clock.now_ns() == START_NS


@given(st.lists(st.integers(min_value=0, max_value=2**63 - 1), max_size=50))
def test_time_is_the_latest_timestamp_and_never_goes_back(stamps: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        clock = SharedClock.create(Path(directory) / "clock", 0)
        seen = 0
        for stamp in stamps:
            clock.advance(stamp)
            assert clock.now_ns() >= seen
            seen = clock.now_ns()
        assert clock.now_ns() == max([0, *stamps])
        clock.close()
