"""Shared worlds for the simulator tests: small enough to build in seconds, built once a session."""

from __future__ import annotations

import pytest
from sim_helpers import rich_config

from clearline.sim.config import preset
from clearline.sim.engine import SimResult, World
from clearline.sim.tables import all_tables


@pytest.fixture(scope="session")
def small_result() -> SimResult:
    return World(preset("hi", people=1_500, days=28, seed=11)).generate()


@pytest.fixture(scope="session")
def small_tables(small_result: SimResult):
    return all_tables(small_result)


@pytest.fixture(scope="session")
def rich_result() -> SimResult:
    return World(rich_config()).generate()


@pytest.fixture(scope="session")
def rich_tables(rich_result: SimResult):
    return all_tables(rich_result)
