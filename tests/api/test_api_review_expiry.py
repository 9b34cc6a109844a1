"""Review expiry on a live server started with `--review-timeout 2`: a payment nobody reviews reads
`expired` once its hold runs out, the held funds are available again, and a late analyst decision
is refused without moving money."""

from __future__ import annotations

import time
from typing import Any

import pytest

REVIEW_TIMEOUT_S = 2
WAIT_S = 60.0


@pytest.fixture(scope="module")
def short_reviews(launch_api: Any) -> Any:
    return launch_api(review_timeout_s=REVIEW_TIMEOUT_S)


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


def test_unreviewed_payment_expires_and_releases_the_hold(
    short_reviews: Any, problem_of: Any
) -> None:
    api = short_reviews
    payer, payee = api.party("Slow"), api.party("Waiting")
    payment = api.pay(payer, payee, "250.00").json()
    assert payment["status"] == "in_review"
    held = api.balance(payer.account_id)
    assert held["available"] == "4750.00" and held["posted"] == "5000.00"

    def listed_expired() -> bool:
        rows = api.admin.get("/v1/payments", params={"status": "expired", "limit": 500}).json()
        return payment["id"] in [row["id"] for row in rows["data"]]

    wait_for(listed_expired, "the background expiry")  # no read of the payment itself
    expired = api.admin.get(f"/v1/payments/{payment['id']}").json()
    assert expired["status"] == "expired" and expired["expires_at"] is None
    payer_balance = api.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "5000.00"
    assert payer_balance["debits_pending"] == "0.00"
    payee_balance = api.balance(payee.account_id)
    assert payee_balance["posted"] == "5000.00" and payee_balance["credits_pending"] == "0.00"
    analyst = api.client(api.key("analyst"))
    queue = analyst.get("/v1/reviews", params={"limit": 500}).json()["data"]
    assert payment["id"] not in [row["id"] for row in queue]
    for step in ("approve", "reject"):
        problem_of(analyst.post(f"/v1/reviews/{payment['id']}/{step}"), 409)
    assert api.balance(payee.account_id)["posted"] == "5000.00"
    assert api.balance(payer.account_id)["available"] == "5000.00"


def test_reading_an_overdue_payment_shows_it_expired(short_reviews: Any) -> None:
    api = short_reviews
    payer, payee = api.party("Late"), api.party("Never")
    payment = api.pay(payer, payee, "120.00").json()
    assert payment["status"] == "in_review"

    def read_expired() -> bool:
        return bool(api.admin.get(f"/v1/payments/{payment['id']}").json()["status"] == "expired")

    wait_for(read_expired, "the payment to read expired")
    assert api.balance(payer.account_id)["available"] == "5000.00"
    assert api.balance(payee.account_id)["posted"] == "5000.00"
    again = api.pay(payer, payee, "20.00").json()
    assert again["status"] == "completed"
    assert api.balance(payer.account_id)["posted"] == "4980.00"
