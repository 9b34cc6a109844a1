"""Small simulated worlds for the risk tests, built once a session (a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from clearline.risk.world import LabelledWorld, world_from_tables
from clearline.sim import World, all_tables, preset, write_world
from clearline.sim.config import FraudConfig, SimConfig

RICH_FRAUD = {
    "account_takeover": 0.002,
    "card_testing": 0.003,
    "app_scam": 0.002,
    "merchant_collusion": 0.0015,
    "synthetic_identity_bust_out": 0.0015,
}


def small_config(seed: int, people: int = 600, days: int = 10) -> SimConfig:
    """A small world with five times the default fraud rates, so each slice has positives."""
    return preset("hi", people=people, days=days, seed=seed, fraud=FraudConfig(**RICH_FRAUD))


def stream_config_of() -> SimConfig:
    """The stream world's config (also built by a subprocess in test_risk_native)."""
    return small_config(seed=3, people=400, days=8)


@pytest.fixture(scope="session")
def stream_config() -> SimConfig:
    return stream_config_of()


@pytest.fixture(scope="session")
def stream_tables(stream_config: SimConfig) -> dict[str, pa.Table]:
    return all_tables(World(stream_config).generate())


@pytest.fixture(scope="session")
def train_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("train_world")
    write_world(World(small_config(seed=21, people=1_000, days=12)).generate(), directory)
    return directory


@pytest.fixture(scope="session")
def other_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other_world")
    write_world(World(small_config(seed=22, people=600, days=10)).generate(), directory)
    return directory


@pytest.fixture(scope="session")
def stream_world(stream_tables: dict[str, pa.Table]) -> LabelledWorld:
    return world_from_tables(stream_tables)


@pytest.fixture(scope="session")
def trained_model_dir(train_world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clearline.risk.pipeline import train_world

    out = tmp_path_factory.mktemp("model")
    train_world(train_world_dir, out)
    return out
