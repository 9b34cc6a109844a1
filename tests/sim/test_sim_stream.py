"""Streaming: events in time order, identical to the generated tables."""

from __future__ import annotations

import itertools

from clearline.sim.config import preset
from clearline.sim.engine import World
from clearline.sim.stream import SimEvent, stream_batches, stream_events
from clearline.sim.tables import all_tables


def test_stream_matches_generate_row_for_row() -> None:
    config = preset("hi", people=300, days=4, seed=8)
    world = World(config)
    tables = all_tables(world.generate())
    streamed = list(stream_events(config))
    assert len(streamed) == tables["transactions"].num_rows
    assert all(isinstance(event, SimEvent) for event in streamed[:5])
    ids = tables["transactions"].column("transaction_id").to_pylist()
    assert [event.transaction_id for event in streamed] == ids
    times = [event.timestamp_ns for event in streamed]
    assert times == sorted(times)
    labels = tables["labels"].column("is_laundering").to_pylist()
    assert [event.is_laundering for event in streamed] == labels
    first = tables["transactions"].slice(0, 1).to_pylist()[0]
    assert (
        streamed[0].amount_paid == first["amount_paid"]
        and streamed[0].asset_paid == first["asset_paid"]
    )


def test_batches_are_days_and_can_be_read_lazily() -> None:
    config = preset("li", people=200, days=3, seed=2)
    batches = list(itertools.islice(stream_batches(config), 2))
    assert len(batches) == 2
    day_ns = 86_400 * 10**9
    for batch in batches:
        stamps = batch.column("timestamp").cast("int64").to_pylist()
        assert max(stamps) // day_ns == min(stamps) // day_ns
        assert "is_fraud" in batch.column_names and "transaction_id" in batch.column_names
