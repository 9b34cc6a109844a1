"""The stream behind the committed feature-snapshot test vector (tests/risk/data/).

`python tests/risk/snapshot_vector.py` rewrites the vector with the code it runs on; it was
written once by commit 17d6026 (features in one module) and must never be rewritten to pass:
it is how a snapshot a deployed system wrote before a refactor is shown to restore after it.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES
from clearline.risk.features import AccountProfile, FeatureContext, FeatureState, PaymentEvent

DATA = Path(__file__).parent / "data"
SNAPSHOT_FILE = DATA / "features_snapshot_17d6026.pickle"
EXPECTED_FILE = DATA / "features_snapshot_17d6026_next.npy"
SEED = 13
EVENTS = 400
SNAPSHOT_AT = 300
"""Events observed before the snapshot; the vectors of the rest are the expected values."""
ACCOUNTS = 24
DEVICES = 6
STEP_NS = 7 * 60 * 10**9


def vector_context() -> FeatureContext:
    profiles = {
        account: AccountProfile(
            kyc_tier=1 + account % 3,
            tenure_days=30.0 + 11 * account,
            age_band=account % 5,
            owner_kind=("person", "merchant")[account % 4 == 0],
            credit_limit=50_000 if account % 3 == 0 else 0,
        )
        for account in range(1, ACCOUNTS, 2)  # half the accounts have no profile
    }
    return FeatureContext(profiles, reference_ns=0, usd_per_unit={"USD": 0.01, "EUR": 0.011})


def vector_stream() -> tuple[list[PaymentEvent], list[tuple[int, int]]]:
    """Seeded payments among a few accounts and devices, and fraud reports on some of them (one
    reported after the snapshot point, so the snapshot holds a pending report)."""
    draw = random.Random(SEED)
    events = []
    now = 0
    for index in range(EVENTS):
        now += draw.randrange(1, STEP_NS)
        payer, payee = draw.sample(range(ACCOUNTS), 2)
        asset_paid = draw.choice(("USD", "USD", "EUR"))
        asset_received = draw.choice((asset_paid, asset_paid, "USD", "EUR"))
        amount = draw.randrange(100, 90_000)
        events.append(
            PaymentEvent(
                now,
                payer,
                payee,
                amount,
                asset_paid,
                amount if asset_received == asset_paid else amount * 9 // 10,
                asset_received,
                draw.choice(CHANNELS),
                draw.choice(PAYMENT_TYPES),
                draw.choice((None, "5816", "5411", "7011")),
                draw.choice((None, *range(DEVICES))),
                draw.choice(("DE", "DE", "FR")),
                draw.choice(("DE", "FR", "KE")),
                index,
                draw.choice((None, draw.randrange(0, 200_000))),
            )
        )
    reports = [
        (events[60].timestamp_ns, 3),
        (events[150].timestamp_ns, 8),
        (events[350].timestamp_ns, 5),
    ]
    return events, reports


def write() -> None:
    events, reports = vector_stream()
    state = FeatureState(vector_context())
    for known_at_ns, account_id in reports:
        state.report_fraud(account_id, known_at_ns)
    for event in events[:SNAPSHOT_AT]:
        state.observe(event)
    DATA.mkdir(exist_ok=True)
    state.snapshot(SNAPSHOT_FILE)
    np.save(EXPECTED_FILE, np.array([state.observe(event) for event in events[SNAPSHOT_AT:]]))


if __name__ == "__main__":
    write()
