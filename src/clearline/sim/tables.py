"""Arrow tables of a generated world: transactions (features only), labels, entities, manifest.

Guarantees:
- `transactions` holds only what a payment system sees; every label lives in `labels` (and the
  account roles in `account_roles`), joined by `transaction_id` / `account_id`.
- Amounts are int64 minor units at the ISO 4217 scale of the asset named beside them; ids are int64;
  timestamps are UTC nanoseconds; categorical columns are dictionary-encoded strings.
- Building tables is pure and deterministic: the same result gives byte-identical Parquet files.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa

from clearline.sim.config import FRAUD_SCENARIOS, LAUNDERING_TYPOLOGIES
from clearline.sim.engine import SimResult
from clearline.sim.geography import ASSET_CODES, COUNTRY_CODES, SCALES, local_units_from_usd
from clearline.sim.schema import CHANNELS, MCC_CODES, OWNER, OWNER_KINDS, PAYMENT_TYPES, EventBatch
from clearline.sim.world import AGE_BANDS, INCOME_KINDS, PARTICIPANT_KINDS, SECTORS, Population

TABLE_NAMES = (
    "transactions",
    "labels",
    "accounts",
    "people",
    "merchants",
    "enterprises",
    "participants",
    "invoices",
    "fx_rates",
    "account_roles",
)


def _categories(codes: np.ndarray, names: tuple[str, ...], offset: int = 0) -> pa.Array:
    """Dictionary strings for integer `codes` (code - offset indexes `names`; below 0 is null)."""
    index = np.asarray(codes, dtype=np.int64) - offset
    mask = index < 0
    indices = pa.array(np.where(mask, 0, index).astype(np.int16), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(names), pa.string()))


def _nullable_ids(values: np.ndarray) -> pa.Array:
    return pa.array(values, type=pa.int64(), mask=values == 0)


def transactions_table(
    population: Population, events: EventBatch, transaction_id: np.ndarray
) -> pa.Table:
    """One row per settled payment: what a payment system sees, no labels."""
    accounts = population.accounts
    participants = population.participants
    payer, payee = events.from_account, events.to_account
    return pa.table(
        {
            "transaction_id": pa.array(transaction_id, pa.int64()),
            "timestamp": pa.array(events.timestamp_ns, pa.timestamp("ns", tz="UTC")),
            "from_account_id": pa.array(accounts.account_id[payer], pa.int64()),
            "from_participant_id": pa.array(
                participants.participant_id[accounts.participant[payer]], pa.int64()
            ),
            "to_account_id": pa.array(accounts.account_id[payee], pa.int64()),
            "to_participant_id": pa.array(
                participants.participant_id[accounts.participant[payee]], pa.int64()
            ),
            "amount_paid": pa.array(events.amount_paid, pa.int64()),
            "asset_paid": _categories(accounts.country[payer], ASSET_CODES),
            "amount_received": pa.array(events.amount_received, pa.int64()),
            "asset_received": _categories(accounts.country[payee], ASSET_CODES),
            "channel": _categories(events.channel, CHANNELS),
            "payment_type": _categories(events.payment_type, PAYMENT_TYPES),
            "merchant_category": _categories(events.mcc, MCC_CODES),
            "device_id": _nullable_ids(events.device),
            "from_country": _categories(accounts.country[payer], COUNTRY_CODES),
            "to_country": _categories(accounts.country[payee], COUNTRY_CODES),
        }
    )


def labels_table(events: EventBatch, transaction_id: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "transaction_id": pa.array(transaction_id, pa.int64()),
            "is_fraud": pa.array(events.fraud > 0),
            "fraud_scenario": _categories(events.fraud, FRAUD_SCENARIOS, offset=1),
            "is_laundering": pa.array(events.laundering > 0),
            "laundering_typology": _categories(events.laundering, LAUNDERING_TYPOLOGIES, offset=1),
            "attempt_id": _nullable_ids(events.attempt),
        }
    )


def _owner_ids(result: SimResult) -> np.ndarray:
    population = result.population
    accounts = population.accounts
    by_kind = {
        OWNER["person"]: population.people.person_id,
        OWNER["merchant"]: population.merchants.merchant_id,
        OWNER["enterprise"]: population.enterprises.enterprise_id,
        OWNER["participant"]: population.participants.participant_id,
    }
    out = np.zeros(len(accounts), dtype=np.int64)
    for kind, ids in by_kind.items():
        rows = accounts.owner_kind == kind
        out[rows] = ids[accounts.owner[rows]]
    return out


def accounts_table(result: SimResult) -> pa.Table:
    accounts, participants = result.population.accounts, result.population.participants
    return pa.table(
        {
            "account_id": pa.array(accounts.account_id, pa.int64()),
            "owner_kind": _categories(accounts.owner_kind, OWNER_KINDS),
            "owner_id": pa.array(_owner_ids(result), pa.int64()),
            "participant_id": pa.array(
                participants.participant_id[accounts.participant], pa.int64()
            ),
            "country": _categories(accounts.country, COUNTRY_CODES),
            "asset": _categories(accounts.country, ASSET_CODES),
            "tenure_days": pa.array(accounts.tenure_days, pa.int64()),
            "credit_limit": pa.array(accounts.credit_limit, pa.int64()),
            "opening_balance": pa.array(accounts.opening_balance, pa.int64()),
        }
    )


def people_table(result: SimResult) -> pa.Table:
    people = result.population.people
    income_units = np.floor(
        local_units_from_usd(people.monthly_income_usd, people.country)
        * 10.0 ** SCALES[people.country]
    ).astype(np.int64)
    return pa.table(
        {
            "person_id": pa.array(people.person_id, pa.int64()),
            "account_id": pa.array(
                result.population.accounts.account_id[people.account], pa.int64()
            ),
            "country": _categories(people.country, COUNTRY_CODES),
            "age_band": _categories(people.age_band, AGE_BANDS),
            "kyc_tier": pa.array(people.kyc_tier, pa.int8()),
            "tenure_days": pa.array(people.tenure_days, pa.int64()),
            "income_kind": _categories(people.income_kind, INCOME_KINDS),
            "declared_monthly_income": pa.array(income_units, pa.int64()),
            "device_count": pa.array(people.device_count, pa.int8()),
        }
    )


def merchants_table(result: SimResult) -> pa.Table:
    merchants = result.population.merchants
    return pa.table(
        {
            "merchant_id": pa.array(merchants.merchant_id, pa.int64()),
            "account_id": pa.array(
                result.population.accounts.account_id[merchants.account], pa.int64()
            ),
            "country": _categories(merchants.country, COUNTRY_CODES),
            "merchant_category": _categories(merchants.mcc, MCC_CODES),
            "accepts_qr": pa.array(merchants.accepts_qr),
        }
    )


def enterprises_table(result: SimResult) -> pa.Table:
    enterprises = result.population.enterprises
    return pa.table(
        {
            "enterprise_id": pa.array(enterprises.enterprise_id, pa.int64()),
            "account_id": pa.array(
                result.population.accounts.account_id[enterprises.account], pa.int64()
            ),
            "country": _categories(enterprises.country, COUNTRY_CODES),
            "sector": _categories(enterprises.sector, SECTORS),
            "payment_terms_days": pa.array(enterprises.payment_terms_days, pa.int64()),
        }
    )


def participants_table(result: SimResult) -> pa.Table:
    participants = result.population.participants
    return pa.table(
        {
            "participant_id": pa.array(participants.participant_id, pa.int64()),
            "name": pa.array(list(participants.name), pa.string()),
            "kind": _categories(participants.kind, PARTICIPANT_KINDS),
            "country": _categories(participants.country, COUNTRY_CODES),
            "asset": _categories(participants.country, ASSET_CODES),
            "cash_account_id": pa.array(
                result.population.accounts.account_id[participants.cash_account], pa.int64()
            ),
        }
    )


def invoices_table(result: SimResult) -> pa.Table:
    invoices, enterprises = result.economy.invoices, result.population.enterprises
    start = result.config.start_date
    return pa.table(
        {
            "invoice_id": pa.array(invoices.invoice_id, pa.int64()),
            "buyer_enterprise_id": pa.array(enterprises.enterprise_id[invoices.buyer], pa.int64()),
            "supplier_enterprise_id": pa.array(
                enterprises.enterprise_id[invoices.supplier], pa.int64()
            ),
            "issue_date": pa.array(
                [start + timedelta(days=int(d)) for d in invoices.issue_day], pa.date32()
            ),
            "due_date": pa.array(
                [start + timedelta(days=int(d)) for d in invoices.due_day], pa.date32()
            ),
            "amount": pa.array(invoices.amount, pa.int64()),
            "asset": _categories(enterprises.country[invoices.buyer], ASSET_CODES),
        }
    )


def fx_rates_table(result: SimResult) -> pa.Table:
    rates = result.fx.usd_rates
    days, currencies = rates.shape
    start = result.config.start_date
    return pa.table(
        {
            "date": pa.array(
                [start + timedelta(days=d) for d in range(days) for _ in range(currencies)],
                pa.date32(),
            ),
            "asset": _categories(np.tile(np.arange(currencies), days), ASSET_CODES),
            "units_per_usd_mid": pa.array(rates.reshape(-1), pa.float64()),
        }
    )


def account_roles_table(result: SimResult) -> pa.Table:
    """Illicit roles of accounts (labels, not features): mules (people paid by any fraud),
    synthetic identities, colluding merchants and accounts that took part in laundering."""
    population = result.population
    plan = result.fraud_plan
    roles: dict[int, set[str]] = {}
    fraud = result.events.take(result.events.fraud > 0)
    paid_people = fraud.to_account[
        population.accounts.owner_kind[fraud.to_account] == OWNER["person"]
    ]
    for account in np.unique(paid_people).tolist():
        roles.setdefault(int(account), set()).add("mule")
    for person in plan.synthetic_people.tolist():
        roles.setdefault(int(population.people.account[person]), set()).add("synthetic_identity")
    for attempt in plan.attempt_list:
        if attempt.scenario == "merchant_collusion":
            account = int(population.merchants.account[attempt.subject])
            roles.setdefault(account, set()).add("colluding_merchant")
    laundering = result.events.take(result.events.laundering > 0)
    vaults = population.accounts.owner_kind == OWNER["participant"]
    for account in np.unique(
        np.concatenate([laundering.from_account, laundering.to_account])
    ).tolist():
        if not vaults[account]:
            roles.setdefault(int(account), set()).add("laundering")
    rows = sorted(
        (int(population.accounts.account_id[a]), role)
        for a, names in roles.items()
        for role in names
    )
    return pa.table(
        {
            "account_id": pa.array([row[0] for row in rows], pa.int64()),
            "role": pa.array([row[1] for row in rows], pa.string()),
        }
    )


def all_tables(result: SimResult) -> dict[str, pa.Table]:
    """Every table of the world, by name (see `TABLE_NAMES`)."""
    return {
        "transactions": transactions_table(result.population, result.events, result.transaction_id),
        "labels": labels_table(result.events, result.transaction_id),
        "accounts": accounts_table(result),
        "people": people_table(result),
        "merchants": merchants_table(result),
        "enterprises": enterprises_table(result),
        "participants": participants_table(result),
        "invoices": invoices_table(result),
        "fx_rates": fx_rates_table(result),
        "account_roles": account_roles_table(result),
    }
