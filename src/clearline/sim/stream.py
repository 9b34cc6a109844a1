"""Streaming a world in time order, for replay into the platform.

Guarantees:
- `stream_batches` yields one Arrow table per simulated day (transactions joined with their labels),
  and `stream_events` yields one `SimEvent` per settled payment; both come in output order
  (timestamp, then the random tie-break) and match `World(config).generate()` row for row.
- Nothing is held beyond the current day, so a stream can be longer than memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from clearline.sim.config import SimConfig
from clearline.sim.engine import World
from clearline.sim.tables import labels_table, transactions_table


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One settled payment with its labels (amounts in integer minor units of the named asset)."""

    transaction_id: int
    timestamp_ns: int
    from_account_id: int
    from_participant_id: int
    to_account_id: int
    to_participant_id: int
    amount_paid: int
    asset_paid: str
    amount_received: int
    asset_received: str
    channel: str
    payment_type: str
    merchant_category: str | None
    device_id: int | None
    from_country: str
    to_country: str
    is_fraud: bool
    fraud_scenario: str | None
    is_laundering: bool
    laundering_typology: str | None
    attempt_id: int | None


def stream_batches(config: SimConfig, world: World | None = None) -> Iterator[pa.Table]:
    """One table per day: the `transactions` columns followed by the `labels` columns."""
    world = world or World(config)
    for settled in world.days():
        features = transactions_table(world.population, settled.events, settled.transaction_id)
        labels = labels_table(settled.events, settled.transaction_id).drop_columns(
            ["transaction_id"]
        )
        yield pa.Table.from_arrays(
            features.columns + labels.columns, names=features.column_names + labels.column_names
        )


def stream_events(config: SimConfig, world: World | None = None) -> Iterator[SimEvent]:
    """Every settled payment of the world as a `SimEvent`, in time order."""
    for table in stream_batches(config, world):
        columns = table.to_pydict()
        timestamps = table.column("timestamp").cast(pa.int64()).to_pylist()
        columns["timestamp_ns"] = timestamps
        del columns["timestamp"]
        names = list(columns)
        for values in zip(*(columns[name] for name in names), strict=True):
            yield SimEvent(**dict(zip(names, values, strict=True)))
