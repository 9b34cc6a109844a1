"""Risk benchmark: `decide` latency per event at steady state, and batch scoring throughput.

Run: `python -m bench.risk` (add `--quick` for a short smoke run). Every figure is measured in
this run, on this machine, and written to bench/results/risk.json.

What is measured, on a small simulated world generated and trained inside the bench (seeded):
- `decide`: `Decider.decide(event)` for one event at a time, in process — features
  (`FeatureState.observe`), the LightGBM score, the rules, and the reasons (TreeSHAP) when the
  action is not approve, all together. The online state is first warmed on the earlier part of
  the stream (steady state: windows and histories full), then each later event is timed alone.
  Target (issue 5): p99 ≤ 2 ms.
- Batch scoring: `clearline.risk.batch.score_events` — the same per-event `observe` over the
  events, with the model scoring each finished chunk in a worker thread meanwhile — timed from
  prebuilt `PaymentEvent`s and from the Arrow table (event construction included). The stages
  are also timed alone (features by `replay`, model on the matrix). Target: ≥ 50,000 events/s.
Prebuilt inputs (events, the warmed state, the model) are frozen out of the cyclic garbage
collector (`gc.collect(); gc.freeze()`), as in bench/ledger.py, so that full collections do not
walk them, an artifact of prebuilding that a long-running server does not have.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from bench.common import machine, percentile, settle_heap
from clearline.risk.batch import score_events
from clearline.risk.decide import Decider, top_reasons
from clearline.risk.features import (
    FEATURE_NAMES,
    FeatureState,
    PaymentEvent,
    events_from_table,
    replay,
)
from clearline.risk.model import RiskModel, TrainConfig, fit, time_split
from clearline.risk.rules import DEFAULT_RULES_PATH, load_rules
from clearline.risk.world import LabelledWorld, world_from_tables
from clearline.sim import World, all_tables, preset

RESULTS_DIR = Path(__file__).parent / "results"
WARM_SHARE = 0.8
"""Share of the stream fed to the online state before timing `decide` (steady state)."""
LATENCY_TARGET_MS_P99 = 2.0
THROUGHPUT_TARGET_EVENTS_PER_SECOND = 50_000


@dataclass
class Measurement:
    scenario: str
    events: int
    seconds: float
    events_per_second: float
    latency_ms_p50: float | None
    latency_ms_p99: float | None


def build_world(people: int, days: int, seed: int) -> LabelledWorld:
    return world_from_tables(
        all_tables(World(preset("hi", people=people, days=days, seed=seed)).generate())
    )


def train(world: LabelledWorld, features: np.ndarray) -> RiskModel:
    stamps = np.asarray(world.transactions.column("timestamp").cast(pa.int64()).to_numpy())
    split = time_split(stamps, TrainConfig())
    return fit(features, world.is_fraud, split, FEATURE_NAMES, ())


def bench_decide(
    model: RiskModel, world: LabelledWorld, events: list[PaymentEvent]
) -> tuple[list[Measurement], dict[str, int]]:
    """Warm the state on the first WARM_SHARE of the stream, then time each later event alone."""
    decider = Decider(
        model, load_rules(DEFAULT_RULES_PATH, frozenset(FEATURE_NAMES)), FeatureState(world.context)
    )
    cut = int(len(events) * WARM_SHARE)
    for event in events[:cut]:
        decider.state.observe(event)
    for event in events[cut : cut + 200]:  # warm the model and rule paths too
        decider.decide(event)
    timed = events[cut + 200 :]
    settle_heap()
    latencies: list[float] = []
    by_action: dict[str, list[float]] = {}
    started = time.perf_counter()
    for event in timed:
        before = time.perf_counter()
        decision = decider.decide(event)
        latency = time.perf_counter() - before
        latencies.append(latency)
        by_action.setdefault(decision.action, []).append(latency)
    elapsed = time.perf_counter() - started
    gc.unfreeze()
    actions = {action: len(values) for action, values in sorted(by_action.items())}
    split = [
        _measurement(f"  of which {action} ({len(values):,})", len(values), sum(values), values)
        for action, values in sorted(by_action.items())
    ]
    return [_measurement("decide, one event at a time", len(timed), elapsed, latencies), *split], (
        actions
    )


def _measurement(
    scenario: str, count: int, seconds: float, latencies: list[float] | None = None
) -> Measurement:
    return Measurement(
        scenario,
        count,
        round(seconds, 3),
        round(count / seconds, 1),
        round(percentile(latencies, 0.50) * 1000, 4) if latencies else None,
        round(percentile(latencies, 0.99) * 1000, 4) if latencies else None,
    )


def bench_parts(model: RiskModel, features: np.ndarray, count: int) -> list[Measurement]:
    """The model, rules and reasons alone, one prebuilt row at a time, to see where time goes."""
    rules = load_rules(DEFAULT_RULES_PATH, frozenset(FEATURE_NAMES))
    rows = [features[index] for index in range(len(features) - count, len(features))]
    parts: dict[str, Callable[[np.ndarray], object]] = {
        "  part: model score, 1 row": lambda row: model.score(row),
        "  part: rules, 1 row": lambda row: rules.evaluate(
            dict(zip(FEATURE_NAMES, row.tolist(), strict=True))
        ),
        "  part: reasons (TreeSHAP), 1 row": lambda row: top_reasons(model, row, 3),
    }
    measurements = []
    for name, part in parts.items():
        settle_heap()
        latencies = []
        for row in rows:
            before = time.perf_counter()
            part(row)
            latencies.append(time.perf_counter() - before)
        gc.unfreeze()
        measurements.append(_measurement(name, len(rows), sum(latencies), latencies))
    return measurements


def bench_batch(
    model: RiskModel, world: LabelledWorld, events: list[PaymentEvent]
) -> list[Measurement]:
    """`score_events` from events and from the table; and its two stages alone."""
    settle_heap()
    started = time.perf_counter()
    features = replay(events, world.context)
    replayed = time.perf_counter()
    scores = model.score(features)
    scored = time.perf_counter()
    _, batch_scores = score_events(model, FeatureState(world.context), events)
    batched = time.perf_counter()
    _, table_scores = score_events(
        model, FeatureState(world.context), events_from_table(world.transactions)
    )
    from_table = time.perf_counter()
    gc.unfreeze()
    assert np.array_equal(batch_scores, scores) and np.array_equal(table_scores, scores)
    return [
        _measurement("batch: features alone (replay)", len(events), replayed - started),
        _measurement("batch: model alone (matrix)", len(events), scored - replayed),
        _measurement("batch: score_events (features + score)", len(events), batched - scored),
        _measurement("batch: score_events from the table", len(events), from_table - batched),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--seed", type=int, default=1, help="world seed")
    arguments = parser.parse_args()
    console = Console()
    people, days = (400, 7) if arguments.quick else (1_500, 14)
    with console.status("generating and training on a simulated world"):
        world = build_world(people, days, arguments.seed)
        events = list(events_from_table(world.transactions))
        features = replay(events, world.context)
        model = train(world, features)
    with console.status(f"timing decide on {len(events) * (1 - WARM_SHARE):,.0f} events"):
        decide, actions = bench_decide(model, world, events)
    with console.status(f"timing batch scoring of {len(events):,} events"):
        batch = bench_batch(model, world, events)
    parts = bench_parts(model, features, min(2_000, len(events) // 5))
    measurements = [*decide, *parts, *batch]

    table = Table(title=f"Clearline risk ({len(events):,} events, {people:,} people, {days} days)")
    for column in ("scenario", "events", "seconds", "events/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for item in measurements:
        table.add_row(
            item.scenario,
            f"{item.events:,}",
            f"{item.seconds:.3f}",
            f"{item.events_per_second:,.0f}",
            "" if item.latency_ms_p50 is None else f"{item.latency_ms_p50:.3f}",
            "" if item.latency_ms_p99 is None else f"{item.latency_ms_p99:.3f}",
        )
    console.print(table)
    console.print(
        f"decide p99 {decide[0].latency_ms_p99:.3f} ms (target ≤ {LATENCY_TARGET_MS_P99} ms); "
        f"batch {batch[2].events_per_second:,.0f} events/s "
        f"(target ≥ {THROUGHPUT_TARGET_EVENTS_PER_SECOND:,}); actions {actions}"
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "command": "python -m bench.risk" + (" --quick" if arguments.quick else ""),
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "world": {"people": people, "days": days, "seed": arguments.seed, "events": len(events)},
        "model_version": model.version_,
        "decide_actions": actions,
        "results": [asdict(item) for item in measurements],
    }
    path = RESULTS_DIR / "risk.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
