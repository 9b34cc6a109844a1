"""Fixtures of the contracts room's tests: a platform on a manual clock and bounded wallets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_wallets import Wallets

from clearline.core.clock import ManualClock
from clearline.platform import Platform


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def platform(tmp_path: Path, clock: ManualClock) -> Iterator[Platform]:
    opened = Platform.open(tmp_path / "data", clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def wallets(platform: Platform) -> Wallets:
    return Wallets(platform)
