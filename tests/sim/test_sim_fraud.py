"""Every fraud scenario has its defining shape."""

from __future__ import annotations

import numpy as np
from sim_helpers import attempts_of

from clearline.sim.schema import CH, FRAUD_CODE, OWNER, PT

MINUTE_NS = 60 * 10**9


def _attempts(result, scenario: str):
    found = list(attempts_of(result, "fraud", FRAUD_CODE[scenario]))
    assert found, scenario
    for _, rows in found:
        yield result.events.take(rows)


def _known_devices(result) -> set[int]:
    people = result.population.people
    return set(people.devices[people.devices > 0].tolist())


def test_account_takeover_drains_from_a_new_device(rich_result) -> None:
    known = _known_devices(rich_result)
    accounts = rich_result.population.accounts
    for attempt in _attempts(rich_result, "account_takeover"):
        victim = attempt.from_account[0]
        from_victim = attempt.from_account == victim
        assert accounts.owner_kind[victim] == OWNER["person"]
        assert not set(attempt.device[from_victim].tolist()) & known
        assert len(set(attempt.device[from_victim].tolist())) == 1
        assert np.ptp(attempt.timestamp_ns[from_victim]) < 2 * 60 * MINUTE_NS
        onward = attempt.take(~from_victim)
        assert np.isin(onward.from_account, attempt.to_account[from_victim]).all()


def test_card_testing_is_a_burst_of_tiny_card_payments(rich_result) -> None:
    for attempt in _attempts(rich_result, "card_testing"):
        assert (attempt.channel == CH["card"]).all()
        assert len(set(attempt.device.tolist())) == 1
        merchant = np.bincount(attempt.to_account).argmax()
        tests = attempt.take(attempt.to_account == merchant)
        assert len(tests) >= 5
        assert len(set(tests.from_account.tolist())) == len(tests)
        assert np.ptp(tests.timestamp_ns) < 60 * MINUTE_NS
        assert np.median(tests.amount_paid) < np.median(
            attempt.amount_paid[attempt.to_account != merchant]
            if (attempt.to_account != merchant).any()
            else tests.amount_paid * 2
        )


def test_app_scam_victims_pay_mules_who_pass_it_on(rich_result) -> None:
    known = _known_devices(rich_result)
    accounts = rich_result.population.accounts
    for attempt in _attempts(rich_result, "app_scam"):
        victim = attempt.from_account[0]
        paid = attempt.take(attempt.from_account == victim)
        assert np.isin(paid.payment_type, [PT["p2p"], PT["remittance"]]).all()
        assert set(paid.device.tolist()) <= known | {0}
        forwards = attempt.take(attempt.from_account != victim)
        assert np.isin(forwards.from_account, paid.to_account).all()
        assert (accounts.owner_kind[paid.to_account] == OWNER["person"]).all()


def test_merchant_collusion_refunds_accomplices_not_payers(rich_result) -> None:
    for attempt in _attempts(rich_result, "merchant_collusion"):
        refunds = attempt.take(attempt.payment_type == PT["refund"])
        charges = attempt.take(attempt.payment_type == PT["merchant_payment"])
        assert len(charges) >= 1
        merchant = charges.to_account[0]
        assert (charges.to_account == merchant).all()
        assert (refunds.from_account == merchant).all()
        assert not set(refunds.to_account.tolist()) & set(charges.from_account.tolist())
        assert refunds.amount_paid.sum() <= charges.amount_paid.sum()


def test_synthetic_identities_bust_out_on_credit_and_vanish(rich_result) -> None:
    events = rich_result.events
    accounts = rich_result.population.accounts
    people = rich_result.population.people
    for attempt in _attempts(rich_result, "synthetic_identity_bust_out"):
        account = attempt.from_account[0]
        assert (attempt.from_account == account).all()
        assert accounts.credit_limit[account] > 0
        assert accounts.tenure_days[account] < 200
        assert people.tenure_days[accounts.owner[account]] < 200
        last = attempt.timestamp_ns.max()
        later_day = (events.timestamp_ns >= last + 86_400 * 10**9) & (
            events.from_account == account
        )
        assert not later_day.any()
