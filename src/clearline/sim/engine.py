"""The world generator: build the cast, plan the crimes, then live the days in order.

Guarantees:
- `World(config)` is deterministic: every random draw comes from a named stream derived from
  `config.seed`, and each simulated day has its own streams, so `World(config).generate()` gives
  the same result every time and `World(config).days()` yields exactly the same days.
- Stages run in a fixed order: population → FX table → economy (invoices) → fraud plan →
  laundering plan → days. On each day honest candidates, refunds due, fraud and the laundering
  planned for that day are merged, converted (FX), put in output order (timestamp, then a random
  tie-break key) and settled; only accepted payments are kept.
- Transaction ids are drawn at random per settled payment; output order is time order. Neither
  depends on any label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from clearline.sim.behaviour import Economy, expected_daily_count, honest_day, make_economy
from clearline.sim.config import SimConfig
from clearline.sim.fraud import FraudPlan, fraud_day, plan_fraud
from clearline.sim.geography import FxTable
from clearline.sim.laundering import LaunderingPlan, plan_laundering
from clearline.sim.rhythm import NANOSECONDS_PER_DAY
from clearline.sim.schema import EventBatch, concat
from clearline.sim.settle import Balances, apply_fx
from clearline.sim.world import Population, build_population

STREAMS = (
    "world",
    "fx",
    "economy",
    "fraud_plan",
    "laundering_plan",
    "days",
    "fraud",
    "order",
    "ids",
)
"""Named random streams; each day also derives its own children of `days`, `fraud` and `order`."""


@dataclass(frozen=True, slots=True)
class SettledDay:
    """One simulated day after settlement.

    events: the accepted payments, in output order.
    transaction_id: one random id per accepted payment.
    candidates: payments attempted that day; refused: those refused for lack of funds (or because
        the payment they depended on was refused).
    """

    day: int
    events: EventBatch
    transaction_id: np.ndarray
    candidates: int
    refused: int


@dataclass(frozen=True, slots=True)
class SimResult:
    """A whole generated world: the cast, the plans and every settled payment in time order."""

    config: SimConfig
    population: Population
    economy: Economy
    fx: FxTable
    fraud_plan: FraudPlan
    laundering_plan: LaunderingPlan
    events: EventBatch
    transaction_id: np.ndarray
    candidates: int
    refused: int
    expected_daily_candidates: float


def _rng(seed: int, stream: str, *more: int) -> np.random.Generator:
    key = (STREAMS.index(stream), *more)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


class World:
    """A seeded synthetic world. Build once; `generate()` or iterate `days()` as often as needed."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        seed = config.seed
        population = build_population(_rng(seed, "world"), config)
        self.fx = FxTable.simulate(_rng(seed, "fx"), config.days)
        active = np.full(len(population.people), config.days, dtype=np.int64)
        economy = make_economy(
            _rng(seed, "economy"), population, config.start_date, config.days, active
        )
        self.expected_daily_candidates = expected_daily_count(economy)
        expected_total = self.expected_daily_candidates * config.days
        self.fraud_plan = plan_fraud(_rng(seed, "fraud_plan"), config, economy, expected_total)
        economy = self.fraud_plan.economy
        self.laundering_plan = plan_laundering(
            _rng(seed, "laundering_plan"),
            config,
            economy,
            self.fx,
            expected_total,
            first_attempt=self.fraud_plan.attempts + 1,
        )
        accounts = economy.population.accounts
        opening = accounts.opening_balance + self.laundering_plan.reserve
        population = replace(
            economy.population, accounts=replace(accounts, opening_balance=opening)
        )
        self.economy = replace(economy, population=population)
        self.population = population

    def days(self) -> Iterator[SettledDay]:
        """Settle and yield each day in order (a fresh run from the opening balances each call)."""
        config, economy, seed = self.config, self.economy, self.config.seed
        accounts = self.population.accounts
        balances = Balances(
            accounts.opening_balance, self.laundering_plan.reserve, accounts.credit_limit
        )
        pending: dict[int, list[EventBatch]] = {}
        laundering = self.laundering_plan.events
        bounds = economy.start_ns + NANOSECONDS_PER_DAY * np.arange(config.days + 1)
        cuts = np.searchsorted(laundering.timestamp_ns, bounds)
        for day in range(config.days):
            available = balances.available()
            honest, refunds = honest_day(
                _rng(seed, "days", day), economy, day, config.days, available
            )
            for refund_day, batch in refunds.items():
                pending.setdefault(refund_day, []).append(batch)
            fraud = fraud_day(
                _rng(seed, "fraud", day), self.fraud_plan, economy, self.fx, day, available
            )
            planned = laundering.take(np.arange(cuts[day], cuts[day + 1]))
            batch = concat([honest, *pending.pop(day, []), fraud, planned])
            apply_fx(batch, accounts, self.fx, economy.start_ns)
            tie_break = _rng(seed, "order", day).integers(0, 2**62, len(batch))
            batch = batch.take(np.lexsort((tie_break, batch.timestamp_ns)))
            accepted = balances.settle(batch)
            events = batch.take(accepted)
            ids = _rng(seed, "ids", day).integers(1, 2**63 - 1, len(events), dtype=np.int64)
            yield SettledDay(day, events, ids, len(batch), int((~accepted).sum()))

    def generate(self, on_day=None) -> SimResult:
        """Every day settled and joined. `on_day(settled_day)` is called after each day."""
        days = []
        for settled in self.days():
            days.append(settled)
            if on_day is not None:
                on_day(settled)
        transaction_id = np.concatenate([item.transaction_id for item in days])
        assert len(np.unique(transaction_id)) == len(transaction_id), "transaction ids collide"
        return SimResult(
            config=self.config,
            population=self.population,
            economy=self.economy,
            fx=self.fx,
            fraud_plan=self.fraud_plan,
            laundering_plan=self.laundering_plan,
            events=concat([item.events for item in days]),
            transaction_id=transaction_id,
            candidates=sum(item.candidates for item in days),
            refused=sum(item.refused for item in days),
            expected_daily_candidates=self.expected_daily_candidates,
        )
