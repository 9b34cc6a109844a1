"""What an illicit payment looks like, given who pays whom: the honest rules, reused.

Guarantees:
- For a payer and payee account, `describe` returns the payment type, channel, merchant category
  and device by the same rules and probabilities honest behaviour uses for that pair of owner
  kinds (person, merchant, enterprise, participant vault). Fraud and laundering call it instead of
  choosing such fields themselves, so those fields follow honest distributions; only what a scheme
  changes (for example a fraudster's new device) is set by the scheme, and documented there.
- `honest_amount` draws a size from the honest distribution of that payment type for that payer
  (a share `tilt` of them the larger of two draws), in the payer's currency.
"""

from __future__ import annotations

import numpy as np

from clearline.sim.amounts import draw_usd_tilted, profile_usd, usd_to_minor
from clearline.sim.behaviour import Economy
from clearline.sim.geography import COUNTRIES
from clearline.sim.rhythm import NANOSECONDS_PER_DAY, times_in_day
from clearline.sim.schema import (
    CH,
    MCC_MEDIANS,
    MCC_ONLINE,
    MCC_SIGMAS,
    OWNER,
    PT,
    EventBatch,
    make_batch,
)
from clearline.sim.world import SEC

_QR_SHARE = np.array([country.qr_share for country in COUNTRIES])
_PAIR_TYPES = {
    (OWNER["person"], OWNER["merchant"]): PT["merchant_payment"],
    (OWNER["person"], OWNER["enterprise"]): PT["bill"],
    (OWNER["person"], OWNER["participant"]): PT["cash_out"],
    (OWNER["participant"], OWNER["person"]): PT["cash_in"],
    (OWNER["merchant"], OWNER["person"]): PT["refund"],
    (OWNER["merchant"], OWNER["enterprise"]): PT["trade"],
    (OWNER["enterprise"], OWNER["person"]): PT["salary"],
    (OWNER["enterprise"], OWNER["enterprise"]): PT["trade"],
}


def _pick(draw: np.ndarray, choices: list[tuple[str, float]]) -> np.ndarray:
    out = np.full(len(draw), CH[choices[-1][0]], dtype=np.int64)
    threshold = 0.0
    for name, probability in choices[:-1]:
        out[(draw >= threshold) & (draw < threshold + probability)] = CH[name]
        threshold += probability
    return out


def person_device(rng: np.random.Generator, economy: Economy, person: np.ndarray) -> np.ndarray:
    people = economy.people
    slot = np.where(rng.random(len(person)) < 0.8, 0, rng.integers(0, 3, len(person)))
    return people.devices[person, np.minimum(slot, people.device_count[person] - 1)]


def payment_types(economy: Economy, payer: np.ndarray, payee: np.ndarray) -> np.ndarray:
    accounts = economy.population.accounts
    payer_kind, payee_kind = accounts.owner_kind[payer], accounts.owner_kind[payee]
    out = np.full(len(payer), -1, dtype=np.int64)
    for (first, second), code in _PAIR_TYPES.items():
        out[(payer_kind == first) & (payee_kind == second)] = code
    people_pair = (payer_kind == OWNER["person"]) & (payee_kind == OWNER["person"])
    domestic = accounts.country[payer] == accounts.country[payee]
    out[people_pair] = np.where(domestic[people_pair], PT["p2p"], PT["remittance"])
    sector = economy.population.enterprises.sector
    paid_by_enterprise = (payer_kind == OWNER["enterprise"]) & (payee_kind == OWNER["person"])
    payer_sector = np.where(
        paid_by_enterprise, sector[np.where(paid_by_enterprise, accounts.owner[payer], 0)], -1
    )
    out[payer_sector == SEC["gig_platform"]] = PT["gig_income"]
    out[payer_sector == SEC["pension_fund"]] = PT["pension"]
    assert (out >= 0).all(), "no honest payment type for this pair of owner kinds"
    return out


def describe(rng: np.random.Generator, economy: Economy, payer: np.ndarray, payee: np.ndarray):
    """(payment_type, channel, mcc, device) arrays for payments from `payer` to `payee` accounts."""
    population = economy.population
    accounts, merchants = population.accounts, population.merchants
    owner = accounts.owner
    kind = payment_types(economy, payer, payee)
    draw = rng.random(len(payer))
    channel = np.zeros(len(payer), dtype=np.int64)
    mcc = np.full(len(payer), -1, dtype=np.int64)
    device = np.zeros(len(payer), dtype=np.int64)
    rules = {
        PT["p2p"]: [("mobile_app", 0.8), ("web", 0.2)],
        PT["remittance"]: [("mobile_app", 0.5), ("agent", 0.3), ("web", 0.2)],
        PT["bill"]: [("mobile_app", 0.5), ("web", 0.2), ("api", 0.3)],
        PT["cash_out"]: [("atm", 0.7), ("agent", 0.3)],
        PT["cash_in"]: [("agent", 0.5), ("branch", 0.2), ("atm", 0.3)],
        PT["salary"]: [("api", 0.85), ("web", 0.15)],
        PT["gig_income"]: [("api", 0.85), ("web", 0.15)],
        PT["pension"]: [("api", 0.85), ("web", 0.15)],
    }
    for code, choices in rules.items():
        rows = kind == code
        channel[rows] = _pick(draw[rows], choices)
    personal = np.isin(kind, [PT["p2p"], PT["remittance"], PT["bill"]])
    personal &= ~np.isin(channel, [CH["agent"], CH["api"]])
    device[personal] = person_device(rng, economy, owner[payer[personal]])
    shop = np.flatnonzero(kind == PT["merchant_payment"])
    merchant = owner[payee[shop]]
    mcc[shop] = merchants.mcc[merchant]
    qr = merchants.accepts_qr[merchant] & (
        draw[shop] < _QR_SHARE[accounts.country[payer[shop]]] + 0.2
    )
    channel[shop] = np.where(qr, CH["qr"], CH["card"])
    online = rng.random(len(shop)) < MCC_ONLINE[mcc[shop]]
    device[shop] = np.where(qr | online, person_device(rng, economy, owner[payer[shop]]), 0)
    refund = np.flatnonzero(kind == PT["refund"])
    mcc[refund] = merchants.mcc[owner[payer[refund]]]
    channel[refund] = np.where(draw[refund] < 0.5, CH["card"], CH["qr"])
    device[refund] = merchants.device[owner[payer[refund]]]
    trade = np.flatnonzero(kind == PT["trade"])
    from_merchant = accounts.owner_kind[payer[trade]] == OWNER["merchant"]
    channel[trade] = np.where(
        from_merchant,
        np.where(draw[trade] < 0.6, CH["web"], CH["mobile_app"]),
        np.where(draw[trade] < 0.85, CH["api"], CH["web"]),
    )
    device[trade] = np.where(
        from_merchant,
        merchants.device[np.where(from_merchant, owner[payer[trade]], 0)],
        population.enterprises.device[np.where(from_merchant, 0, owner[payer[trade]])],
    )
    salary = np.isin(kind, [PT["salary"], PT["gig_income"], PT["pension"]])
    device[salary] = population.enterprises.device[owner[payer[salary]]]
    return kind, channel, mcc, device


def honest_amount(
    rng: np.random.Generator,
    economy: Economy,
    payer: np.ndarray,
    payee: np.ndarray,
    kind: np.ndarray,
    mcc: np.ndarray,
    tilt: float,
) -> np.ndarray:
    """Sizes from the honest distribution of each payment type, in the payer's minor units."""
    accounts = economy.population.accounts
    country = accounts.country[payer]
    size = len(payer)
    scale = np.ones(size)
    is_person = accounts.owner_kind[payer] == OWNER["person"]
    scale[is_person] = economy.spend_scale[accounts.owner[payer[is_person]]]
    usd = np.empty(size)
    for code in np.unique(kind):
        rows = kind == code
        count = int(rows.sum())
        if code in (PT["merchant_payment"], PT["refund"]):
            median = MCC_MEDIANS[mcc[rows]] * scale[rows] ** 0.4
            usd[rows] = draw_usd_tilted(rng, median, MCC_SIGMAS[mcc[rows]], count, tilt)
        elif code in (PT["salary"], PT["pension"]):
            person = accounts.owner[payee[rows]]
            usd[rows] = economy.people.monthly_income_usd[person]
        else:
            usd[rows] = profile_usd(rng, int(code), count, tilt) * scale[rows] ** 0.5
    return usd_to_minor(rng, usd, country, kind)


def events(
    rng: np.random.Generator,
    economy: Economy,
    payer: np.ndarray,
    payee: np.ndarray,
    timestamp_ns: np.ndarray,
    amount: np.ndarray | None = None,
    tilt: float = 0.0,
    **labels: object,
) -> EventBatch:
    """A batch of payments between the given accounts at the given times, honest in every field
    except the `labels` (and any field the caller overrides afterwards)."""
    kind, channel, mcc, device = describe(rng, economy, payer, payee)
    if amount is None:
        amount = honest_amount(rng, economy, payer, payee, kind, mcc, tilt)
    return make_batch(
        timestamp_ns=timestamp_ns,
        from_account=payer,
        to_account=payee,
        amount_paid=amount,
        payment_type=kind,
        channel=channel,
        mcc=mcc,
        device=device,
        **labels,
    )


def moment_in_day(
    rng: np.random.Generator, economy: Economy, day: int, account: int, payment_type: int
) -> int:
    """An honest-looking time on `day` for a payment made by `account`."""
    country = economy.population.accounts.country[account]
    start = economy.start_ns + day * NANOSECONDS_PER_DAY
    return int(times_in_day(rng, start, np.array([country]), payment_type)[0])
