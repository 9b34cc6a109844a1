"""Vault fixtures.

- `ring`: a `DataKeyRing` opened on `tmp_path / "keys"` (first run: one key).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clearline.vault import DataKeyRing


@pytest.fixture
def ring(tmp_path: Path) -> DataKeyRing:
    return DataKeyRing.open(tmp_path / "keys")
