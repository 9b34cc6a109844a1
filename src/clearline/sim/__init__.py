"""The synthetic world: a seeded generator of people, merchants, enterprises and banks across
cross-border corridors, with fraud and money laundering labelled by construction.

Guarantees (each module states its own in detail):
- Deterministic: the same seed and `SimConfig` give identical tables and byte-identical files.
- Exact money: amounts are integers in minor units at each asset's ISO 4217 scale; accounts
  without credit never go below zero.
- Labels never leak through ids, row order or rounding; illicit payments take every field from the
  honest rules except what their scheme changes (see docs/simulator.md, with the leakage check).

Python use::

    from clearline.sim import World, preset, write_world
    result = World(preset("hi", people=10_000, days=30, seed=1)).generate()
    write_world(result, "world/")                   # Parquet tables and manifest.json
    for event in stream_events(result.config): ...  # time order, for replay into the platform
"""

from clearline.sim.config import (
    FRAUD_SCENARIOS,
    LAUNDERING_TYPOLOGIES,
    FraudConfig,
    LaunderingConfig,
    SimConfig,
    load_config,
    preset,
)
from clearline.sim.engine import SettledDay, SimResult, World
from clearline.sim.stream import SimEvent, stream_batches, stream_events
from clearline.sim.tables import all_tables
from clearline.sim.writer import write_world

__all__ = [
    "FRAUD_SCENARIOS",
    "LAUNDERING_TYPOLOGIES",
    "FraudConfig",
    "LaunderingConfig",
    "SettledDay",
    "SimConfig",
    "SimEvent",
    "SimResult",
    "World",
    "all_tables",
    "load_config",
    "preset",
    "stream_batches",
    "stream_events",
    "write_world",
]
