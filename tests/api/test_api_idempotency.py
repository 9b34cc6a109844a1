"""Idempotency-Key on every POST, through HTTP: a replay with the same body returns the first
response (marked `Idempotent-Replayed: true`) and moves money once; the same key with another body
is 409 and moves nothing."""

from __future__ import annotations

import uuid
from typing import Any


def fresh_key() -> str:
    return f"e2e-{uuid.uuid4()}"


def test_payment_replay_returns_first_response_and_moves_once(api_server: Any) -> None:
    payer, payee = api_server.party("Ann"), api_server.party("Bo")
    body = api_server.payment_body(payer, payee, "10.00")
    key = fresh_key()
    first = api_server.operator.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # same body, keys in another order: the same request
    reordered = dict(reversed(list(body.items())))
    for replay_body in (body, reordered):
        replay = api_server.operator.post(
            "/v1/payments", json=replay_body, headers={"Idempotency-Key": key}
        )
        assert replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json() == first.json()
    assert api_server.balance(payer.account_id)["posted"] == "4990.00"
    assert api_server.balance(payee.account_id)["posted"] == "5010.00"
    listed = api_server.client(payer.key).get("/v1/payments").json()["data"]
    assert [row["id"] for row in listed] == [first.json()["id"]]


def test_payment_key_reused_with_other_body_is_409(api_server: Any, problem_of: Any) -> None:
    payer, payee = api_server.party("Cat"), api_server.party("Dan")
    key = fresh_key()
    first = api_server.pay(payer, payee, "10.00", client=api_server.operator)
    assert first.status_code == 201
    body = api_server.payment_body(payer, payee, "11.00")
    made = api_server.operator.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert made.status_code == 201
    other = api_server.operator.post(
        "/v1/payments", json={**body, "amount": "12.00"}, headers={"Idempotency-Key": key}
    )
    problem_of(other, 409, "idempotency_key_reused")
    assert api_server.balance(payer.account_id)["posted"] == "4979.00"


def test_idempotency_keys_belong_to_their_api_key(api_server: Any) -> None:
    payer, payee = api_server.party("Eda"), api_server.party("Fin")
    body = api_server.payment_body(payer, payee, "1.00")
    key = fresh_key()
    one = api_server.operator.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    two = api_server.client(payer.key).post(
        "/v1/payments", json=body, headers={"Idempotency-Key": key}
    )
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert api_server.balance(payer.account_id)["posted"] == "4998.00"


def test_customer_replay_and_conflict(api_server: Any, problem_of: Any) -> None:
    key = fresh_key()
    operator = api_server.operator
    first = operator.post("/v1/customers", json={"name": "Gia"}, headers={"Idempotency-Key": key})
    replay = operator.post("/v1/customers", json={"name": "Gia"}, headers={"Idempotency-Key": key})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    other = operator.post("/v1/customers", json={"name": "Hob"}, headers={"Idempotency-Key": key})
    problem_of(other, 409, "idempotency_key_reused")
    names = [
        row["name"]
        for row in api_server.admin.get("/v1/customers", params={"limit": 500}).json()["data"]
    ]
    assert "Hob" not in names


def test_account_replay_and_conflict(api_server: Any, problem_of: Any) -> None:
    owner = api_server.party("Ike", funds=None)
    key = fresh_key()
    body = {"customer_id": owner.customer_id, "asset": "EUR"}
    first = api_server.operator.post("/v1/accounts", json=body, headers={"Idempotency-Key": key})
    replay = api_server.operator.post("/v1/accounts", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    other = api_server.operator.post(
        "/v1/accounts", json={**body, "asset": "GBP"}, headers={"Idempotency-Key": key}
    )
    problem_of(other, 409, "idempotency_key_reused")
    listed = api_server.client(owner.key).get("/v1/accounts").json()["data"]
    assert sorted(row["asset"] for row in listed) == ["EUR", "USD"]


def test_transfer_batch_replay_moves_once(api_server: Any, problem_of: Any) -> None:
    one, two = api_server.party("Jan"), api_server.party("Kit")
    key = fresh_key()
    body = {
        "transfers": [
            {
                "debit_account_id": one.account_id,
                "credit_account_id": two.account_id,
                "amount": "3.00",
                "asset": "USD",
            }
        ]
        * 2
    }
    first = api_server.operator.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 200, first.text
    assert first.json()["ok"] == 2
    replay = api_server.operator.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert api_server.balance(one.account_id)["posted"] == "4994.00"
    body["transfers"][0] = {**body["transfers"][0], "amount": "4.00"}
    other = api_server.operator.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
    problem_of(other, 409, "idempotency_key_reused")
    assert api_server.balance(one.account_id)["posted"] == "4994.00"
    assert api_server.balance(two.account_id)["posted"] == "5006.00"


def test_transfer_ids_are_idempotent_in_the_ledger(api_server: Any) -> None:
    one, two = api_server.party("Lea"), api_server.party("Max")
    transfer = {
        "id": uuid.uuid4().hex,
        "debit_account_id": one.account_id,
        "credit_account_id": two.account_id,
        "amount": "2.00",
        "asset": "USD",
    }
    first = api_server.operator.post("/v1/transfers", json={"transfers": [transfer]}).json()
    again = api_server.operator.post("/v1/transfers", json={"transfers": [transfer]}).json()
    assert first["results"][0]["result"] == "ok"
    assert again["results"][0]["result"] == "exists"
    changed = {**transfer, "amount": "2.50"}
    refused = api_server.operator.post("/v1/transfers", json={"transfers": [changed]}).json()
    assert refused["results"][0]["result"] == "exists_with_different_amount"
    assert api_server.balance(one.account_id)["posted"] == "4998.00"


def test_capture_and_refund_replays(api_server: Any, problem_of: Any) -> None:
    payer, shop = api_server.party("Ned"), api_server.party("Oz", kind="merchant")
    payment = api_server.pay(payer, shop, "30.00", capture="manual").json()
    capture_key = fresh_key()
    url = f"/v1/payments/{payment['id']}"
    first = api_server.operator.post(
        f"{url}/capture", json={"amount": "20.00"}, headers={"Idempotency-Key": capture_key}
    )
    replay = api_server.operator.post(
        f"{url}/capture", json={"amount": "20.00"}, headers={"Idempotency-Key": capture_key}
    )
    assert first.status_code == replay.status_code == 200, first.text
    assert replay.json() == first.json()
    refund_key = fresh_key()
    refund = api_server.operator.post(
        f"{url}/refunds", json={"amount": "5.00"}, headers={"Idempotency-Key": refund_key}
    )
    again = api_server.operator.post(
        f"{url}/refunds", json={"amount": "5.00"}, headers={"Idempotency-Key": refund_key}
    )
    assert refund.status_code == again.status_code == 201, refund.text
    assert again.json() == refund.json()
    problem_of(
        api_server.operator.post(
            f"{url}/refunds", json={"amount": "6.00"}, headers={"Idempotency-Key": refund_key}
        ),
        409,
        "idempotency_key_reused",
    )
    assert api_server.balance(payer.account_id)["posted"] == "4985.00"
    assert api_server.balance(shop.account_id)["posted"] == "5015.00"
    assert api_server.admin.get(url).json()["refunded"] == "5.00"


def test_review_decision_replay(api_server: Any) -> None:
    payer, payee = api_server.party("Pam"), api_server.party("Quo")
    payment = api_server.pay(payer, payee, "110.00").json()
    analyst = api_server.client(api_server.key("analyst"))
    key = fresh_key()
    first = analyst.post(f"/v1/reviews/{payment['id']}/approve", headers={"Idempotency-Key": key})
    replay = analyst.post(f"/v1/reviews/{payment['id']}/approve", headers={"Idempotency-Key": key})
    assert first.status_code == replay.status_code == 200, first.text
    assert replay.json() == first.json()
    assert api_server.balance(payee.account_id)["posted"] == "5110.00"


def test_bad_idempotency_key_is_refused(api_server: Any, problem_of: Any) -> None:
    payer, payee = api_server.party("Rae"), api_server.party("Sid")
    body = api_server.payment_body(payer, payee, "1.00")
    response = api_server.operator.post(
        "/v1/payments", json=body, headers={"Idempotency-Key": "k" * 256}
    )
    problem_of(response, 422, "invalid_idempotency_key")
    assert api_server.balance(payer.account_id)["posted"] == "5000.00"


def test_key_creation_replay_never_returns_the_secret(api_server: Any, problem_of: Any) -> None:
    headers = {"Idempotency-Key": "new-analyst-key"}
    body = {"role": "analyst", "label": "replayed"}
    first = api_server.admin.post("/v1/keys", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["key"].startswith("clk_")
    again = api_server.admin.post("/v1/keys", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["key"] is None
    problem_of(
        api_server.admin.post("/v1/keys", json={"role": "auditor"}, headers=headers),
        409,
        "idempotency_key_reused",
    )
    keys = api_server.admin.get("/v1/keys", params={"limit": 500}).json()["data"]
    assert sum(1 for row in keys if row["label"] == "replayed") == 1  # created once


def test_replays_are_answered_after_a_restart(launch_api: Any) -> None:
    """Stored responses outlive the process: after a restart the same key and body replay the
    first response and move nothing again (the server keeps an in-memory filter of the keys it
    has stored; it is rebuilt from the database at start)."""
    api = launch_api()
    payer, payee = api.party("Ria"), api.party("Sol")
    operator_key = api.key("operator", label="restart test")
    body = api.payment_body(payer, payee, "7.00")
    key = fresh_key()
    first = api.client(operator_key).post(
        "/v1/payments", json=body, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201, first.text
    again = launch_api(restart=api)
    replay = again.client(operator_key).post(
        "/v1/payments", json=body, headers={"Idempotency-Key": key}
    )
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    other = again.client(operator_key).post(
        "/v1/payments", json={**body, "amount": "8.00"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert again.balance(payer.account_id)["posted"] == "4993.00"
    fresh = again.client(operator_key).post(
        "/v1/payments", json=body, headers={"Idempotency-Key": fresh_key()}
    )
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert again.balance(payer.account_id)["posted"] == "4986.00"
