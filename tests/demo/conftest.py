"""Shared fixtures for the demo's tests: one tiny world and model, made once per session.

- `demo_cache`: a data directory holding the tiny demo world (300 people, 9 days), its separate
  training world (300 people, 12 days) and the model trained on it, as `clearline demo` caches them.
- `demo_data_dir`: a fresh data directory per test with that cache copied in, so a test starts
  at the platform (the stage it is about) instead of simulating and training again.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from clearline.demo.options import LiveDemoOptions
from clearline.demo.world import ensure_model, ensure_world

TINY_OPTIONS = LiveDemoOptions(people=300, days=9, training_people=300, training_days=12)
"""A small demo world and a small separate training world, so the tests take seconds."""


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("demo-cache")
    console = Console(file=io.StringIO())
    ensure_world(data_dir, TINY_OPTIONS, console)
    assert ensure_model(data_dir, TINY_OPTIONS, console) is not None
    return data_dir


@pytest.fixture
def demo_data_dir(tmp_path: Path, demo_cache: Path) -> Path:
    shutil.copytree(demo_cache / "demo", tmp_path / "demo")
    return tmp_path
