"""`/v1/contracts` over HTTP against a real server: an escrow approved by two of three named
customers, an HTLC fulfilled by its payee, who may do what, idempotent steps, the history, and
the proof of the latest step against a signed checkpoint."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from clearline.chain.merkle import leaf_hash, verify_inclusion

PREIMAGE = b"paid in full"
CONDITION = hashlib.sha256(PREIMAGE).hexdigest()


def test_an_escrow_released_by_two_of_three_approvers(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    payer, payee = api_server.party("Payer"), api_server.party("Payee", funds=None)
    a1, a2, a3 = (api_server.party(n, funds=None) for n in ("Ann", "Ben", "Cy"))
    body = {
        "template": "escrow",
        "parties": [
            {"name": "payer", "customer_id": payer.customer_id},
            {"name": "payee", "customer_id": payee.customer_id},
            *(
                {"name": n, "customer_id": p.customer_id}
                for n, p in (("ann", a1), ("ben", a2), ("cy", a3))
            ),
        ],
        "escrow": {
            "payer_account_id": payer.account_id,
            "payee_account_id": payee.account_id,
            "amount": "120.00",
            "asset": "USD",
            "approvers": ["ann", "ben", "cy"],
            "threshold": 2,
            "deadline_s": 3600,
        },
    }
    customer = api_server.client(payer.key)
    refused = customer.post("/v1/contracts", json=body)
    assert refused.status_code == 403  # customers do not create contracts
    created = api_server.operator.post(
        "/v1/contracts", json=body, headers={"Idempotency-Key": "e1"}
    )
    assert created.status_code == 201, created.text
    contract = created.json()
    assert contract["state"] == "funded" and contract["terms"]["amount"] == 12_000
    again = api_server.operator.post("/v1/contracts", json=body, headers={"Idempotency-Key": "e1"})
    assert again.json()["id"] == contract["id"]  # the same contract, funded once
    assert api_server.balance(payer.account_id)["posted"] == "4880.00"
    url = f"/v1/contracts/{contract['id']}"

    stranger = api_server.party("Eve", funds=None)
    assert api_server.client(stranger.key).get(url).status_code == 404
    wrong = api_server.client(payee.key).post(f"{url}/approve")
    problem_of(wrong, 403, "not_a_party")
    first = api_server.client(a1.key).post(f"{url}/approve", headers={"Idempotency-Key": "a"})
    assert first.status_code == 200 and first.json()["data"]["approvals"] == ["ann"]
    twice = api_server.client(a1.key).post(f"{url}/approve")
    assert twice.json()["data"]["approvals"] == ["ann"]
    released = api_server.client(a3.key).post(f"{url}/approve")
    assert released.json()["state"] == "released"
    assert api_server.balance(payee.account_id)["posted"] == "120.00"
    late = api_server.client(a2.key).post(f"{url}/approve")
    problem_of(late, 409, "contract_state")
    history = api_server.client(payee.key).get(url).json()
    assert [s["action"] for s in history["steps"]] == [
        "contract.create",
        "contract.approve",
        "contract.approve",
    ]
    listed = api_server.client(a2.key).get("/v1/contracts").json()["data"]
    assert contract["id"] in [item["id"] for item in listed]
    assert contract["id"] not in [
        item["id"] for item in api_server.client(stranger.key).get("/v1/contracts").json()["data"]
    ]

    auditor = api_server.client(api_server.key("auditor"))
    deadline = time.monotonic() + 30
    while True:
        proof = auditor.get(f"{url}/proof")
        if proof.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert proof.status_code == 200, proof.text
    document = proof.json()
    assert document["event"]["resource_id"] == contract["id"]
    assert document["event"]["details"]["state"] == "released" and document["intact"]
    inclusion = document["proof"]
    verify_inclusion(  # raises unless the leaf is in the signed tree
        inclusion["leaf_index"],
        inclusion["tree_size"],
        leaf_hash(bytes.fromhex(document["leaf"])),
        [bytes.fromhex(node) for node in inclusion["proof"]],
        bytes.fromhex(document["checkpoint"]["root_hash"]),
    )


def test_an_htlc_fulfilled_by_its_payee_over_http(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    payer, payee = api_server.party("Sender"), api_server.party("Receiver", funds=None)
    body = {
        "template": "htlc",
        "parties": [
            {"name": "payer", "customer_id": payer.customer_id},
            {"name": "payee", "customer_id": payee.customer_id},
        ],
        "htlc": {
            "legs": [
                {
                    "payer_account_id": payer.account_id,
                    "payee_account_id": payee.account_id,
                    "amount": "30.00",
                    "asset": "USD",
                }
            ],
            "condition": CONDITION,
            "timeout_s": 600,
        },
    }
    created = api_server.operator.post("/v1/contracts", json=body)
    assert created.status_code == 201 and created.json()["state"] == "locked", created.text
    url = f"/v1/contracts/{created.json()['id']}"
    client = api_server.client(payee.key)
    wrong = client.post(f"{url}/fulfil", json={"preimage": b"nope".hex()})
    problem_of(wrong, 422, "wrong_preimage")
    assert client.get(url).json()["state"] == "locked"
    done = client.post(f"{url}/fulfil", json={"preimage": PREIMAGE.hex()})
    assert done.status_code == 200 and done.json()["state"] == "fulfilled", done.text
    assert api_server.balance(payee.account_id)["posted"] == "30.00"
    missing = api_server.operator.post("/v1/contracts", json={"template": "htlc"})
    problem_of(missing, 422, "terms_missing")


def test_a_standing_order_runs_on_the_servers_clock_and_its_payer_cancels_another(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    payer, payee = api_server.party("Tenant"), api_server.party("Landlord", funds=None)
    parties = [
        {"name": "payer", "customer_id": payer.customer_id},
        {"name": "payee", "customer_id": payee.customer_id},
    ]
    payment = {
        "from_account_id": payer.account_id,
        "to_account_id": payee.account_id,
        "amount": "12.50",
        "asset": "USD",
    }
    body = {
        "template": "schedule",
        "parties": parties,
        "schedule": {"every_s": 1, "count": 2, "payment": payment},
    }
    created = api_server.operator.post("/v1/contracts", json=body)
    assert created.status_code == 201 and created.json()["state"] == "active", created.text
    url = f"/v1/contracts/{created.json()['id']}"
    deadline = time.monotonic() + 30  # the server's sweep runs the occurrences every second
    while api_server.operator.get(url).json()["state"] != "completed":
        assert time.monotonic() < deadline, api_server.operator.get(url).json()
        time.sleep(0.3)
    order = api_server.client(payer.key).get(url).json()
    assert order["data"]["succeeded"] == 2
    assert [s["step"].split(":")[0] for s in order["steps"]] == [
        "create",
        "occurrence",
        "occurrence",
    ]
    assert api_server.balance(payee.account_id)["posted"] == "25.00"

    weekly = {**body, "schedule": {"cron": "0 9 * * 1", "timezone": "Asia/Shanghai",
                                   "payment": payment}}  # fmt: skip
    later = api_server.operator.post("/v1/contracts", json=weekly).json()
    assert later["state"] == "active" and later["deadline"].endswith("01:00:00Z")
    later_url = f"/v1/contracts/{later['id']}"
    problem_of(api_server.client(payee.key).post(f"{later_url}/cancel"), 403, "not_a_party")
    cancelled = api_server.client(payer.key).post(f"{later_url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    bad = {**body, "schedule": {"cron": "0 9 * * 1", "timezone": "Mars/Olympus",
                                "payment": payment}}  # fmt: skip
    problem_of(api_server.operator.post("/v1/contracts", json=bad), 422, "invalid_schedule")
