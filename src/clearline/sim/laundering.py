"""Money laundering: every attempt planned up front, with its defining shape, and funded.

Guarantees:
- Typologies (names as written in `labels.parquet`): the eight IBM AMLworld patterns `fan_out`,
  `fan_in`, `cycle`, `scatter_gather`, `gather_scatter`, `bipartite`, `stack`, `random`, plus
  `structuring` (deposits or transfers just under the payee's reporting threshold),
  `rapid_movement` (money in and out of an account within minutes) and `lone` (single illicit
  transactions outside any pattern). Each attempt has an `attempt_id` on all its transactions.
- Shapes hold by construction: a fan-in has k >= 3 sources paying one target within its window; a
  cycle returns to its origin; scatter-gather goes origin -> k intermediates -> one target;
  gather-scatter goes k sources -> hub -> m targets; a stack is two bipartite layers; every hop of a
  chain happens after the hop that funded it, and forwards at most what arrived.
- Accounts involved are ordinary people, merchants and enterprises of the population; who pays whom
  decides payment type, channel, merchant category and device by the honest rules (`edges`); sizes
  come from the honest distribution of that payment type, tilted up (the larger of two draws), and
  then pass along chains minus a fee of at most `fee_max`; times follow honest hourly rhythms.
- Funding: laundered money starts in reserves added to the opening balances of the accounts that
  send more than they received within the scheme; settlement moves it reserve to reserve, so every
  planned laundering payment settles and honest spending never uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from clearline.sim.amounts import minor_units
from clearline.sim.behaviour import Economy
from clearline.sim.config import LAUNDERING_TYPOLOGIES, SimConfig
from clearline.sim.edges import events, payment_types
from clearline.sim.geography import SCALES, THRESHOLDS_MINOR, FxTable
from clearline.sim.rhythm import NANOSECONDS_PER_DAY, time_after, times_in_day
from clearline.sim.schema import LAUNDERING_CODE, OWNER, EventBatch, concat
from clearline.sim.settle import apply_fx
from clearline.sim.world import SEC, SERVICE_SECTORS

TRANSACTIONS_PER_ATTEMPT = {
    "fan_out": 5.5,
    "fan_in": 5.5,
    "cycle": 3.9,
    "scatter_gather": 8.5,
    "gather_scatter": 8.3,
    "bipartite": 5.5,
    "stack": 6.5,
    "random": 4.8,
    "structuring": 5.8,
    "rapid_movement": 4.3,
    "lone": 1.0,
}
"""Mean transactions per attempt, used to turn the configured share into attempt counts."""

MINUTE_NS = 60 * 1_000_000_000
RETRIES = 8
P, M, E, G, V = "P", "M", "E", "G", "V"
"""Owner kinds in templates: person, merchant, trading enterprise, gig platform, cash vault."""

TEMPLATES: dict[str, list[tuple[tuple[str, ...], float]]] = {
    "fan_out": [((P, M), 0.6), ((P, P), 0.23), ((G, P), 0.15), ((E, E), 0.02)],
    "fan_in": [((P, M), 0.68), ((P, P), 0.25), ((P, G), 0.05), ((E, E), 0.02)],
    "cycle": [((P,), 0.4), ((P, G, P, M), 0.5), ((P, M, E), 0.08), ((E,), 0.02)],
    "scatter_gather": [((P, P, M), 0.5), ((G, P, M), 0.3), ((P, P, P), 0.15), ((P, M, E), 0.05)],
    "gather_scatter": [((P, P, M), 0.5), ((P, G, P), 0.3), ((P, P, P), 0.15), ((E, E, P), 0.05)],
    "bipartite": [((P, M), 0.6), ((P, P), 0.25), ((G, P), 0.12), ((E, E), 0.03)],
    "stack": [
        ((P, P, M), 0.4),
        ((G, P, M), 0.3),
        ((P, G, P), 0.15),
        ((P, P, P), 0.12),
        ((P, M, E), 0.03),
    ],
    "lone": [((P, M), 0.6), ((P, P), 0.2), ((P, V), 0.1), ((G, P), 0.05), ((E, E), 0.05)],
}
"""Who pays whom in each typology, with weights: (kinds along the pattern, weight). Owner kinds
decide the payment type by the honest rules: P->M merchant payment, P->P P2P (or remittance across
borders), P->G bill, G->P gig income, M->P refund, M->E and E->E trade, E->P salary. A cycle of
(P,) or (E,) repeats that kind 3 to 6 times; the others close back to their first account. The
weights favour the kinds of payment honest people make most, so that payment types blend in."""

RANDOM_WALK_MOVES = {
    P: ((P, 0.4), (M, 0.4), (G, 0.2)),
    M: ((P, 0.6), (E, 0.4)),
    G: ((P, 1.0),),
    E: ((E, 0.3), (P, 0.7)),
}
"""Next kind of account in a `random` walk, with probabilities."""


@dataclass(frozen=True, slots=True)
class LaunderingPlan:
    """Every laundering payment of the run (time order, FX applied) and the reserves funding it."""

    events: EventBatch
    reserve: np.ndarray
    attempts: int


class _Pools:
    """Accounts the launderers control, by owner kind."""

    def __init__(self, rng: np.random.Generator, economy: Economy, attempts: int) -> None:
        population = economy.population
        size = max(30, attempts * 3)
        people = population.people.account[economy.active_until_day >= economy.days]
        self.person = rng.choice(people, size=min(size, len(people)), replace=False)
        merchants = population.merchants
        popular = merchants.popularity / merchants.popularity.sum()
        count = min(max(5, size // 2), len(popular))
        self.merchant = merchants.account[
            rng.choice(len(popular), size=count, replace=False, p=popular)
        ]
        traders = population.enterprises.account[population.enterprises.sector >= SERVICE_SECTORS]
        self.enterprise = rng.choice(
            traders, size=min(max(5, size // 6), len(traders)), replace=False
        )
        enterprises = population.enterprises
        self.platform = enterprises.account[enterprises.sector == SEC["gig_platform"]]
        self.country = population.accounts.country

    def pick(self, rng: np.random.Generator, kind: str, count: int, near: int = -1) -> np.ndarray:
        """`count` distinct accounts of `kind`, mostly in the country of account `near`."""
        pool = {P: self.person, M: self.merchant, E: self.enterprise, G: self.platform}[kind]
        if near >= 0 and rng.random() < 0.99:
            local = pool[self.country[pool] == self.country[near]]
            pool = local if len(local) >= count else pool
        return rng.choice(pool, size=count, replace=len(pool) < count)


class _Attempt:
    """Builds one attempt hop by hop; `ok` turns False when a hop cannot fit in the run."""

    def __init__(
        self,
        rng,
        economy: Economy,
        fx: FxTable,
        typology: str,
        attempt_id: int,
        start_day: int,
        window_days: int,
        fee_max: float,
        tilt: float,
    ) -> None:
        self.rng, self.economy, self.fx = rng, economy, fx
        self.typology, self.attempt_id, self.fee_max = typology, attempt_id, fee_max
        self.tilt = tilt
        first_ns = economy.start_ns + start_day * NANOSECONDS_PER_DAY
        self.start_ns = max(first_ns, economy.start_ns)
        self.end_ns = min(
            first_ns + window_days * NANOSECONDS_PER_DAY,
            economy.start_ns + economy.days * NANOSECONDS_PER_DAY,
        )
        self.window_days = max(1, (self.end_ns - self.start_ns) // NANOSECONDS_PER_DAY)
        self.batches: list[EventBatch] = []
        self.ok = True

    def _kind(self, payer: int, payee: int) -> int:
        return int(payment_types(self.economy, np.array([payer]), np.array([payee]))[0])

    def first_time(self, payer: int, payee: int) -> int:
        """An honest-looking moment somewhere in the window."""
        day = int(
            self.rng.integers(0, max(1, (self.end_ns - self.start_ns) // NANOSECONDS_PER_DAY))
        )
        country = self.economy.population.accounts.country[payer]
        moment = times_in_day(
            self.rng,
            self.start_ns + day * NANOSECONDS_PER_DAY,
            np.array([country]),
            self._kind(payer, payee),
        )
        return int(moment[0])

    def next_time(self, after_ns: int, payer: int, payee: int, rapid: bool = False) -> int:
        """A moment after `after_ns`: minutes later when `rapid`, else hours to days later."""
        if rapid:
            moment = after_ns + int(self.rng.uniform(3, 90) * MINUTE_NS)
            return moment if moment < self.end_ns else self._fail()
        gap = (
            int(self.rng.exponential(0.25 * self.window_days) * NANOSECONDS_PER_DAY)
            + 30 * MINUTE_NS
        )
        country = int(self.economy.population.accounts.country[payer])
        moment = time_after(
            self.rng,
            after_ns + gap,
            country,
            self._kind(payer, payee),
            self.economy.start_ns,
            self.end_ns,
        )
        if moment < 0:
            moment = after_ns + int(self.rng.uniform(10, 120) * MINUTE_NS)
        return moment if moment < self.end_ns else self._fail()

    def _fail(self) -> int:
        self.ok = False
        return -1

    def pay(self, payer: int, payee: int, when: int, amount: int | None = None) -> int:
        """Record one payment and return what the payee received (its own minor units)."""
        if not self.ok or when < 0:
            self.ok = False
            return 0
        batch = events(
            self.rng,
            self.economy,
            np.array([payer]),
            np.array([payee]),
            np.array([when]),
            None if amount is None else np.array([max(amount, 1)]),
            self.tilt,
            laundering=LAUNDERING_CODE[self.typology],
            attempt=self.attempt_id,
            illicit_funds=True,
        )
        apply_fx(batch, self.economy.population.accounts, self.fx, self.economy.start_ns)
        self.batches.append(batch)
        return int(batch.amount_received[0])

    def forward(self, received: int, payer: int, payee: int, parts: int = 1) -> np.ndarray:
        """What `payer` passes on of `received`: minus a fee, split in `parts`, honestly rounded."""
        kind = self._kind(payer, payee)
        country = self.economy.population.accounts.country[payer]
        kept = received * (1 - self.rng.uniform(0, self.fee_max))
        shares = self.rng.dirichlet(np.full(parts, 3.0)) if parts > 1 else np.ones(1)
        major = kept * shares / 10.0 ** SCALES[country]
        return minor_units(self.rng, major, np.full(parts, country), kind)

    def result(self) -> EventBatch | None:
        return concat(self.batches) if self.ok and self.batches else None


def _choose(
    rng: np.random.Generator, options: list[tuple[tuple[str, ...], float]]
) -> tuple[str, ...]:
    weights = np.array([weight for _, weight in options])
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _vault(economy: Economy, account: int) -> int:
    population = economy.population
    return int(population.participants.cash_account[population.accounts.participant[account]])


def _distinct(pools: _Pools, rng, kinds: tuple[str, ...], near: int = -1) -> list[int] | None:
    """One account per kind, all different, near the first one's country."""
    first = int(pools.pick(rng, kinds[0], 1)[0]) if near < 0 else near
    chosen = [first] + [int(pools.pick(rng, kind, 1, near=first)[0]) for kind in kinds[1:]]
    return chosen if len(set(chosen)) == len(chosen) else None


def fan_out(a: _Attempt, pools: _Pools) -> None:
    source, target = _choose(a.rng, TEMPLATES["fan_out"])
    origin = int(pools.pick(a.rng, source, 1)[0])
    targets = np.unique(pools.pick(a.rng, target, int(a.rng.integers(3, 9)), near=origin))
    targets = targets[targets != origin]
    if len(targets) < 3:
        a.ok = False
    for payee in a.rng.permutation(targets).tolist():
        a.pay(origin, payee, a.first_time(origin, payee))


def fan_in(a: _Attempt, pools: _Pools) -> None:
    source, target = _choose(a.rng, TEMPLATES["fan_in"])
    hub = int(pools.pick(a.rng, target, 1)[0])
    sources = np.unique(pools.pick(a.rng, source, int(a.rng.integers(3, 9)), near=hub))
    sources = sources[sources != hub]
    if len(sources) < 3:
        a.ok = False
    for payer in a.rng.permutation(sources).tolist():
        a.pay(payer, hub, a.first_time(payer, hub))


def _chain(a: _Attempt, nodes: list[int], rapid: bool = False) -> None:
    """Pay along `nodes` in order, the first hop drawn, each later hop forwarding what arrived."""
    when = a.first_time(nodes[0], nodes[1])
    received = a.pay(nodes[0], nodes[1], when)
    for payer, payee in pairwise(nodes[1:]):
        amount = int(a.forward(received, payer, payee)[0])
        when = a.next_time(when, payer, payee, rapid)
        received = a.pay(payer, payee, when, amount)


def cycle(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["cycle"])
    if kinds in ((P,), (E,)):
        kinds = kinds * int(a.rng.integers(3, 7))
    nodes = _distinct(pools, a.rng, kinds)
    if nodes is None:
        a.ok = False
        return
    _chain(a, [*nodes, nodes[0]])


def random_walk(a: _Attempt, pools: _Pools) -> None:
    moves = RANDOM_WALK_MOVES
    kind = P if a.rng.random() < 0.9 else E
    nodes = [int(pools.pick(a.rng, kind, 1)[0])]
    for _ in range(int(a.rng.integers(3, 8))):
        options = moves[kind]
        kind = options[int(a.rng.choice(len(options), p=[weight for _, weight in options]))][0]
        following = int(pools.pick(a.rng, kind, 1, near=nodes[-1])[0])
        if following == nodes[-1]:
            break
        nodes.append(following)
    if len(nodes) < 3:
        a.ok = False
        return
    _chain(a, nodes)


def _layer(a: _Attempt, payers: list[int], payees: list[int], funds: dict[int, list]) -> None:
    """Each payer pays 1..2 payees; drawn sums when it holds nothing, else forwards its receipts."""
    for payer in payers:
        count = int(min(a.rng.integers(1, 3), len(payees)))
        chosen = [int(item) for item in a.rng.choice(payees, size=count, replace=False)]
        held = funds.get(payer)
        if held is None:
            for payee in chosen:
                received = a.pay(payer, payee, a.first_time(payer, payee))
                funds.setdefault(payee, []).append((received, a.batches[-1].timestamp_ns[0]))
            continue
        amounts = a.forward(sum(item[0] for item in held), payer, chosen[0], count)
        after = max(int(item[1]) for item in held)
        for payee, amount in zip(chosen, amounts.tolist(), strict=True):
            received = a.pay(payer, payee, a.next_time(after, payer, payee), amount)
            funds.setdefault(payee, []).append((received, a.batches[-1].timestamp_ns[0]))


def _layers(
    a: _Attempt, pools: _Pools, kinds: tuple[str, ...], sizes: list[tuple[int, int]]
) -> None:
    groups: list[list[int]] = []
    anchor = int(pools.pick(a.rng, kinds[0], 1)[0])
    for kind, (low, high) in zip(kinds, sizes, strict=True):
        drawn = np.unique(pools.pick(a.rng, kind, int(a.rng.integers(low, high + 1)), near=anchor))
        group = [int(item) for item in drawn if all(int(item) not in other for other in groups)]
        if not group:
            a.ok = False
            return
        groups.append(group)
    funds: dict[int, list] = {}
    for payers, payees in pairwise(groups):
        _layer(a, payers, payees, funds)
        if any(payee not in funds for payee in payees):
            a.ok = False


def scatter_gather(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["scatter_gather"])
    _spread(a, pools, kinds, gather_first=False)


def gather_scatter(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["gather_scatter"])
    _spread(a, pools, kinds, gather_first=True)


def _spread(a: _Attempt, pools: _Pools, kinds: tuple[str, ...], gather_first: bool) -> None:
    """origin -> k middles -> target (scatter-gather) or k sources -> hub -> m targets."""
    rng = a.rng
    ends = _distinct(pools, rng, (kinds[0], kinds[2]) if not gather_first else (kinds[1],))
    if ends is None:
        a.ok = False
        return
    drawn = np.unique(
        pools.pick(
            rng, kinds[1] if not gather_first else kinds[0], int(rng.integers(3, 7)), near=ends[0]
        )
    )
    many = [int(item) for item in drawn if int(item) not in ends]
    if len(many) < 3:
        a.ok = False
        return
    if not gather_first:
        origin, target = ends
        for middle in many:
            when = a.first_time(origin, middle)
            received = a.pay(origin, middle, when)
            a.pay(
                middle,
                target,
                a.next_time(when, middle, target),
                int(a.forward(received, middle, target)[0]),
            )
        return
    hub = ends[0]
    drawn = np.unique(pools.pick(rng, kinds[2], int(rng.integers(3, 7)), near=hub))
    targets = [int(item) for item in drawn if int(item) != hub and int(item) not in many]
    if len(targets) < 3:
        a.ok = False
        return
    receipts = [a.pay(source, hub, a.first_time(source, hub)) for source in many]
    last = max(int(batch.timestamp_ns[0]) for batch in a.batches) if a.batches else 0
    amounts = a.forward(sum(receipts), hub, targets[0], len(targets))
    for payee, amount in zip(targets, amounts.tolist(), strict=True):
        a.pay(hub, payee, a.next_time(last, hub, payee), amount)


def bipartite(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["bipartite"])
    _layers(a, pools, kinds, [(2, 4), (2, 4)])


def stack(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["stack"])
    _layers(a, pools, kinds, [(2, 3), (1, 3), (2, 3)])


def structuring(a: _Attempt, pools: _Pools) -> None:
    """Several payments just under the reporting threshold into one account: cash deposits (30%),
    transfers from several people (30%) or purchases at one merchant (40%)."""
    rng, economy = a.rng, a.economy
    draw = rng.random()
    target = int(pools.pick(rng, M if draw >= 0.6 else P, 1)[0])
    for _ in range(int(rng.integers(3, 9))):
        payer = (
            _vault(economy, target) if draw < 0.3 else int(pools.pick(rng, P, 1, near=target)[0])
        )
        if payer == target:
            continue
        country = int(economy.population.accounts.country[payer])
        major = THRESHOLDS_MINOR[country] * rng.uniform(0.82, 0.995) / 10.0 ** SCALES[country]
        amount = minor_units(rng, np.array([major]), np.array([country]), a._kind(payer, target))
        a.pay(payer, target, a.first_time(payer, target), int(amount[0]))
    if len(a.batches) < 3:
        a.ok = False


def rapid_movement(a: _Attempt, pools: _Pools) -> None:
    """Money arrives and leaves again within minutes, one to three times."""
    rng, economy = a.rng, a.economy
    kind = P if rng.random() < 0.95 else E
    middle = int(pools.pick(rng, kind, 1)[0])
    for _ in range(int(rng.integers(1, 4))):
        if kind == P:
            source = (
                _vault(economy, middle)
                if rng.random() < 0.2
                else int(pools.pick(rng, P, 1, near=middle)[0])
            )
            exit_kind = rng.random()
            target = (
                _vault(economy, middle)
                if exit_kind < 0.25
                else int(pools.pick(rng, M if exit_kind < 0.65 else P, 1, near=middle)[0])
            )
        else:
            source, target = (int(item) for item in pools.pick(rng, E, 2, near=middle))
            target = int(pools.pick(rng, P, 1, near=middle)[0]) if rng.random() < 0.5 else target
        if middle in (source, target):
            continue
        when = a.first_time(source, middle)
        received = a.pay(source, middle, when)
        amount = int(a.forward(received, middle, target)[0])
        a.pay(middle, target, a.next_time(when, middle, target, rapid=True), amount)
    if len(a.batches) < 2:
        a.ok = False


def lone(a: _Attempt, pools: _Pools) -> None:
    kinds = _choose(a.rng, TEMPLATES["lone"])
    payer = int(pools.pick(a.rng, kinds[0], 1)[0])
    payee = (
        _vault(a.economy, payer)
        if kinds[1] == V
        else int(pools.pick(a.rng, kinds[1], 1, near=payer)[0])
    )
    if payee == payer:
        a.ok = False
        return
    a.pay(payer, payee, a.first_time(payer, payee))


BUILDERS = {
    "fan_out": fan_out,
    "fan_in": fan_in,
    "cycle": cycle,
    "scatter_gather": scatter_gather,
    "gather_scatter": gather_scatter,
    "bipartite": bipartite,
    "stack": stack,
    "random": random_walk,
    "structuring": structuring,
    "rapid_movement": rapid_movement,
    "lone": lone,
}


def attempt_counts(config: SimConfig, expected_total: float) -> dict[str, int]:
    laundering = config.laundering
    counts = {}
    for typology in LAUNDERING_TYPOLOGIES:
        share = laundering.typology_share(typology)
        wanted = share * expected_total / TRANSACTIONS_PER_ATTEMPT[typology]
        counts[typology] = max(1, round(wanted)) if share > 0 else 0
    return counts


def reserves(batch: EventBatch, economy: Economy) -> np.ndarray:
    """Opening reserve per account so that no account sends laundered money it does not hold."""
    accounts = economy.population.accounts
    held = [0] * len(accounts)
    needed = [0] * len(accounts)
    rows = zip(
        batch.from_account.tolist(),
        batch.to_account.tolist(),
        batch.amount_paid.tolist(),
        batch.amount_received.tolist(),
        strict=True,
    )
    for payer, payee, paid, received in rows:
        if held[payer] < paid:
            needed[payer] += paid - held[payer]
            held[payer] = paid
        held[payer] -= paid
        held[payee] += received
    reserve = np.array(needed, dtype=np.int64)
    reserve[accounts.owner_kind == OWNER["participant"]] = 0
    return reserve


def _tile_start(rng: np.random.Generator, days: int, window: int) -> int:
    """Start of a window among back-to-back tiles of `window` days, chosen by tile length.

    Tiling (rather than a uniform start) spreads laundering evenly over the run, so the date of
    a payment says nothing about whether it is laundering; tiles never overlap the run's edges.
    """
    starts = np.arange(0, days, window)
    lengths = np.minimum(starts + window, days) - starts
    return int(rng.choice(starts, p=lengths / lengths.sum()))


def plan_laundering(
    rng: np.random.Generator,
    config: SimConfig,
    economy: Economy,
    fx: FxTable,
    expected_total: float,
    first_attempt: int = 1,
) -> LaunderingPlan:
    """Every laundering attempt of the run, in time order, with the reserves that fund them."""
    counts = attempt_counts(config, expected_total)
    pools = _Pools(rng, economy, sum(counts.values()))
    window = min(config.laundering.window_days_max, config.days)
    batches: list[EventBatch] = []
    attempt_id = first_attempt
    for typology in LAUNDERING_TYPOLOGIES:
        for _ in range(counts[typology]):
            for _try in range(RETRIES):
                start = _tile_start(rng, config.days, window)
                attempt = _Attempt(
                    rng,
                    economy,
                    fx,
                    typology,
                    attempt_id,
                    start,
                    window,
                    config.laundering.fee_max,
                    config.laundering.amount_tilt,
                )
                BUILDERS[typology](attempt, pools)
                built = attempt.result()
                if built is not None:
                    batches.append(built)
                    attempt_id += 1
                    break
    planned = concat(batches)
    planned = planned.take(np.argsort(planned.timestamp_ns, kind="stable"))
    return LaunderingPlan(planned, reserves(planned, economy), attempt_id - first_attempt)
