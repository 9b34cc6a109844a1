"""The population of the world: participants, people, merchants, enterprises and their accounts.

Guarantees:
- Everything is drawn from the `world` random stream of the seed, in a fixed order, so the same
  config yields the same population.
- Each person, merchant and enterprise holds exactly one account, at a participant of its country,
  in that country's currency. Each participant also holds a cash account (the vault that pays out
  cash and takes deposits). Account ids are drawn for all accounts at once and handed out in a
  shuffled order, so no id range belongs to any kind of owner or to any illicit role.
- Only enterprises, participants' cash accounts and people with a credit line (`credit_limit > 0`)
  may go below zero; everyone else is kept at or above zero by settlement.
- Illicit roles (mules, synthetic identities, colluding merchants, laundering accounts) are chosen
  later by the fraud and laundering plans from this same population; nothing here marks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clearline.sim.config import SimConfig
from clearline.sim.geography import COUNTRIES, PRICE_LEVELS, SCALES, USD_RATES
from clearline.sim.ids import unique_ids
from clearline.sim.schema import MCC_WEIGHTS, OWNER

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_WEIGHTS = np.array([0.14, 0.22, 0.20, 0.17, 0.13, 0.14])
INCOME_KINDS = ("salary", "gig", "pension", "allowance")
INC = {name: code for code, name in enumerate(INCOME_KINDS)}
SECTORS = (
    "utility",
    "telecom",
    "gig_platform",
    "pension_fund",
    "manufacturing",
    "wholesale",
    "logistics",
    "services",
)
SEC = {name: code for code, name in enumerate(SECTORS)}
SERVICE_SECTORS = 4
"""The first four sectors exist once per country (billers, gig platform, pension fund)."""
PARTICIPANT_KINDS = ("bank", "psp")

FRIENDS = 6
"""Size of each person's social circle (people they pay and are paid by)."""
FAVOURITES = 6
"""Merchants a person usually pays."""
DEVICES_MAX = 3
CREDIT_SHARE = 0.08
"""Share of people (KYC tier 2 or 3) who have a credit line."""
ENTERPRISE_CREDIT_USD = 50_000_000
"""Enterprises trade with the world outside the simulation; this credit line stands for that."""
VAULT_CREDIT_MINOR = 10**15

MIGRANT_ORIGINS = {
    "HK": {"CN": 0.7, "TH": 0.3},
    "AE": {"CN": 0.4, "TH": 0.3, "MY": 0.3},
    "SA": {"MY": 0.5, "TH": 0.5},
    "SG": {"MY": 0.6, "CN": 0.4},
    "MY": {"CN": 0.6, "TH": 0.4},
    "US": {"CN": 0.6, "TH": 0.4},
    "DE": {"TH": 0.5, "CN": 0.5},
}
MIGRANT_SHARE = 0.22
"""Share of people in a host country who send money home."""


@dataclass(frozen=True, slots=True)
class Participants:
    """Banks and payment providers. Arrays indexed by participant number."""

    participant_id: np.ndarray
    name: tuple[str, ...]
    kind: np.ndarray
    country: np.ndarray
    cash_account: np.ndarray


@dataclass(frozen=True, slots=True)
class People:
    """People, one row per person (arrays indexed by person number)."""

    person_id: np.ndarray
    country: np.ndarray
    age_band: np.ndarray
    kyc_tier: np.ndarray
    tenure_days: np.ndarray
    income_kind: np.ndarray
    monthly_income_usd: np.ndarray
    merchant_rate: np.ndarray
    devices: np.ndarray
    device_count: np.ndarray
    friends: np.ndarray
    family: np.ndarray
    employer: np.ndarray
    payday: np.ndarray
    billers: np.ndarray
    bill_day: np.ndarray
    favourites: np.ndarray
    account: np.ndarray

    def __len__(self) -> int:
        return len(self.person_id)


@dataclass(frozen=True, slots=True)
class Merchants:
    """Merchants (arrays indexed by merchant number)."""

    merchant_id: np.ndarray
    country: np.ndarray
    mcc: np.ndarray
    accepts_qr: np.ndarray
    popularity: np.ndarray
    supplier: np.ndarray
    device: np.ndarray
    account: np.ndarray


@dataclass(frozen=True, slots=True)
class Enterprises:
    """Enterprises (arrays by enterprise number); `relations` are (buyer, supplier) pairs."""

    enterprise_id: np.ndarray
    country: np.ndarray
    sector: np.ndarray
    payment_terms_days: np.ndarray
    device: np.ndarray
    account: np.ndarray
    relations: np.ndarray


@dataclass(frozen=True, slots=True)
class Accounts:
    """Every account (arrays indexed by account number)."""

    account_id: np.ndarray
    owner_kind: np.ndarray
    owner: np.ndarray
    participant: np.ndarray
    country: np.ndarray
    credit_limit: np.ndarray
    opening_balance: np.ndarray
    tenure_days: np.ndarray

    def __len__(self) -> int:
        return len(self.account_id)


@dataclass(frozen=True, slots=True)
class Population:
    """The whole cast, before any behaviour."""

    participants: Participants
    people: People
    merchants: Merchants
    enterprises: Enterprises
    accounts: Accounts


def _country_weights() -> np.ndarray:
    weights = np.array([country.population_weight for country in COUNTRIES])
    return weights / weights.sum()


def _pick_within(
    rng: np.random.Generator, groups: list[np.ndarray], group_of: np.ndarray, count: int
) -> np.ndarray:
    """For each row, `count` random members of the group named by `group_of` (with replacement)."""
    out = np.full((len(group_of), count), -1, dtype=np.int64)
    for group, members in enumerate(groups):
        rows = np.flatnonzero(group_of == group)
        if len(rows) and len(members):
            out[rows] = members[rng.integers(0, len(members), size=(len(rows), count))]
    return out


def _by_country(country: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(country == index) for index in range(len(COUNTRIES))]


def build_participants(rng: np.random.Generator) -> tuple[Participants, np.ndarray]:
    """Participants and, per country, the market share of each of its participants."""
    names, countries, kinds = [], [], []
    for index, country in enumerate(COUNTRIES):
        for name in country.participant_names:
            names.append(name)
            countries.append(index)
            is_psp = name.endswith(("Pay", "Wallet", "Exchange"))
            kinds.append(PARTICIPANT_KINDS.index("psp" if is_psp else "bank"))
    count = len(names)
    participants = Participants(
        participant_id=unique_ids(rng, count),
        name=tuple(names),
        kind=np.array(kinds, dtype=np.int8),
        country=np.array(countries, dtype=np.int64),
        cash_account=np.full(count, -1, dtype=np.int64),
    )
    shares = rng.dirichlet(np.full(count, 4.0))
    return participants, shares


def build_enterprises(rng: np.random.Generator, config: SimConfig) -> Enterprises:
    """One biller, telecom, gig platform and pension fund per country, then trading firms."""
    traders = max(
        config.people * config.enterprises_per_thousand_people // 1000, 2 * len(COUNTRIES)
    )
    trader_country = rng.choice(len(COUNTRIES), size=traders, p=_country_weights())
    service_country = np.repeat(np.arange(len(COUNTRIES)), SERVICE_SECTORS)
    service_sector = np.tile(np.arange(SERVICE_SECTORS), len(COUNTRIES))
    country = np.concatenate([service_country, trader_country])
    sector = np.concatenate(
        [service_sector, rng.integers(SERVICE_SECTORS, len(SECTORS), size=traders)]
    ).astype(np.int8)
    count = len(country)
    terms = rng.choice(
        np.array([0, 14, 30, 45, 60, 90]), size=count, p=[0.1, 0.15, 0.35, 0.15, 0.15, 0.1]
    )
    trading = np.flatnonzero(sector >= SERVICE_SECTORS)
    relations = _trade_relations(rng, trading, country)
    return Enterprises(
        enterprise_id=unique_ids(rng, count),
        country=country.astype(np.int64),
        sector=sector,
        payment_terms_days=terms.astype(np.int64),
        device=unique_ids(rng, count),
        account=np.full(count, -1, dtype=np.int64),
        relations=relations,
    )


def _trade_relations(rng: np.random.Generator, trading: np.ndarray, country: np.ndarray):
    """(buyer, supplier) pairs: each trader buys from 2..5 others, a third of them abroad."""
    groups = _by_country(country[trading])
    local_groups = [trading[group] for group in groups]
    suppliers_per_buyer = rng.integers(2, 6, size=len(trading))
    buyers = np.repeat(trading, suppliers_per_buyer)
    abroad = rng.random(len(buyers)) < 0.33
    local = _pick_within(rng, local_groups, country[buyers], 1)[:, 0]
    foreign = trading[rng.integers(0, len(trading), size=len(buyers))]
    suppliers = np.where(abroad | (local < 0), foreign, local)
    keep = suppliers != buyers
    return np.stack([buyers[keep], suppliers[keep]], axis=1)


def build_merchants(rng: np.random.Generator, config: SimConfig, enterprises: Enterprises):
    """Merchants with a category, QR acceptance, a Zipf-like popularity and one supplier."""
    count = max(config.people * config.merchants_per_thousand_people // 1000, 3 * len(COUNTRIES))
    country = rng.choice(len(COUNTRIES), size=count, p=_country_weights())
    mcc = rng.choice(len(MCC_WEIGHTS), size=count, p=MCC_WEIGHTS / MCC_WEIGHTS.sum())
    qr_share = np.array([item.qr_share for item in COUNTRIES])
    traders = np.flatnonzero(enterprises.sector >= SERVICE_SECTORS)
    trader_groups = [traders[group] for group in _by_country(enterprises.country[traders])]
    supplier = _pick_within(rng, trader_groups, country, 1)[:, 0]
    supplier = np.where(supplier < 0, traders[rng.integers(0, len(traders), size=count)], supplier)
    return Merchants(
        merchant_id=unique_ids(rng, count),
        country=country.astype(np.int64),
        mcc=mcc.astype(np.int16),
        accepts_qr=rng.random(count) < qr_share[country],
        popularity=rng.pareto(1.2, size=count) + 1.0,
        supplier=supplier,
        device=unique_ids(rng, count),
        account=np.full(count, -1, dtype=np.int64),
    )


def _income(rng: np.random.Generator, age_band: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Income kind and expected monthly income in USD at US prices, by age band."""
    size = len(age_band)
    draw = rng.random(size)
    kind = np.where(draw < 0.72, INC["salary"], np.where(draw < 0.94, INC["gig"], INC["allowance"]))
    young = age_band == 0
    kind = np.where(young & (draw < 0.4), INC["allowance"], kind)
    kind = np.where(young & (draw >= 0.4) & (draw < 0.7), INC["gig"], kind)
    kind = np.where((age_band == len(AGE_BANDS) - 1) & (draw < 0.9), INC["pension"], kind)
    medians = np.array([2_600.0, 900.0, 1_300.0, 700.0])
    sigmas = np.array([0.55, 0.5, 0.4, 0.5])
    income = medians[kind] * np.exp(rng.standard_normal(size) * sigmas[kind])
    return kind.astype(np.int8), income


def _devices(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    count = rng.choice(np.arange(1, DEVICES_MAX + 1), size=size, p=[0.55, 0.35, 0.10])
    devices = unique_ids(rng, size * DEVICES_MAX).reshape(size, DEVICES_MAX)
    devices[np.arange(DEVICES_MAX)[None, :] >= count[:, None]] = 0
    return devices, count.astype(np.int8)


def _friends(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    groups = _by_country(country)
    friends = _pick_within(rng, groups, country, FRIENDS)
    own = np.arange(len(country))[:, None]
    again = _pick_within(rng, groups, country, FRIENDS)
    friends = np.where(friends == own, again, friends)
    return np.where(friends == own, -1, friends)


def _family_abroad(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """For migrants, a family member in their country of origin; -1 for everyone else."""
    family = np.full(len(country), -1, dtype=np.int64)
    groups = _by_country(country)
    codes = [item.code for item in COUNTRIES]
    for host, origins in MIGRANT_ORIGINS.items():
        rows = np.flatnonzero(
            (country == codes.index(host)) & (rng.random(len(country)) < MIGRANT_SHARE)
        )
        if not len(rows):
            continue
        origin_codes = list(origins)
        weights = np.array([origins[code] for code in origin_codes])
        origin = rng.choice(len(origin_codes), size=len(rows), p=weights / weights.sum())
        for position, code in enumerate(origin_codes):
            members = groups[codes.index(code)]
            chosen = rows[origin == position]
            if len(members) and len(chosen):
                family[chosen] = members[rng.integers(0, len(members), size=len(chosen))]
    return family


def _favourites(rng: np.random.Generator, country: np.ndarray, merchants: Merchants) -> np.ndarray:
    out = np.full((len(country), FAVOURITES), -1, dtype=np.int64)
    for index, members in enumerate(_by_country(merchants.country)):
        rows = np.flatnonzero(country == index)
        if len(rows) and len(members):
            weights = merchants.popularity[members]
            out[rows] = rng.choice(members, size=(len(rows), FAVOURITES), p=weights / weights.sum())
    return out


def _employers(
    rng: np.random.Generator, country: np.ndarray, kind: np.ndarray, enterprises: Enterprises
) -> np.ndarray:
    traders = np.flatnonzero(enterprises.sector >= SERVICE_SECTORS)
    groups = [traders[group] for group in _by_country(enterprises.country[traders])]
    employer = _pick_within(rng, groups, country, 1)[:, 0]
    employer = np.where(
        employer < 0, traders[rng.integers(0, len(traders), len(country))], employer
    )
    employer = np.where(
        kind == INC["gig"], country * SERVICE_SECTORS + SEC["gig_platform"], employer
    )
    employer = np.where(
        kind == INC["pension"], country * SERVICE_SECTORS + SEC["pension_fund"], employer
    )
    return np.where(kind == INC["allowance"], -1, employer)


def build_people(
    rng: np.random.Generator, size: int, merchants: Merchants, enterprises: Enterprises
) -> People:
    """`size` people with their circles, income sources, billers and favourite merchants."""
    country = rng.choice(len(COUNTRIES), size=size, p=_country_weights()).astype(np.int64)
    age_band = rng.choice(len(AGE_BANDS), size=size, p=AGE_WEIGHTS).astype(np.int8)
    kind, income = _income(rng, age_band)
    devices, device_count = _devices(rng, size)
    new = rng.random(size) < 0.10
    tenure = np.where(
        new, rng.integers(1, 120, size), 120 + rng.exponential(1_000, size).astype(np.int64)
    )
    payday = rng.choice(np.array([25, 28, 1]), size=size, p=[0.6, 0.2, 0.2])
    payday = np.where(kind == INC["pension"], 1, payday)
    billers = np.stack(
        [country * SERVICE_SECTORS + SEC["utility"], country * SERVICE_SECTORS + SEC["telecom"]],
        axis=1,
    )
    return People(
        person_id=unique_ids(rng, size),
        country=country,
        age_band=age_band,
        kyc_tier=rng.choice(np.array([1, 2, 3]), size=size, p=[0.25, 0.5, 0.25]).astype(np.int8),
        tenure_days=tenure.astype(np.int64),
        income_kind=kind,
        monthly_income_usd=income,
        merchant_rate=rng.gamma(2.0, 0.85 / 2.0, size),
        devices=devices,
        device_count=device_count,
        friends=_friends(rng, country),
        family=_family_abroad(rng, country),
        employer=_employers(rng, country, kind, enterprises),
        payday=payday.astype(np.int64),
        billers=billers,
        bill_day=rng.integers(1, 29, size=(size, 2)),
        favourites=_favourites(rng, country, merchants),
        account=np.full(size, -1, dtype=np.int64),
    )


def _local_minor(usd: np.ndarray, country: np.ndarray) -> np.ndarray:
    return np.floor(
        usd * USD_RATES[country] * PRICE_LEVELS[country] * 10.0 ** SCALES[country]
    ).astype(np.int64)


def build_accounts(
    rng: np.random.Generator, population_parts: tuple, shares: np.ndarray
) -> Accounts:
    """One account per owner, ids drawn for all accounts at once, participant by market share."""
    participants, people, merchants, enterprises = population_parts
    owner_kind = np.concatenate(
        [
            np.full(len(people), OWNER["person"]),
            np.full(len(merchants.country), OWNER["merchant"]),
            np.full(len(enterprises.country), OWNER["enterprise"]),
            np.full(len(participants.country), OWNER["participant"]),
        ]
    ).astype(np.int8)
    owner = np.concatenate(
        [
            np.arange(len(people)),
            np.arange(len(merchants.country)),
            np.arange(len(enterprises.country)),
            np.arange(len(participants.country)),
        ]
    )
    country = np.concatenate(
        [people.country, merchants.country, enterprises.country, participants.country]
    )
    total = len(owner)
    participant = np.empty(total, dtype=np.int64)
    for index in range(len(COUNTRIES)):
        rows = np.flatnonzero(country == index)
        local = np.flatnonzero(participants.country == index)
        weights = shares[local] / shares[local].sum()
        participant[rows] = rng.choice(local, size=len(rows), p=weights)
    vault = owner_kind == OWNER["participant"]
    participant[vault] = owner[vault]
    credit_usd = np.zeros(total)
    is_person = owner_kind == OWNER["person"]
    has_credit = is_person.copy()
    has_credit[is_person] = (people.kyc_tier >= 2) & (rng.random(len(people)) < CREDIT_SHARE)
    credit_usd[has_credit] = 0.5 * people.monthly_income_usd[owner[has_credit]]
    credit_usd[owner_kind == OWNER["enterprise"]] = ENTERPRISE_CREDIT_USD
    credit_limit = _local_minor(credit_usd, country)
    credit_limit[vault] = VAULT_CREDIT_MINOR
    opening_usd = np.zeros(total)
    opening_usd[is_person] = 1.5 * people.monthly_income_usd * rng.lognormal(0.0, 0.5, len(people))
    is_merchant = owner_kind == OWNER["merchant"]
    opening_usd[is_merchant] = 800.0 * rng.lognormal(0.0, 1.0, int(is_merchant.sum()))
    is_enterprise = owner_kind == OWNER["enterprise"]
    opening_usd[is_enterprise] = 40_000.0 * rng.lognormal(0.0, 1.0, int(is_enterprise.sum()))
    tenure = np.concatenate(
        [people.tenure_days, 200 + rng.exponential(1_500, total - len(people)).astype(np.int64)]
    )
    return Accounts(
        account_id=unique_ids(rng, total),
        owner_kind=owner_kind,
        owner=owner.astype(np.int64),
        participant=participant,
        country=country.astype(np.int64),
        credit_limit=credit_limit,
        opening_balance=_local_minor(opening_usd, country),
        tenure_days=tenure.astype(np.int64),
    )


def build_population(rng: np.random.Generator, config: SimConfig) -> Population:
    """The cast of `config`, drawn from `rng` in a fixed order."""
    participants, shares = build_participants(rng)
    enterprises = build_enterprises(rng, config)
    merchants = build_merchants(rng, config, enterprises)
    people = build_people(rng, config.people, merchants, enterprises)
    accounts = build_accounts(rng, (participants, people, merchants, enterprises), shares)
    first = {kind: int(np.argmax(accounts.owner_kind == code)) for kind, code in OWNER.items()}
    people.account[:] = first["person"] + np.arange(len(people))
    merchants.account[:] = first["merchant"] + np.arange(len(merchants.country))
    enterprises.account[:] = first["enterprise"] + np.arange(len(enterprises.country))
    participants.cash_account[:] = first["participant"] + np.arange(len(participants.country))
    return Population(participants, people, merchants, enterprises, accounts)
