"""Vocabularies and the in-memory event batch shared by every generator.

Guarantees:
- Categorical values (payment types, channels, merchant categories, scenarios, typologies) are
  small integer codes while generating and the names below when written; the code tables here are
  the only mapping, so honest and illicit events cannot spell a value differently.
- An `EventBatch` is a struct of equal-length numpy arrays. Honest behaviour, fraud and laundering
  all produce batches with the same fields, so every later stage (FX, settlement, ids, writing)
  treats them identically and no label can leak through how a row was made.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES
from clearline.sim.config import FRAUD_SCENARIOS, LAUNDERING_TYPOLOGIES

PT = {name: code for code, name in enumerate(PAYMENT_TYPES)}

CH = {name: code for code, name in enumerate(CHANNELS)}


@dataclass(frozen=True, slots=True)
class MerchantCategory:
    """A merchant category code and what paying there looks like.

    mcc: ISO 18245 merchant category code. name: what it is.
    usd_median, sigma: lognormal ticket size in USD at US prices (median, log standard deviation).
    online_share: share of card payments made online (with the payer's device).
    weight: share of merchants in this category.
    """

    mcc: str
    name: str
    usd_median: float
    sigma: float
    online_share: float
    weight: float


MERCHANT_CATEGORIES: tuple[MerchantCategory, ...] = (
    MerchantCategory("5411", "grocery stores and supermarkets", 28.0, 0.8, 0.10, 0.16),
    MerchantCategory("5499", "convenience and food stores", 7.0, 0.6, 0.02, 0.14),
    MerchantCategory("5812", "restaurants", 22.0, 0.6, 0.05, 0.14),
    MerchantCategory("5814", "fast food", 9.0, 0.5, 0.15, 0.10),
    MerchantCategory("5541", "fuel stations", 35.0, 0.5, 0.02, 0.05),
    MerchantCategory("5912", "pharmacies", 18.0, 0.7, 0.10, 0.05),
    MerchantCategory("5651", "clothing", 48.0, 0.8, 0.40, 0.07),
    MerchantCategory("5732", "electronics", 140.0, 1.0, 0.50, 0.04),
    MerchantCategory("5816", "digital goods and games", 7.0, 0.9, 1.00, 0.05),
    MerchantCategory("4814", "telecom top-up", 15.0, 0.5, 0.70, 0.05),
    MerchantCategory("4121", "taxis and ride hailing", 11.0, 0.6, 0.60, 0.06),
    MerchantCategory("5944", "jewellery and watches", 320.0, 1.0, 0.20, 0.02),
    MerchantCategory("5999", "miscellaneous retail", 32.0, 1.0, 0.50, 0.05),
    MerchantCategory("7011", "hotels", 130.0, 0.6, 0.70, 0.01),
    MerchantCategory("4722", "travel agencies", 420.0, 0.8, 0.80, 0.01),
)
MCC_CODES = tuple(category.mcc for category in MERCHANT_CATEGORIES)
MCC_MEDIANS = np.array([category.usd_median for category in MERCHANT_CATEGORIES])
MCC_SIGMAS = np.array([category.sigma for category in MERCHANT_CATEGORIES])
MCC_ONLINE = np.array([category.online_share for category in MERCHANT_CATEGORIES])
MCC_WEIGHTS = np.array([category.weight for category in MERCHANT_CATEGORIES])
MCC_INDEX = {category.mcc: index for index, category in enumerate(MERCHANT_CATEGORIES)}

FRAUD_CODE = {name: code + 1 for code, name in enumerate(FRAUD_SCENARIOS)}
LAUNDERING_CODE = {name: code + 1 for code, name in enumerate(LAUNDERING_TYPOLOGIES)}

OWNER_KINDS = ("person", "merchant", "enterprise", "participant")
OWNER = {name: code for code, name in enumerate(OWNER_KINDS)}


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Candidate transactions (not yet settled), one row per index.

    timestamp_ns: when it happens (UTC, nanoseconds since the epoch).
    from_account, to_account: indexes into the world's account arrays (not ids).
    amount_paid: integer minor units debited, in the payer account's asset.
    amount_received: integer minor units credited, in the payee's asset (-1 until FX has run).
    payment_type, channel: codes of `PAYMENT_TYPES` and `CHANNELS`.
    mcc: index into `MERCHANT_CATEGORIES`, or -1.
    device: device id, or 0 when no device is involved (cash, card present, batch files).
    fraud, laundering: 0 for honest, else `FRAUD_CODE` / `LAUNDERING_CODE` value.
    attempt: attempt number (0 for honest).
    illicit_funds: True when the payment moves laundered funds (settled from the reserve).
    key, requires: non-zero only on fraud chains; an event with `requires` set is refused when
        the event with that key was refused (a mule cannot forward what never arrived).
    """

    timestamp_ns: np.ndarray
    from_account: np.ndarray
    to_account: np.ndarray
    amount_paid: np.ndarray
    amount_received: np.ndarray
    payment_type: np.ndarray
    channel: np.ndarray
    mcc: np.ndarray
    device: np.ndarray
    fraud: np.ndarray
    laundering: np.ndarray
    attempt: np.ndarray
    illicit_funds: np.ndarray
    key: np.ndarray
    requires: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp_ns)

    def take(self, index: np.ndarray) -> EventBatch:
        """The rows at `index` (an integer array or boolean mask), in that order."""
        return EventBatch(*(getattr(self, item.name)[index] for item in fields(self)))


_DTYPES = {
    "timestamp_ns": np.int64,
    "from_account": np.int64,
    "to_account": np.int64,
    "amount_paid": np.int64,
    "amount_received": np.int64,
    "payment_type": np.int8,
    "channel": np.int8,
    "mcc": np.int16,
    "device": np.int64,
    "fraud": np.int8,
    "laundering": np.int8,
    "attempt": np.int64,
    "illicit_funds": np.bool_,
    "key": np.int64,
    "requires": np.int64,
}
_DEFAULTS = {"amount_received": -1, "mcc": -1}


def make_batch(**columns: object) -> EventBatch:
    """A batch from the given columns; unset ones take their neutral value (0, -1 or False).

    Scalars are broadcast to the length of `timestamp_ns`.
    """
    size = len(np.asarray(columns["timestamp_ns"]))
    values: dict[str, np.ndarray] = {}
    for name, dtype in _DTYPES.items():
        given = columns.pop(name, _DEFAULTS.get(name, 0))
        array: np.ndarray = np.asarray(given, dtype=dtype)
        values[name] = np.full(size, array, dtype=dtype) if array.ndim == 0 else array
        assert len(values[name]) == size, f"column {name} has the wrong length"
    assert not columns, f"unknown batch columns {sorted(columns)}"
    return EventBatch(**values)


def concat(batches: list[EventBatch]) -> EventBatch:
    """All rows of `batches`, in order."""
    if not batches:
        return make_batch(timestamp_ns=np.empty(0, dtype=np.int64))
    return EventBatch(
        *(
            np.concatenate([getattr(batch, item.name) for batch in batches])
            for item in fields(EventBatch)
        )
    )
