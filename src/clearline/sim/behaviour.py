"""Honest behaviour: one day of candidate payments for the whole population, vectorised.

Guarantees:
- One call makes one UTC day of candidates with numpy operations over all agents at once (no loop
  over people or payments), from that day's own random stream, so days are reproducible alone.
- Behaviours: salaries, pensions and gig payouts; allowances inside families; bills on their day;
  merchant payments (QR or card) with daily and weekly seasonality; P2P inside social circles;
  remittances home; cash in and out; merchant refunds; merchants paying their suppliers; and
  enterprise invoices paid on their terms. Amounts come from `amounts`, times from `rhythm`.
- Candidates are only candidates: settlement refuses any that would overdraw an account without
  credit. `expected_daily_count` is the mean number of candidates per day, used to size the
  illicit plans so their configured shares hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from numpy.random import Generator

from clearline.sim.amounts import draw_usd, minor_units, profile_usd, usd_to_minor
from clearline.sim.geography import COUNTRIES, SCALES
from clearline.sim.ids import unique_ids
from clearline.sim.rhythm import NANOSECONDS_PER_DAY, times_in_day, weekday_factor
from clearline.sim.schema import (
    CH,
    MCC_MEDIANS,
    MCC_ONLINE,
    MCC_SIGMAS,
    PT,
    EventBatch,
    concat,
    make_batch,
)
from clearline.sim.world import FRIENDS, INC, People, Population

P2P_PER_DAY = 0.25
REMITTANCES_PER_MONTH = 1.3
BILLS_PER_MONTH = 2
CASH_OUT_PER_DAY = 0.04
CASH_IN_PER_DAY = 0.015
REFUND_SHARE = 0.008
REFUND_DELAY_DAYS_MAX = 10
INVOICES_PER_RELATION_PER_DAY = 0.08
INVOICE_LOOKBACK_DAYS = 150
SUPPLIER_SHARE = (0.5, 0.7)
GIG_PAYOUT_MEAN_USD = 70.0 * np.exp(0.7**2 / 2)
INCOME_REFERENCE_USD = 2_600.0
THRIFT_INCOME_SHARE = 0.25
THRIFT_MIN = 0.05
MERCHANT_RATE_INCOME_POWER = 0.6
"""People who earn more shop more often (rate ~ income**0.6) and spend more each time (~**0.4)."""


@dataclass(frozen=True, slots=True)
class Invoices:
    """Trade invoices: buyer pays supplier `amount` (buyer's currency) on `pay_day`."""

    invoice_id: np.ndarray
    buyer: np.ndarray
    supplier: np.ndarray
    issue_day: np.ndarray
    due_day: np.ndarray
    pay_day: np.ndarray
    amount: np.ndarray


@dataclass(frozen=True, slots=True)
class Economy:
    """The population plus what behaviour derives from it once."""

    population: Population
    start_date: date
    start_ns: int
    spend_scale: np.ndarray
    merchant_rate: np.ndarray
    monthly_income_minor: np.ndarray
    gig_rate: np.ndarray
    supplier_weekday: np.ndarray
    invoices: Invoices
    active_until_day: np.ndarray
    days: int

    @property
    def people(self) -> People:
        return self.population.people


def make_invoices(rng: Generator, population: Population, days: int) -> Invoices:
    """Invoices along trade relations, issued before and during the run, paid on terms."""
    enterprises = population.enterprises
    relations = enterprises.relations
    horizon = days + INVOICE_LOOKBACK_DAYS
    counts = rng.poisson(INVOICES_PER_RELATION_PER_DAY * horizon, size=len(relations))
    pairs = np.repeat(np.arange(len(relations)), counts)
    buyer, supplier = relations[pairs, 0], relations[pairs, 1]
    issue = rng.integers(-INVOICE_LOOKBACK_DAYS, days, size=len(pairs))
    due = issue + enterprises.payment_terms_days[supplier]
    lateness = np.where(rng.random(len(pairs)) < 0.4, rng.poisson(4, len(pairs)), 0)
    pay = due + lateness - np.where(rng.random(len(pairs)) < 0.1, rng.integers(1, 4, len(pairs)), 0)
    pay = np.maximum(pay, issue)
    usd = profile_usd(rng, PT["trade"], len(pairs))
    amount = usd_to_minor(rng, usd, enterprises.country[buyer], PT["trade"])
    keep = (pay >= 0) & (pay < days)
    return Invoices(
        unique_ids(rng, int(keep.sum())),
        buyer[keep],
        supplier[keep],
        issue[keep],
        due[keep],
        pay[keep],
        amount[keep],
    )


def make_economy(
    rng: Generator,
    population: Population,
    start_date: date,
    days: int,
    active_until_day: np.ndarray,
) -> Economy:
    people = population.people
    spend_scale = np.clip(people.monthly_income_usd / INCOME_REFERENCE_USD, 0.2, 5.0)
    gig_rate = np.where(
        people.income_kind == INC["gig"], people.monthly_income_usd / (30 * GIG_PAYOUT_MEAN_USD), 0
    )
    start_ns = (start_date - date(1970, 1, 1)).days * NANOSECONDS_PER_DAY
    return Economy(
        population=population,
        start_date=start_date,
        start_ns=start_ns,
        spend_scale=spend_scale,
        merchant_rate=people.merchant_rate * spend_scale**MERCHANT_RATE_INCOME_POWER,
        monthly_income_minor=usd_to_minor(
            rng, people.monthly_income_usd, people.country, PT["bill"]
        ),
        gig_rate=gig_rate,
        supplier_weekday=rng.integers(0, 7, size=len(population.merchants.country)),
        invoices=make_invoices(rng, population, days),
        active_until_day=active_until_day,
        days=days,
    )


def _device_of(rng: Generator, economy: Economy, person: np.ndarray) -> np.ndarray:
    """One of each person's devices, the first one most often."""
    people = economy.people
    slot = np.where(rng.random(len(person)) < 0.8, 0, rng.integers(0, 3, len(person)))
    slot = np.minimum(slot, people.device_count[person] - 1)
    return people.devices[person, slot]


def _poisson_people(rng: Generator, rates: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(rates)), rng.poisson(rates))


def merchant_payments(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> EventBatch:
    """People pay merchants (mostly their favourites) by QR where accepted, else by card."""
    people = economy.people
    weekday = (economy.start_date + timedelta(days=day)).weekday()
    rates = economy.merchant_rate * weekday_factor("merchant_payment", weekday) * active
    payer = _poisson_people(rng, rates)
    friend = people.friends[payer, rng.integers(0, FRIENDS, len(payer))]
    chooser = np.where((rng.random(len(payer)) < 0.15) & (friend >= 0), friend, payer)
    merchant = people.favourites[chooser, rng.integers(0, people.favourites.shape[1], len(payer))]
    payer, merchant = payer[merchant >= 0], merchant[merchant >= 0]
    return merchant_batch(rng, economy, day, payer, merchant, upper=False)


def merchant_batch(
    rng, economy: Economy, day: int, payer: np.ndarray, merchant: np.ndarray, upper: bool
) -> EventBatch:
    """Payments of `payer` people to `merchant`s: amount by category, channel by acceptance."""
    people, merchants = economy.people, economy.population.merchants
    mcc = merchants.mcc[merchant]
    median = MCC_MEDIANS[mcc] * economy.spend_scale[payer] ** 0.4
    usd = draw_usd(rng, median, MCC_SIGMAS[mcc], len(payer))
    if upper:
        usd = np.maximum(usd, draw_usd(rng, median, MCC_SIGMAS[mcc], len(payer)))
    qr_share = np.array([country.qr_share for country in COUNTRIES])[people.country[payer]]
    qr = merchants.accepts_qr[merchant] & (rng.random(len(payer)) < qr_share + 0.2)
    online = rng.random(len(payer)) < MCC_ONLINE[mcc]
    device = np.where(qr | online, _device_of(rng, economy, payer), 0)
    country = people.country[payer]
    return make_batch(
        timestamp_ns=times_in_day(
            rng, economy.start_ns + day * NANOSECONDS_PER_DAY, country, PT["merchant_payment"]
        ),
        from_account=people.account[payer],
        to_account=merchants.account[merchant],
        amount_paid=usd_to_minor(rng, usd, country, PT["merchant_payment"]),
        payment_type=PT["merchant_payment"],
        channel=np.where(qr, CH["qr"], CH["card"]),
        mcc=mcc,
        device=device,
    )


def transfer_batch(
    rng,
    economy: Economy,
    day: int,
    payer: np.ndarray,
    payee_account: np.ndarray,
    amount: np.ndarray,
    payment_type: str,
) -> EventBatch:
    """Person-initiated transfers (P2P, remittance, bill) from their phone, web or an agent."""
    people = economy.people
    draw = rng.random(len(payer))
    if payment_type == "remittance":
        channel = np.where(
            draw < 0.5, CH["mobile_app"], np.where(draw < 0.8, CH["agent"], CH["web"])
        )
    elif payment_type == "bill":
        channel = np.where(draw < 0.5, CH["mobile_app"], np.where(draw < 0.7, CH["web"], CH["api"]))
    else:
        channel = np.where(draw < 0.8, CH["mobile_app"], CH["web"])
    device = np.where(
        np.isin(channel, [CH["agent"], CH["api"]]), 0, _device_of(rng, economy, payer)
    )
    return make_batch(
        timestamp_ns=times_in_day(
            rng,
            economy.start_ns + day * NANOSECONDS_PER_DAY,
            people.country[payer],
            PT[payment_type],
        ),
        from_account=people.account[payer],
        to_account=payee_account,
        amount_paid=amount,
        payment_type=PT[payment_type],
        channel=channel,
        device=device,
    )


def p2p_payments(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> EventBatch:
    people = economy.people
    weekday = (economy.start_date + timedelta(days=day)).weekday()
    payer = _poisson_people(
        rng, np.full(len(people), P2P_PER_DAY * weekday_factor("p2p", weekday)) * active
    )
    friend = people.friends[payer, rng.integers(0, FRIENDS, len(payer))]
    payer, friend = payer[friend >= 0], friend[friend >= 0]
    usd = profile_usd(rng, PT["p2p"], len(payer)) * economy.spend_scale[payer] ** 0.5
    amount = usd_to_minor(rng, usd, people.country[payer], PT["p2p"])
    return transfer_batch(rng, economy, day, payer, people.account[friend], amount, "p2p")


def remittances(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> EventBatch:
    people = economy.people
    weekday = (economy.start_date + timedelta(days=day)).weekday()
    rate = REMITTANCES_PER_MONTH / 30 * weekday_factor("remittance", weekday)
    payer = _poisson_people(rng, np.where(people.family >= 0, rate, 0.0) * active)
    usd = profile_usd(rng, PT["remittance"], len(payer)) * economy.spend_scale[payer] ** 0.5
    amount = usd_to_minor(rng, usd, people.country[payer], PT["remittance"])
    payee = people.account[people.family[payer]]
    return transfer_batch(rng, economy, day, payer, payee, amount, "remittance")


def allowances(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> EventBatch:
    """Monthly family support, paid by the first person of the circle on the payday."""
    people = economy.people
    day_of_month = (economy.start_date + timedelta(days=day)).day
    due = (people.income_kind == INC["allowance"]) & (people.payday == day_of_month) & (active > 0)
    due &= people.friends[:, 0] >= 0
    due &= active[np.maximum(people.friends[:, 0], 0)] > 0
    payee = np.flatnonzero(due)
    payer = people.friends[payee, 0]
    usd = people.monthly_income_usd[payee] * rng.lognormal(0.0, 0.05, len(payee))
    amount = usd_to_minor(rng, usd, people.country[payer], PT["p2p"])
    return transfer_batch(rng, economy, day, payer, people.account[payee], amount, "p2p")


def _enterprise_batch(
    rng,
    economy: Economy,
    day: int,
    payer_enterprise: np.ndarray,
    payee_account: np.ndarray,
    amount: np.ndarray,
    payment_type: str,
    country: np.ndarray,
) -> EventBatch:
    enterprises = economy.population.enterprises
    return make_batch(
        timestamp_ns=times_in_day(
            rng, economy.start_ns + day * NANOSECONDS_PER_DAY, country, PT[payment_type]
        ),
        from_account=enterprises.account[payer_enterprise],
        to_account=payee_account,
        amount_paid=amount,
        payment_type=PT[payment_type],
        channel=np.where(rng.random(len(amount)) < 0.85, CH["api"], CH["web"]),
        device=enterprises.device[payer_enterprise],
    )


def incomes(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> list[EventBatch]:
    """Salaries and pensions on the payday, gig payouts as a Poisson stream."""
    people = economy.people
    moment = economy.start_date + timedelta(days=day)
    batches = []
    for kind, payment_type in ((INC["salary"], "salary"), (INC["pension"], "pension")):
        payee = np.flatnonzero(
            (people.income_kind == kind) & (people.payday == moment.day) & (active > 0)
        )
        varies = rng.random(len(payee)) < 0.4
        usd = people.monthly_income_usd[payee] * np.where(
            varies, rng.lognormal(0, 0.03, len(payee)), 1
        )
        amount = usd_to_minor(rng, usd, people.country[payee], PT[payment_type])
        batches.append(
            _enterprise_batch(
                rng,
                economy,
                day,
                people.employer[payee],
                people.account[payee],
                amount,
                payment_type,
                people.country[payee],
            )
        )
    weekday_rate = economy.gig_rate * weekday_factor("gig_income", moment.weekday()) * active
    payee = _poisson_people(rng, weekday_rate)
    amount = usd_to_minor(
        rng, profile_usd(rng, PT["gig_income"], len(payee)), people.country[payee], PT["gig_income"]
    )
    batches.append(
        _enterprise_batch(
            rng,
            economy,
            day,
            people.employer[payee],
            people.account[payee],
            amount,
            "gig_income",
            people.country[payee],
        )
    )
    return batches


def bills(rng: Generator, economy: Economy, day: int, active: np.ndarray) -> list[EventBatch]:
    """Each person pays their utility and telecom bills on their own day of the month."""
    people, enterprises = economy.people, economy.population.enterprises
    day_of_month = (economy.start_date + timedelta(days=day)).day
    batches = []
    for slot, size in ((0, 1.0), (1, 0.6)):
        payer = np.flatnonzero((people.bill_day[:, slot] == day_of_month) & (active > 0))
        usd = profile_usd(rng, PT["bill"], len(payer)) * size * economy.spend_scale[payer] ** 0.5
        amount = usd_to_minor(rng, usd, people.country[payer], PT["bill"])
        payee = enterprises.account[people.billers[payer, slot]]
        batches.append(transfer_batch(rng, economy, day, payer, payee, amount, "bill"))
    return batches


def vault_of(economy: Economy, person: np.ndarray) -> np.ndarray:
    """The cash account of the participant holding each person's account."""
    population = economy.population
    participant = population.accounts.participant[population.people.account[person]]
    return population.participants.cash_account[participant]


def cash(
    rng: Generator, economy: Economy, day: int, active: np.ndarray, spending: np.ndarray
) -> list[EventBatch]:
    """Withdrawals at ATMs and agents (scaled by `spending`), deposits at agents, branches, ATMs."""
    people = economy.people
    weekday = (economy.start_date + timedelta(days=day)).weekday()
    day_start = economy.start_ns + day * NANOSECONDS_PER_DAY
    batches = []
    for payment_type, rate, scale in (
        ("cash_out", CASH_OUT_PER_DAY, spending),
        ("cash_in", CASH_IN_PER_DAY, active),
    ):
        person = _poisson_people(
            rng, np.full(len(people), rate * weekday_factor(payment_type, weekday)) * scale
        )
        usd = profile_usd(rng, PT[payment_type], len(person)) * economy.spend_scale[person] ** 0.5
        amount = usd_to_minor(rng, usd, people.country[person], PT[payment_type])
        draw = rng.random(len(person))
        if payment_type == "cash_out":
            source, target = people.account[person], vault_of(economy, person)
            channel = np.where(draw < 0.7, CH["atm"], CH["agent"])
        else:
            source, target = vault_of(economy, person), people.account[person]
            channel = np.where(
                draw < 0.5, CH["agent"], np.where(draw < 0.7, CH["branch"], CH["atm"])
            )
        batches.append(
            make_batch(
                timestamp_ns=times_in_day(rng, day_start, people.country[person], PT[payment_type]),
                from_account=source,
                to_account=target,
                amount_paid=amount,
                payment_type=PT[payment_type],
                channel=channel,
            )
        )
    return batches


def refunds_of(
    rng, economy: Economy, day: int, days: int, purchases: EventBatch
) -> dict[int, EventBatch]:
    """Refunds, by the day they happen, of a small share of `purchases` made on `day`."""
    merchants = economy.population.merchants
    chosen = np.flatnonzero(rng.random(len(purchases)) < REFUND_SHARE)
    later = day + rng.integers(1, REFUND_DELAY_DAYS_MAX + 1, len(chosen))
    chosen, later = chosen[later < days], later[later < days]
    original = purchases.take(chosen)
    partial = rng.random(len(chosen)) < 0.3
    amount = np.where(
        partial,
        np.maximum((original.amount_paid * rng.uniform(0.2, 0.9, len(chosen))).astype(np.int64), 1),
        original.amount_paid,
    )
    merchant = economy.population.accounts.owner[original.to_account]
    country = merchants.country[merchant]
    out: dict[int, EventBatch] = {}
    for refund_day in np.unique(later):
        rows = later == refund_day
        out[int(refund_day)] = make_batch(
            timestamp_ns=times_in_day(
                rng,
                economy.start_ns + int(refund_day) * NANOSECONDS_PER_DAY,
                country[rows],
                PT["refund"],
            ),
            from_account=original.to_account[rows],
            to_account=original.from_account[rows],
            amount_paid=amount[rows],
            payment_type=PT["refund"],
            channel=original.channel[rows],
            mcc=original.mcc[rows],
            device=merchants.device[merchant[rows]],
        )
    return out


def supplier_payments(
    rng: Generator, economy: Economy, day: int, available: np.ndarray
) -> EventBatch:
    """On its weekday each merchant pays its supplier part of what it holds."""
    merchants, enterprises = economy.population.merchants, economy.population.enterprises
    weekday = (economy.start_date + timedelta(days=day)).weekday()
    merchant = np.flatnonzero(economy.supplier_weekday == weekday)
    holding = available[merchants.account[merchant]]
    merchant, holding = merchant[holding > 100], holding[holding > 100]
    country = merchants.country[merchant]
    share = rng.uniform(*SUPPLIER_SHARE, len(merchant))
    amount = minor_units(rng, holding * share / 10.0 ** SCALES[country], country, PT["trade"])
    return make_batch(
        timestamp_ns=times_in_day(
            rng, economy.start_ns + day * NANOSECONDS_PER_DAY, country, PT["trade"]
        ),
        from_account=merchants.account[merchant],
        to_account=enterprises.account[merchants.supplier[merchant]],
        amount_paid=amount,
        payment_type=PT["trade"],
        channel=np.where(rng.random(len(merchant)) < 0.6, CH["web"], CH["mobile_app"]),
        device=merchants.device[merchant],
    )


def invoice_payments(rng: Generator, economy: Economy, day: int) -> EventBatch:
    invoices = economy.invoices
    rows = np.flatnonzero(invoices.pay_day == day)
    enterprises = economy.population.enterprises
    buyer = invoices.buyer[rows]
    return _enterprise_batch(
        rng,
        economy,
        day,
        buyer,
        enterprises.account[invoices.supplier[rows]],
        invoices.amount[rows],
        "trade",
        enterprises.country[buyer],
    )


def thrift(economy: Economy, available: np.ndarray) -> np.ndarray:
    """How much of their usual discretionary spending each person does today (0.05 to 1).

    People holding less than `THRIFT_INCOME_SHARE` of a month's income (credit included) cut
    shopping, P2P, remittances and withdrawals in proportion, as people short of money do.
    """
    people = economy.people
    accounts = economy.population.accounts
    spendable = available[people.account] + accounts.credit_limit[people.account]
    cushion = THRIFT_INCOME_SHARE * np.maximum(economy.monthly_income_minor, 1)
    return np.clip(spendable / cushion, THRIFT_MIN, 1.0)


def honest_day(
    rng: Generator, economy: Economy, day: int, days: int, available: np.ndarray
) -> tuple[EventBatch, dict[int, EventBatch]]:
    """All honest candidates of `day`, and the refunds they cause on later days.

    `available` is each account's spendable balance at the start of the day: merchants pay their
    suppliers out of it, and people short of money spend less (`thrift`).
    """
    active = (economy.active_until_day > day).astype(float)
    spending = active * thrift(economy, available)
    purchases = merchant_payments(rng, economy, day, spending)
    batches = [
        purchases,
        p2p_payments(rng, economy, day, spending),
        remittances(rng, economy, day, spending),
        allowances(rng, economy, day, active),
        *incomes(rng, economy, day, active),
        *bills(rng, economy, day, active),
        *cash(rng, economy, day, active, spending),
        supplier_payments(rng, economy, day, available),
        invoice_payments(rng, economy, day),
    ]
    return concat(batches), refunds_of(rng, economy, day, days, purchases)


def expected_daily_count(economy: Economy) -> float:
    """Mean number of honest candidates per day (before refusals), from the behaviour rates."""
    people = economy.people
    size = len(people)
    merchant = float(economy.merchant_rate.sum())
    monthly = np.isin(people.income_kind, [INC["salary"], INC["pension"], INC["allowance"]]).sum()
    days = economy.days
    return (
        merchant * (1 + REFUND_SHARE)
        + size * (P2P_PER_DAY + CASH_OUT_PER_DAY + CASH_IN_PER_DAY)
        + (people.family >= 0).sum() * REMITTANCES_PER_MONTH / 30
        + (monthly + BILLS_PER_MONTH * size) / 30.4
        + float(economy.gig_rate.sum())
        + len(economy.population.merchants.country) / 7
        + len(economy.invoices.pay_day) / days
    )
