"""The demo's world, its training world and its model: generated or trained once, then reused.

Guarantees:
- A world is cached per size and seed under DATA/demo/world-<people>p-<days>d-seed<seed>/ and
  reused once its manifest exists (written last by `write_world`).
- The model is cached under DATA/demo/model-<people>p-<days>d-seed<seed>/ and reused only while
  its features are the current ones; it is trained into a `.partial` directory and moved into
  place when complete, so an interrupted training is never taken for a model.
- `reference_rates` reads the limit-check rates from the world's own first day.
"""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console

from clearline.core.errors import ClearlineError
from clearline.demo.options import LiveDemoOptions
from clearline.kyc import ReferenceRates
from clearline.kyc.limits import DEFAULT_UNITS_PER_USD


def ensure_world(data_dir: Path, options: LiveDemoOptions, console: Console) -> Path:
    """The world for these options, generated once and reused by later runs."""
    return _world(data_dir, options.people, options.days, options.seed, console, "world")


def _world(data_dir: Path, people: int, days: int, seed: int, console: Console, what: str) -> Path:
    directory = data_dir / "demo" / f"world-{people}p-{days}d-seed{seed}"
    if (directory / "manifest.json").exists():
        console.print(f"{what}: reusing {directory}")
        return directory
    from clearline.sim import World, preset, write_world

    with console.status(f"simulating {people:,} people for {days} days…"):
        started = time.perf_counter()
        write_world(World(preset("hi", people=people, days=days, seed=seed)).generate(), directory)
    console.print(f"{what}: {directory} ({time.perf_counter() - started:.1f} s)")
    return directory


def ensure_model(data_dir: Path, options: LiveDemoOptions, console: Console) -> Path | None:
    """The model trained on the separate training world (None when `training_days` is 0),
    trained once by `train_world` and reused while its features are the current ones."""
    if options.training_days == 0:
        return None
    from clearline.risk.features import FEATURE_NAMES
    from clearline.risk.pipeline import train_world
    from clearline.risk.registry import load_model

    people, days = options.training_people, options.training_days
    seed = options.training_world_seed()
    directory = data_dir / "demo" / f"model-{people}p-{days}d-seed{seed}"
    if (directory / "metrics.json").exists():
        try:
            if load_model(directory).feature_names == FEATURE_NAMES:
                console.print(f"model: reusing {directory}")
                return directory
        except ClearlineError:
            pass  # written by another version: train it again
    world = _world(data_dir, people, days, seed, console, "training world")
    what = f"training the fraud model on {days} days of {people:,} people (first run only)"
    steps = {
        "features": "replaying the payments through the features",
        "fitting": "fitting LightGBM",
        "reports": "writing metrics, model card and plots",
    }
    with console.status(what + "…") as status:
        started = time.perf_counter()

        def show(stage: str, done: int, total: int) -> None:
            elapsed = time.perf_counter() - started
            count = f", {done:,} of {total:,} payments" if total else ""
            status.update(f"{what}: {steps.get(stage, stage)}{count} ({elapsed:.0f} s so far)…")

        temporary = directory.with_name(directory.name + ".partial")
        shutil.rmtree(temporary, ignore_errors=True)
        train_world(world, temporary, on_stage=show)
        shutil.rmtree(directory, ignore_errors=True)
        temporary.replace(directory)
    console.print(f"model: {directory} ({time.perf_counter() - started:.1f} s)")
    return directory


def reference_rates(world_dir: Path) -> ReferenceRates:
    """Limit-check rates: the defaults, with the world's first-day mid rates for its assets."""

    rates = pq.read_table(world_dir / "fx_rates.parquet").to_pandas()
    first = rates[rates["date"] == rates["date"].min()]
    units = dict(DEFAULT_UNITS_PER_USD)
    for row in first.itertuples():
        units[str(row.asset)] = Decimal(repr(float(row.units_per_usd_mid)))
    return ReferenceRates(units)
