"""Payments through HTTP on a live server: each risk outcome, the review queue, card-style capture,
void and refund, and statements. Decisions come from the rules.yaml of conftest (amount bands and
a blocked device)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def moved(before: dict[str, str], after: dict[str, str], field: str) -> Decimal:
    return Decimal(after[field]) - Decimal(before[field])


def test_approve_completes_and_moves_money(api_server: Any) -> None:
    payer, payee = api_server.party("Ada"), api_server.party("Shop", kind="merchant")
    response = api_server.pay(payer, payee, "12.34", payment_type="merchant_payment")
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "completed"
    assert payment["amount"] == "12.34" and payment["captured"] == "12.34"
    assert payment["decision"]["action"] == "approve"
    assert payment["customer_id"] == payer.customer_id
    assert api_server.balance(payer.account_id)["posted"] == "4987.66"
    assert api_server.balance(payer.account_id)["available"] == "4987.66"
    assert api_server.balance(payee.account_id)["posted"] == "5012.34"
    again = api_server.admin.get(f"/v1/payments/{payment['id']}")
    assert again.status_code == 200 and again.json()["status"] == "completed"


def test_review_holds_funds(api_server: Any) -> None:
    payer, payee = api_server.party("Ben"), api_server.party("Cy")
    response = api_server.pay(payer, payee, "150.00")
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "in_review"
    assert payment["decision"]["action"] == "review"
    assert payment["decision"]["reasons"] == ["rule e2e_review_band (e2e)"]
    assert payment["expires_at"] is not None
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == "5000.00"
    assert payer_balance["available"] == "4850.00"
    assert payer_balance["debits_pending"] == "150.00"
    payee_balance = api_server.balance(payee.account_id)
    assert payee_balance["posted"] == "5000.00" and payee_balance["credits_pending"] == "150.00"
    queue = api_server.client(api_server.key("analyst")).get("/v1/reviews", params={"limit": 500})
    assert queue.status_code == 200
    assert payment["id"] in [row["id"] for row in queue.json()["data"]]
    assert all(row["status"] == "in_review" for row in queue.json()["data"])


def test_decline_moves_nothing_and_records_reasons(api_server: Any) -> None:
    payer, payee = api_server.party("Dee"), api_server.party("Eve")
    response = api_server.pay(payer, payee, "1500.00")
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "declined"
    assert payment["captured"] == "0.00"
    for party in (payer, payee):
        balance = api_server.balance(party.account_id)
        assert balance["posted"] == balance["available"] == "5000.00"
        assert balance["debits_pending"] == balance["credits_pending"] == "0.00"
    analyst = api_server.client(api_server.key("analyst"))
    decision = analyst.get(f"/v1/decisions/{payment['id']}")
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["action"] == "decline" and body["payment_id"] == payment["id"]
    assert body["reasons"] == ["rule e2e_decline_large (e2e)"]
    assert body["rules_version"].startswith("1+")
    declines = analyst.get("/v1/decisions", params={"action": "decline", "limit": 500})
    assert payment["id"] in [row["payment_id"] for row in declines.json()["data"]]
    assert {row["action"] for row in declines.json()["data"]} == {"decline"}
    statement = api_server.admin.get(f"/v1/accounts/{payer.account_id}/statement")
    assert [line["payment_id"] for line in statement.json()["data"]] == [None]  # funding only


def test_blocked_device_is_declined(api_server: Any, blocked_device: str) -> None:
    payer, payee = api_server.party("Fay"), api_server.party("Gus")
    response = api_server.pay(payer, payee, "5.00", device_id=blocked_device)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "declined"
    assert response.json()["decision"]["reasons"] == ["device is on the block list"]
    assert api_server.balance(payer.account_id)["available"] == "5000.00"
    fine = api_server.pay(payer, payee, "5.00", device_id="a-clean-phone")
    assert fine.json()["status"] == "completed"


def test_insufficient_funds_fails_and_moves_nothing(api_server: Any) -> None:
    payer, payee = api_server.party("Hal", funds="20"), api_server.party("Ida")
    response = api_server.pay(payer, payee, "50.00")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["refusal"] == "exceeds_credits"
    assert api_server.balance(payer.account_id)["posted"] == "20.00"
    assert api_server.balance(payee.account_id)["posted"] == "5000.00"


def test_tier_limits_refuse_with_a_problem(api_server: Any, problem_of: Any) -> None:
    payer, payee = api_server.party("Jo", tier=1), api_server.party("Kai")
    problem_of(api_server.pay(payer, payee, "600.00"), 422, "per_payment_limit_exceeded")
    unverified = api_server.party("Lu", tier=0)
    problem_of(api_server.pay(unverified, payee, "1.00"), 422, "tier_may_not_pay")
    for party in (payer, unverified):
        assert api_server.balance(party.account_id)["available"] == "5000.00"


def test_analyst_approves_review(api_server: Any) -> None:
    payer, payee = api_server.party("Mo"), api_server.party("Ned")
    payment = api_server.pay(payer, payee, "200.00").json()
    assert payment["status"] == "in_review"
    analyst = api_server.client(api_server.key("analyst"))
    response = analyst.post(f"/v1/reviews/{payment['id']}/approve")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert response.json()["captured"] == "200.00"
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "4800.00"
    assert payer_balance["debits_pending"] == "0.00"
    assert api_server.balance(payee.account_id)["posted"] == "5200.00"
    again = analyst.post(f"/v1/reviews/{payment['id']}/reject")
    assert again.status_code == 409 and again.json()["code"] == "payment_state_conflict"
    assert api_server.balance(payee.account_id)["posted"] == "5200.00"
    queue = analyst.get("/v1/reviews", params={"limit": 500}).json()["data"]
    assert payment["id"] not in [row["id"] for row in queue]


def test_analyst_rejects_review(api_server: Any) -> None:
    payer, payee = api_server.party("Ola"), api_server.party("Pia")
    payment = api_server.pay(payer, payee, "300.00").json()
    assert api_server.balance(payer.account_id)["available"] == "4700.00"
    analyst = api_server.client(api_server.key("analyst"))
    response = analyst.post(f"/v1/reviews/{payment['id']}/reject")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "5000.00"
    assert payer_balance["debits_pending"] == "0.00"
    payee_balance = api_server.balance(payee.account_id)
    assert payee_balance["posted"] == "5000.00" and payee_balance["credits_pending"] == "0.00"
    again = analyst.post(f"/v1/reviews/{payment['id']}/approve")
    assert again.status_code == 409
    assert api_server.balance(payee.account_id)["posted"] == "5000.00"


def test_manual_capture_in_full(api_server: Any) -> None:
    payer, shop = api_server.party("Quin"), api_server.party("Rex", kind="merchant")
    payment = api_server.pay(payer, shop, "40.00", capture="manual", channel="card").json()
    assert payment["status"] == "authorized" and payment["captured"] == "0.00"
    assert api_server.balance(payer.account_id)["available"] == "4960.00"
    assert api_server.balance(payer.account_id)["posted"] == "5000.00"
    response = api_server.operator.post(f"/v1/payments/{payment['id']}/capture")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured" and response.json()["captured"] == "40.00"
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "4960.00"
    assert api_server.balance(shop.account_id)["posted"] == "5040.00"
    twice = api_server.operator.post(f"/v1/payments/{payment['id']}/capture")
    assert twice.status_code == 409
    assert api_server.balance(shop.account_id)["posted"] == "5040.00"


def test_partial_capture_releases_the_rest(api_server: Any) -> None:
    payer, shop = api_server.party("Sam"), api_server.party("Tia", kind="merchant")
    payment = api_server.pay(payer, shop, "50.00", capture="manual").json()
    response = api_server.operator.post(
        f"/v1/payments/{payment['id']}/capture", json={"amount": "30.00"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured" and response.json()["captured"] == "30.00"
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "4970.00"
    assert payer_balance["debits_pending"] == "0.00"
    assert api_server.balance(shop.account_id)["posted"] == "5030.00"


def test_capture_above_authorization_is_refused(api_server: Any, problem_of: Any) -> None:
    payer, shop = api_server.party("Uma"), api_server.party("Vic", kind="merchant")
    payment = api_server.pay(payer, shop, "10.00", capture="manual").json()
    response = api_server.operator.post(
        f"/v1/payments/{payment['id']}/capture", json={"amount": "10.01"}
    )
    problem_of(response, 422, "invalid_capture_amount")
    assert api_server.admin.get(f"/v1/payments/{payment['id']}").json()["status"] == "authorized"
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"


def test_void_releases_the_hold(api_server: Any) -> None:
    payer, shop = api_server.party("Wes"), api_server.party("Xia", kind="merchant")
    payment = api_server.pay(payer, shop, "25.00", capture="manual").json()
    assert api_server.balance(payer.account_id)["available"] == "4975.00"
    response = api_server.operator.post(f"/v1/payments/{payment['id']}/void")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "voided"
    payer_balance = api_server.balance(payer.account_id)
    assert payer_balance["posted"] == payer_balance["available"] == "5000.00"
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"
    capture = api_server.operator.post(f"/v1/payments/{payment['id']}/capture")
    assert capture.status_code == 409
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"


def test_refunds_partial_then_rest(api_server: Any, problem_of: Any) -> None:
    payer, shop = api_server.party("Yan"), api_server.party("Zed", kind="merchant")
    payment = api_server.pay(payer, shop, "80.00", payment_type="merchant_payment").json()
    assert payment["status"] == "completed"
    url = f"/v1/payments/{payment['id']}/refunds"
    first = api_server.operator.post(url, json={"amount": "30.00"})
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == "30.00"
    assert first.json()["payment"]["refunded"] == "30.00"
    assert first.json()["payment"]["status"] == "completed"
    assert api_server.balance(payer.account_id)["posted"] == "4950.00"
    assert api_server.balance(shop.account_id)["posted"] == "5050.00"
    over = api_server.operator.post(url, json={"amount": "50.01"})
    problem_of(over, 422, "invalid_refund_amount")
    assert api_server.balance(payer.account_id)["posted"] == "4950.00"
    assert api_server.balance(shop.account_id)["posted"] == "5050.00"
    rest = api_server.operator.post(url)
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == "50.00"
    assert rest.json()["payment"]["status"] == "refunded"
    assert rest.json()["payment"]["refunded"] == "80.00"
    assert api_server.balance(payer.account_id)["posted"] == "5000.00"
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"
    more = api_server.operator.post(url, json={"amount": "0.01"})
    assert more.status_code in (409, 422)
    problem_of(more, more.status_code)
    assert api_server.balance(payer.account_id)["posted"] == "5000.00"


def test_refund_of_partial_capture_is_bounded_by_capture(api_server: Any, problem_of: Any) -> None:
    payer, shop = api_server.party("Abe"), api_server.party("Bea", kind="merchant")
    payment = api_server.pay(payer, shop, "60.00", capture="manual").json()
    api_server.operator.post(f"/v1/payments/{payment['id']}/capture", json={"amount": "20.00"})
    url = f"/v1/payments/{payment['id']}/refunds"
    problem_of(api_server.operator.post(url, json={"amount": "20.01"}), 422)
    response = api_server.operator.post(url, json={"amount": "20.00"})
    assert response.status_code == 201, response.text
    assert response.json()["payment"]["status"] == "refunded"
    assert api_server.balance(payer.account_id)["posted"] == "5000.00"
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"


def test_refund_of_declined_payment_is_refused(api_server: Any, problem_of: Any) -> None:
    payer, shop = api_server.party("Cal"), api_server.party("Dot", kind="merchant")
    payment = api_server.pay(payer, shop, "2000.00").json()
    assert payment["status"] == "declined"
    response = api_server.operator.post(f"/v1/payments/{payment['id']}/refunds")
    problem_of(response, 409, "payment_state_conflict")
    assert api_server.balance(shop.account_id)["posted"] == "5000.00"


def test_merchant_key_captures_and_refunds_its_own_payment(api_server: Any) -> None:
    payer, shop = api_server.party("Eli"), api_server.party("Fox", kind="merchant")
    payment = api_server.pay(payer, shop, "15.00", capture="manual").json()
    merchant = api_server.client(shop.key)
    payer_client = api_server.client(payer.key)
    assert payer_client.post(f"/v1/payments/{payment['id']}/capture").status_code == 404
    assert merchant.post(f"/v1/payments/{payment['id']}/capture").status_code == 200
    assert payer_client.post(f"/v1/payments/{payment['id']}/refunds").status_code == 404
    refund = merchant.post(f"/v1/payments/{payment['id']}/refunds", json={"amount": "5.00"})
    assert refund.status_code == 201, refund.text
    assert api_server.balance(payer.account_id)["posted"] == "4990.00"
    assert api_server.balance(shop.account_id)["posted"] == "5010.00"


def test_customer_key_pays_from_own_wallet(api_server: Any) -> None:
    payer, payee = api_server.party("Gil"), api_server.party("Hox")
    response = api_server.pay(payer, payee, "7.00", client=api_server.client(payer.key))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "completed"
    assert api_server.balance(payee.account_id)["posted"] == "5007.00"


def test_statement_lines_and_running_balance(api_server: Any) -> None:
    payer, payee = api_server.party("Ivy"), api_server.party("Jon")
    first = api_server.pay(payer, payee, "10.00").json()
    second = api_server.pay(payer, payee, "2.50").json()
    held = api_server.pay(payer, payee, "120.00").json()
    assert held["status"] == "in_review"
    response = api_server.client(payer.key).get(f"/v1/accounts/{payer.account_id}/statement")
    assert response.status_code == 200, response.text
    lines = response.json()["data"]
    assert [line["direction"] for line in lines] == ["credit", "debit", "debit", "debit"]
    assert [line["amount"] for line in lines] == ["5000.00", "10.00", "2.50", "120.00"]
    assert [line["balance"] for line in lines] == ["5000.00", "4990.00", "4987.50", "4987.50"]
    assert [line["payment_id"] for line in lines] == [None, first["id"], second["id"], held["id"]]
    assert [line["pending"] for line in lines] == [False, False, False, True]
    timestamps = [line["timestamp"] for line in lines]
    assert timestamps == sorted(timestamps)
    paged = api_server.admin.get(
        f"/v1/accounts/{payer.account_id}/statement", params={"limit": 2}
    ).json()
    assert [line["transfer_id"] for line in paged["data"]] == [
        line["transfer_id"] for line in lines[:2]
    ]
    rest = api_server.admin.get(
        f"/v1/accounts/{payer.account_id}/statement",
        params={"limit": 2, "cursor": paged["next_cursor"]},
    ).json()
    assert [line["transfer_id"] for line in rest["data"]] == [
        line["transfer_id"] for line in lines[2:]
    ]


def test_payment_list_filters_by_status_and_pages(api_server: Any) -> None:
    payer, payee = api_server.party("Kim"), api_server.party("Lin")
    ids = [api_server.pay(payer, payee, f"{n}.00").json()["id"] for n in (1, 2, 3)]
    mine = api_server.client(payer.key)
    first = mine.get("/v1/payments", params={"limit": 2}).json()
    assert [row["id"] for row in first["data"]] == ids[:2]
    second = mine.get("/v1/payments", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [row["id"] for row in second["data"]] == ids[2:]
    completed = api_server.admin.get(
        "/v1/payments", params={"status": "declined", "limit": 500}
    ).json()
    assert all(row["status"] == "declined" for row in completed["data"])


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{") and all(
            part in line.split("}")[0] for part in wanted.split(",")
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_fast_lane_routes_are_counted_and_documented(api_server: Any) -> None:
    """POST /v1/payments and /v1/transfers are served by the fast lane (no framework layers):
    they still count in /metrics by route and status, and stay in the OpenAPI document."""
    payer, payee = api_server.party("Lane"), api_server.party("Lane shop")

    def counted() -> tuple[float, float]:
        text = api_server.admin.get("/metrics").text
        return (
            _sample(
                text,
                "clearline_http_requests_total",
                route="/v1/payments",
                method="POST",
                status="201",
            ),
            _sample(
                text,
                "clearline_http_request_seconds_count",
                route="/v1/payments",
                method="POST",
            ),
        )

    before = counted()
    assert api_server.pay(payer, payee, "1.00").status_code == 201
    refused = api_server.admin.post(
        "/v1/payments", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 400
    after = counted()
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + 2  # the refused one is timed too
    text = api_server.admin.get("/metrics").text
    assert (
        _sample(
            text, "clearline_http_requests_total", route="/v1/payments", method="POST", status="400"
        )
        >= 1
    )
    spec = api_server.admin.get("/openapi.json").json()
    assert "post" in spec["paths"]["/v1/payments"] and "post" in spec["paths"]["/v1/transfers"]
