"""Fraud scenarios: planned up front, carried out on their day against real balances.

Guarantees:
- Each scenario has its own rate (`FraudConfig`, a share of all transactions); the plan turns it
  into a number of attempts using the expected honest volume and the scenario's typical number of
  transactions per attempt, with at least one attempt when the rate is above zero.
- Every fraudulent payment is labelled with its scenario and attempt. Payment type, channel,
  merchant category, amounts and times come from the honest rules (`edges`, `rhythm`, `amounts`)
  except where the scheme differs, which is exactly:
  - account_takeover: a device never seen before; transfers that drain 70-95% of the balance to
    mules within minutes, each mule passing the money on (cash-out or to another mule) within hours.
  - card_testing: one new device makes a burst of 8-30 tiny card payments (USD 0.5-3 at local
    prices) from different victims' accounts at one online merchant, seconds apart, then uses 1-3
    of the cards that worked for larger purchases at another online merchant.
  - app_scam: the victim, on their own device, pays a mule 30-70% of their balance on each of 1-3
    days; each payment is passed on within hours.
  - merchant_collusion: a merchant charges victims' cards from a fraudster's device, then refunds
    60-90% of the takings to accomplices (refund abuse).
  - synthetic_identity_bust_out: a made-up person with short tenure and a credit line lives an
    ordinary life, then on one day spends balance plus credit on high-value goods, cash and a
    transfer, and disappears.
- Mule forwards are chained (`requires`): if the payment into the mule is refused, so is the
  forward, so no mule ever passes on money it did not receive.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from clearline.sim.amounts import minor_units
from clearline.sim.behaviour import Economy
from clearline.sim.config import FRAUD_SCENARIOS, SimConfig
from clearline.sim.edges import events, moment_in_day
from clearline.sim.geography import SCALES, FxTable, local_units_from_usd
from clearline.sim.rhythm import NANOSECONDS_PER_DAY, NANOSECONDS_PER_HOUR
from clearline.sim.schema import CH, FRAUD_CODE, MCC_INDEX, MCC_ONLINE, PT, EventBatch, concat
from clearline.sim.settle import apply_fx
from clearline.sim.world import INC, Population

TRANSACTIONS_PER_ATTEMPT = {
    "account_takeover": 4.0,
    "card_testing": 20.0,
    "app_scam": 4.0,
    "merchant_collusion": 26.0,
    "synthetic_identity_bust_out": 6.5,
}
"""Typical number of settled transactions per attempt, used to turn rates into attempt counts."""

MINUTE_NS = 60 * 1_000_000_000
KEY_STRIDE = 1_024
FRAUD_TILT = 0.5
"""Fraudsters buy bigger: half their purchases are the larger of two honest draws."""
DOMESTIC_MULE_SHARE = 0.8
"""Share of account takeovers and APP scams whose mules are in the victim's country."""
HIGH_VALUE_MCCS = ("5732", "5944", "4722", "7011", "5651")


@dataclass(frozen=True, slots=True)
class FraudAttempt:
    """One planned fraud case.

    attempt_id: label shared by all its transactions. scenario: one of `FRAUD_SCENARIOS`.
    first_day, last_day: the days it acts on. subject: the victim person (app_scam), the merchant
    (card_testing, merchant_collusion) or the synthetic person (bust-out); -1 when chosen on the
    day (account takeover picks a victim with money, and its mules, on the day).
    mules: people who receive or pass on the proceeds.
    """

    attempt_id: int
    scenario: str
    first_day: int
    last_day: int
    subject: int
    mules: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FraudPlan:
    """All fraud attempts, and the economy as changed by it (synthetic identities added)."""

    attempt_list: tuple[FraudAttempt, ...]
    economy: Economy
    mules: np.ndarray
    synthetic_people: np.ndarray

    @property
    def attempts(self) -> int:
        return len(self.attempt_list)


def attempt_counts(config: SimConfig, expected_total: float) -> dict[str, int]:
    counts = {}
    for scenario in FRAUD_SCENARIOS:
        share = config.fraud.share(scenario)
        wanted = share * expected_total / TRANSACTIONS_PER_ATTEMPT[scenario]
        counts[scenario] = max(1, round(wanted)) if share > 0 else 0
    return counts


def _mule_pool(rng: np.random.Generator, population: Population, size: int) -> np.ndarray:
    """People recruited as mules: any person, the young more often."""
    people = population.people
    weights = np.array([3.0, 2.0, 1.0, 0.7, 0.5, 0.3])[people.age_band]
    size = min(size, len(people))
    return rng.choice(len(people), size=size, replace=False, p=weights / weights.sum())


def _same_country(
    rng: np.random.Generator, population: Population, pool: np.ndarray, country: int, count: int
):
    local = pool[population.people.country[pool] == country]
    local = local if len(local) else np.flatnonzero(population.people.country == country)
    return tuple(int(item) for item in rng.choice(local, size=count))


def _mules_for(rng: np.random.Generator, population: Population, pool: np.ndarray, country: int):
    """Two mules, in the victim's country with probability `DOMESTIC_MULE_SHARE`."""
    if rng.random() < DOMESTIC_MULE_SHARE:
        return _same_country(rng, population, pool, country, 2)
    return tuple(int(item) for item in rng.choice(pool, size=2))


def _synthetic(
    rng: np.random.Generator, economy: Economy, people_index: np.ndarray, days: np.ndarray
) -> Economy:
    """Economy in which `people_index` are synthetic identities busting out on `days`."""
    population = economy.population
    people, accounts = population.people, population.accounts
    tenure = rng.integers(30, 200, len(people_index))
    people_tenure = people.tenure_days.copy()
    people_tenure[people_index] = tenure
    kyc = people.kyc_tier.copy()
    kyc[people_index] = 2
    account = people.account[people_index]
    credit = accounts.credit_limit.copy()
    usd = people.monthly_income_usd[people_index] * rng.uniform(0.5, 1.5, len(people_index))
    country = people.country[people_index]
    credit[account] = np.floor(local_units_from_usd(usd, country) * 10.0 ** SCALES[country]).astype(
        np.int64
    )
    account_tenure = accounts.tenure_days.copy()
    account_tenure[account] = tenure
    active = economy.active_until_day.copy()
    active[people_index] = days + 1
    population = replace(
        population,
        people=replace(people, tenure_days=people_tenure, kyc_tier=kyc),
        accounts=replace(accounts, credit_limit=credit, tenure_days=account_tenure),
    )
    return replace(economy, population=population, active_until_day=active)


def plan_fraud(
    rng: np.random.Generator, config: SimConfig, economy: Economy, expected_total: float
) -> FraudPlan:
    """Choose every fraud attempt of the run (who, when) from the `fraud_plan` stream."""
    population, days = economy.population, config.days
    counts = attempt_counts(config, expected_total)
    people, merchants = population.people, population.merchants
    mules = _mule_pool(
        rng, population, max(4, (counts["account_takeover"] + counts["app_scam"]) * 2)
    )
    online = np.flatnonzero(MCC_ONLINE[merchants.mcc] >= 0.5)
    elder = np.array([0.6, 0.7, 0.9, 1.1, 1.4, 1.8])[people.age_band]
    attempts: list[FraudAttempt] = []
    for scenario in FRAUD_SCENARIOS:
        for _ in range(counts[scenario]):
            first = int(rng.integers(0, days))
            subject, last, chosen = -1, first, ()
            if scenario == "card_testing":
                subject = (
                    int(rng.choice(online))
                    if len(online)
                    else int(rng.integers(len(merchants.country)))
                )
            elif scenario == "app_scam":
                subject = int(rng.choice(len(people), p=elder / elder.sum()))
                last = min(first + int(rng.integers(0, 3)), days - 1)
                chosen = _mules_for(rng, population, mules, int(people.country[subject]))
            elif scenario == "merchant_collusion":
                subject = int(rng.integers(len(merchants.country)))
                last = min(first + int(rng.integers(2, 8)), days - 1)
                chosen = _same_country(rng, population, mules, int(merchants.country[subject]), 3)
            attempts.append(FraudAttempt(len(attempts) + 1, scenario, first, last, subject, chosen))
    synthetic = _plan_synthetic(rng, economy, attempts, mules, days)
    days_of = np.array(
        [item.first_day for item in attempts if item.scenario.startswith("synthetic")]
    )
    economy = _synthetic(rng, economy, synthetic, days_of) if len(synthetic) else economy
    return FraudPlan(tuple(attempts), economy, mules, synthetic)


def _plan_synthetic(
    rng, economy: Economy, attempts: list[FraudAttempt], mules: np.ndarray, days: int
):
    """Pick the synthetic identities (earners who are not mules) and move bust-outs late."""
    people = economy.people
    earners = np.flatnonzero(np.isin(people.income_kind, [INC["salary"], INC["gig"]]))
    victims = [item.subject for item in attempts if item.scenario == "app_scam"]
    earners = np.setdiff1d(earners, np.concatenate([mules, np.array(victims, dtype=np.int64)]))
    rows = [index for index, item in enumerate(attempts) if item.scenario.startswith("synthetic")]
    chosen = rng.choice(earners, size=len(rows), replace=False)
    for row, person in zip(rows, chosen, strict=True):
        day = int(rng.integers(days // 3, days))
        mule = _same_country(rng, economy.population, mules, int(people.country[person]), 1)
        attempts[row] = replace(
            attempts[row], first_day=day, last_day=day, subject=int(person), mules=mule
        )
    return chosen.astype(np.int64)


@dataclass(frozen=True, slots=True)
class _Day:
    """What a scenario needs to act on one day."""

    rng: np.random.Generator
    economy: Economy
    fx: FxTable
    day: int
    available: np.ndarray
    mule_pool: np.ndarray

    @property
    def end_ns(self) -> int:
        return self.economy.start_ns + (self.day + 1) * NANOSECONDS_PER_DAY


def _labelled(
    ctx: _Day,
    attempt: FraudAttempt,
    payer,
    payee,
    when,
    amount=None,
    tilt=FRAUD_TILT,
    keys=None,
    requires=None,
) -> EventBatch:
    size = len(payer)
    return events(
        ctx.rng,
        ctx.economy,
        np.asarray(payer, dtype=np.int64),
        np.asarray(payee, dtype=np.int64),
        np.asarray(when, dtype=np.int64),
        None if amount is None else np.asarray(amount, dtype=np.int64),
        tilt,
        fraud=FRAUD_CODE[attempt.scenario],
        attempt=attempt.attempt_id,
        key=np.zeros(size, dtype=np.int64) if keys is None else np.asarray(keys, dtype=np.int64),
        requires=np.zeros(size, dtype=np.int64)
        if requires is None
        else np.asarray(requires, dtype=np.int64),
    )


def _split(ctx: _Day, total_units: int, parts: int, account: np.ndarray, kind: int) -> np.ndarray:
    """`total_units` in random shares, each rounded down by the habits of payment type `kind`."""
    country = ctx.economy.population.accounts.country[account]
    shares = ctx.rng.dirichlet(np.full(parts, 2.0)) * total_units / 10.0 ** SCALES[country]
    return minor_units(ctx.rng, shares, country, kind)


def _after(ctx: _Day, start_ns: int, count: int, low_min: float, high_min: float) -> np.ndarray:
    return start_ns + np.cumsum(ctx.rng.uniform(low_min, high_min, count) * MINUTE_NS).astype(
        np.int64
    )


def _forwards(ctx: _Day, attempt: FraudAttempt, paid_in: EventBatch, onward: tuple[int, ...]):
    """Each mule passes on what it received within 1-6 hours: cash out, or to the next mule."""
    economy = ctx.economy
    population = economy.population
    mule_account = paid_in.to_account
    size = len(paid_in)
    when = paid_in.timestamp_ns + (ctx.rng.uniform(1, 6, size) * NANOSECONDS_PER_HOUR).astype(
        np.int64
    )
    cash_out = ctx.rng.random(size) < 0.5
    vault = population.participants.cash_account[population.accounts.participant[mule_account]]
    next_mule = population.people.account[np.array(onward[-1:] * size, dtype=np.int64)]
    target = np.where(cash_out | (next_mule == mule_account), vault, next_mule)
    country = population.accounts.country[mule_account]
    kind = np.where(target == vault, PT["cash_out"], PT["p2p"])
    major = paid_in.amount_received * ctx.rng.uniform(0.9, 0.99, size) / 10.0 ** SCALES[country]
    amount = minor_units(ctx.rng, major, country, kind)
    batch = _labelled(ctx, attempt, mule_account, target, when, amount, requires=paid_in.key)
    return batch.take(batch.timestamp_ns < ctx.end_ns)


def account_takeover(ctx: _Day, attempt: FraudAttempt) -> EventBatch:
    population, rng = ctx.economy.population, ctx.rng
    people = population.people
    floor = local_units_from_usd(300.0, people.country) * 10.0 ** SCALES[people.country]
    rich = np.flatnonzero(
        (ctx.available[people.account] > floor) & (ctx.economy.active_until_day > ctx.day)
    )
    if not len(rich):
        return concat([])
    victim_person = int(rng.choice(rich))
    victim = int(people.account[victim_person])
    chosen = _mules_for(rng, population, ctx.mule_pool, int(people.country[victim_person]))
    mules = people.account[np.array(chosen)]
    start = moment_in_day(rng, ctx.economy, ctx.day, victim, PT["p2p"])
    drains = int(rng.integers(1, 4))
    probe = rng.random() < 0.4
    total = int(ctx.available[victim] * rng.uniform(0.7, 0.95))
    amounts = _split(ctx, total, drains, np.full(drains, victim), PT["p2p"])
    payees = mules[rng.integers(0, len(mules), drains)]
    when = _after(ctx, start, drains, 2, 25)
    keys = attempt.attempt_id * KEY_STRIDE + np.arange(1, drains + 1)
    batch = _labelled(ctx, attempt, np.full(drains, victim), payees, when, amounts, keys=keys)
    if probe:
        small = _labelled(ctx, attempt, [victim], [payees[0]], [start], tilt=0.0)
        batch = concat([small, batch])
    batch.device[:] = rng.integers(1, 2**63 - 1, dtype=np.int64)
    batch = batch.take(batch.timestamp_ns < ctx.end_ns)
    apply_fx(batch, population.accounts, ctx.fx, ctx.economy.start_ns)
    drained = batch.take(batch.key > 0)
    return concat([batch, _forwards(ctx, attempt, drained, chosen)])


def card_testing(ctx: _Day, attempt: FraudAttempt) -> EventBatch:
    population, rng = ctx.economy.population, ctx.rng
    people, merchants = population.people, population.merchants
    merchant = attempt.subject
    country = int(merchants.country[merchant])
    local = np.flatnonzero((people.country == country) & (ctx.economy.active_until_day > ctx.day))
    if len(local) < 2:
        return concat([])
    count = min(int(rng.integers(8, 31)), len(local))
    victims = people.account[rng.choice(local, size=count, replace=False)]
    start = moment_in_day(
        rng, ctx.economy, ctx.day, int(merchants.account[merchant]), PT["merchant_payment"]
    )
    when = start + np.cumsum(rng.exponential(45.0, count) * 1e9).astype(np.int64)
    usd = rng.uniform(0.5, 3.0, count)
    amount = minor_units(
        rng,
        local_units_from_usd(usd, np.full(count, country)),
        np.full(count, country),
        PT["merchant_payment"],
    )
    keys = attempt.attempt_id * KEY_STRIDE + np.arange(1, count + 1)
    tests = _labelled(
        ctx, attempt, victims, np.full(count, merchants.account[merchant]), when, amount, keys=keys
    )
    shops = np.flatnonzero((merchants.country == country) & (MCC_ONLINE[merchants.mcc] >= 0.5))
    shops = shops[shops != merchant]
    used = np.asarray(rng.choice(count, size=min(int(rng.integers(1, 4)), count), replace=False))
    shop = (
        merchants.account[rng.choice(shops, size=len(used))]
        if len(shops)
        else tests.to_account[used]
    )
    later = when[-1] + np.sort(rng.uniform(10, 120, len(used))).astype(np.int64) * MINUTE_NS
    buys = _labelled(ctx, attempt, victims[used], shop, later, requires=keys[used])
    batch = concat([tests, buys])
    batch.channel[:] = CH["card"]
    batch.device[:] = rng.integers(1, 2**63 - 1, dtype=np.int64)
    return batch.take(batch.timestamp_ns < ctx.end_ns)


def app_scam(ctx: _Day, attempt: FraudAttempt) -> EventBatch:
    population, rng = ctx.economy.population, ctx.rng
    people = population.people
    victim = int(people.account[attempt.subject])
    if ctx.available[victim] <= 0:
        return concat([])
    mule = int(people.account[attempt.mules[0]])
    share = int(ctx.available[victim] * rng.uniform(0.3, 0.7))
    kind = (
        PT["p2p"]
        if population.accounts.country[victim] == population.accounts.country[mule]
        else PT["remittance"]
    )
    amount = _split(ctx, share, 1, np.array([victim]), kind)
    when = [moment_in_day(rng, ctx.economy, ctx.day, victim, kind)]
    key = [attempt.attempt_id * KEY_STRIDE + 1 + ctx.day - attempt.first_day]
    paid = _labelled(ctx, attempt, [victim], [mule], when, amount, keys=key)
    apply_fx(paid, population.accounts, ctx.fx, ctx.economy.start_ns)
    return concat([paid, _forwards(ctx, attempt, paid, attempt.mules)])


def merchant_collusion(ctx: _Day, attempt: FraudAttempt) -> EventBatch:
    population, rng = ctx.economy.population, ctx.rng
    people, merchants = population.people, population.merchants
    merchant = attempt.subject
    shop = int(merchants.account[merchant])
    local = np.flatnonzero(
        (people.country == merchants.country[merchant]) & (ctx.economy.active_until_day > ctx.day)
    )
    local = np.setdiff1d(local, np.array(attempt.mules))
    count = min(int(rng.integers(2, 7)), len(local))
    if count == 0:
        return concat([])
    victims = people.account[rng.choice(local, size=count, replace=False)]
    when = np.sort(
        [
            moment_in_day(rng, ctx.economy, ctx.day, int(item), PT["merchant_payment"])
            for item in victims
        ]
    )
    charges = _labelled(ctx, attempt, victims, np.full(count, shop), when)
    charges.channel[:] = CH["card"]
    charges.device[:] = rng.integers(1, 2**63 - 1, dtype=np.int64)
    refunds_count = int(rng.integers(1, 3))
    total = int(charges.amount_paid.sum() * rng.uniform(0.6, 0.9))
    amounts = _split(ctx, total, refunds_count, np.full(refunds_count, shop), PT["refund"])
    accomplices = people.account[
        np.array(attempt.mules)[rng.integers(0, len(attempt.mules), refunds_count)]
    ]
    later = _after(ctx, int(when[-1]), refunds_count, 60, 300)
    refunds = _labelled(ctx, attempt, np.full(refunds_count, shop), accomplices, later, amounts)
    batch = concat([charges, refunds])
    return batch.take(batch.timestamp_ns < ctx.end_ns)


def synthetic_identity_bust_out(ctx: _Day, attempt: FraudAttempt) -> EventBatch:
    population, rng = ctx.economy.population, ctx.rng
    people, merchants, accounts = population.people, population.merchants, population.accounts
    person = attempt.subject
    account = int(people.account[person])
    budget = int((ctx.available[account] + accounts.credit_limit[account]) * rng.uniform(0.9, 0.98))
    if budget <= 0:
        return concat([])
    country = people.country[person]
    wanted = np.array([MCC_INDEX[code] for code in HIGH_VALUE_MCCS])
    shops = np.flatnonzero((merchants.country == country) & np.isin(merchants.mcc, wanted))
    shops = shops if len(shops) else np.flatnonzero(merchants.country == country)
    purchases = int(rng.integers(3, 8))
    vault = population.participants.cash_account[accounts.participant[account]]
    payees = np.concatenate(
        [
            merchants.account[rng.choice(shops, size=purchases)],
            np.full(int(rng.integers(1, 3)), vault),
            people.account[np.array(attempt.mules[:1])],
        ]
    )
    kinds = np.where(payees == vault, PT["cash_out"], PT["merchant_payment"])
    kinds[-1] = PT["p2p"]
    shares = rng.dirichlet(np.full(len(payees), 2.0)) * budget / 10.0 ** SCALES[country]
    amount = minor_units(rng, shares, np.full(len(payees), country), kinds)
    order = rng.permutation(len(payees))
    start = moment_in_day(rng, ctx.economy, ctx.day, account, PT["merchant_payment"])
    when = _after(ctx, start, len(payees), 5, 90)
    batch = _labelled(
        ctx, attempt, np.full(len(payees), account), payees[order], when, amount[order]
    )
    return batch.take(batch.timestamp_ns < ctx.end_ns)


SCENARIOS = {
    "account_takeover": account_takeover,
    "card_testing": card_testing,
    "app_scam": app_scam,
    "merchant_collusion": merchant_collusion,
    "synthetic_identity_bust_out": synthetic_identity_bust_out,
}


def fraud_day(
    rng: np.random.Generator,
    plan: FraudPlan,
    economy: Economy,
    fx: FxTable,
    day: int,
    available: np.ndarray,
) -> EventBatch:
    """Every fraudulent candidate payment of `day`, given the balances at the start of the day."""
    ctx = _Day(rng, economy, fx, day, available, plan.mules)
    batches = [
        SCENARIOS[attempt.scenario](ctx, attempt)
        for attempt in plan.attempt_list
        if attempt.first_day <= day <= attempt.last_day
    ]
    return concat(batches)
