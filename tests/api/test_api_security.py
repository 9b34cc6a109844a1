"""Security a regulator and an operator expect, end to end over HTTP: rate limits per key,
personal data encrypted at rest and kept out of logs, the data key rotated offline, and a
customer's effective limits with their source."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from clearline.kyc.specimens import specimen_documents

PERSON = {
    "name": "Zanele Quistgaard-Obuya",
    "identity_number": "ZQ-7781-4402-91",
    "address": "17 Tamarind Lane, Mombasa",
    "phone": "+254 700 918 273",
}
"""Values no test or fixture uses anywhere else, so finding one means it leaked."""

STRICT_CUSTOMERS = """\
[rate_limits.customer]
requests_per_s = 1
burst = 3

[rate_limits.auditor]
requests_per_s = 1
burst = 1

[rate_limits.operator]
requests_per_s = 100000
burst = 100000

[rate_limits.admin]
unlimited = true
"""


def raw_bytes(data_dir: Path) -> bytes:
    """Everything the platform database holds on disk, WAL included."""
    return b"".join(
        path.read_bytes() for path in sorted(data_dir.glob("platform.sqlite*")) if path.is_file()
    )


def test_a_key_over_its_limit_gets_429_and_another_key_does_not(
    launch_api: Callable[..., Any], problem_of: Any
) -> None:
    api = launch_api(settings=STRICT_CUSTOMERS)
    flood, quiet = api.party("Flood"), api.party("Quiet")
    flooding = api.client(flood.key)
    answers = [flooding.get("/v1/payments") for _ in range(6)]
    statuses = [response.status_code for response in answers]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:], statuses
    refused = next(response for response in answers if response.status_code == 429)
    body = problem_of(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert "retry after" in body["detail"]
    # the money path (the ASGI fast lane) is limited the same way
    payment = api.payment_body(flood, quiet, "1.00")
    problem_of(flooding.post("/v1/payments", json=payment), 429, "rate_limited")
    # another key of the same role has a bucket of its own
    assert api.client(quiet.key).get("/v1/payments").status_code == 200
    # health needs no key and metrics are never limited
    auditor = api.client(api.key("auditor"))
    for _ in range(5):
        assert api.client().get("/healthz").status_code == 200
        assert auditor.get("/metrics").status_code == 200
    assert auditor.get("/v1/checkpoints").status_code == 200  # its one token, unspent so far
    problem_of(auditor.get("/v1/checkpoints"), 429, "rate_limited")
    # a client that waits as told gets through
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert flooding.get("/v1/payments").status_code == 200
    metrics = auditor.get("/metrics").text
    assert "clearline_rate_limited_total" in metrics


def test_personal_data_is_encrypted_at_rest_and_never_logged(
    launch_api: Callable[..., Any],
) -> None:
    api = launch_api()
    created = api.operator.post(
        "/v1/customers",
        json={**PERSON, "tier": 1, "country": "KE"},
        headers={"Idempotency-Key": "onboard-zanele"},
    )
    assert created.status_code == 201, created.text
    customer = created.json()
    assert {field: customer[field] for field in PERSON} == PERSON  # staff see it in full
    replay = api.operator.post(
        "/v1/customers",
        json={**PERSON, "tier": 1, "country": "KE"},
        headers={"Idempotency-Key": "onboard-zanele"},
    )
    assert replay.json() == customer and replay.headers["Idempotent-Replayed"] == "true"
    analyst = api.client(api.key("analyst")).get(f"/v1/customers/{customer['id']}").json()
    assert analyst["address"] is None
    assert PERSON["identity_number"] not in str(analyst) and PERSON["phone"] not in str(analyst)
    documents = specimen_documents(customer["id"], "KE", 3)
    for document in documents:
        added = api.operator.post(f"/v1/customers/{customer['id']}/documents", json=document)
        assert added.status_code == 201, added.text
    raised = api.operator.patch(f"/v1/customers/{customer['id']}", json={"tier": 3})
    assert raised.status_code == 200, raised.text
    numbers = [document["mrz_lines"][0][5:14] for document in documents[1:]]
    numbers.append(documents[0]["mrz_lines"][1][:9])
    stored = raw_bytes(api.data_dir)
    assert stored, "no platform database found"
    for value in [*PERSON.values(), *numbers]:
        for encoded in (value.encode(), value.encode("utf-16-le")):
            assert encoded not in stored, f"{value!r} is in the database file in clear"
    log = api.log_path.read_bytes()
    for value in [*PERSON.values(), *numbers]:
        assert value.encode() not in log, f"{value!r} was logged"
    # the key file is owner-only
    keys = [path for path in (api.data_dir / "keys").rglob("*") if path.is_file()]
    assert keys and all(path.stat().st_mode & 0o077 == 0 for path in keys)


def test_rotate_data_key_refuses_while_served_then_reencrypts(
    launch_api: Callable[..., Any],
) -> None:
    api = launch_api()
    created = api.operator.post("/v1/customers", json={**PERSON, "tier": 1})
    assert created.status_code == 201, created.text
    refused = api.cli("keys", "rotate-data-key")
    assert refused.returncode != 0 and "serve" in refused.stderr, refused
    before = raw_bytes(api.data_dir)
    api.close_clients()
    api.process.send_signal(2)
    assert api.process.wait(timeout=30) == 0
    rotated = api.cli("keys", "rotate-data-key")
    assert rotated.returncode == 0, rotated.stderr
    assert "is current" in rotated.stdout
    after = raw_bytes(api.data_dir)
    old_tokens = {token for token in _tokens(before)}
    assert old_tokens and not old_tokens & set(_tokens(after))  # no value under the old key
    restarted = launch_api(restart=api)
    got = restarted.admin.get(f"/v1/customers/{created.json()['id']}").json()
    assert got["name"] == PERSON["name"] and got["identity_number"] == PERSON["identity_number"]
    events = restarted.admin.get("/v1/audit-events", params={"action": "data_key.rotate"})
    (event,) = events.json()["data"]
    assert (event["actor_key_id"], event["actor_role"]) == ("cli", "admin")
    assert event["details"]["reencrypted"] >= len(PERSON)


def _tokens(raw: bytes) -> list[bytes]:
    import re

    return re.findall(rb"pd1\.[A-Za-z0-9_.-]{20,}", raw)


@pytest.mark.parametrize(
    ("tier", "per_payment", "per_day"), [(1, "500", "1000"), (2, "5000", "20000")]
)
def test_a_customer_shows_its_effective_limits_and_their_source(
    api_server: Any, tier: int, per_payment: str, per_day: str
) -> None:
    created = api_server.operator.post("/v1/customers", json={"name": "Tiered", "tier": 1})
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    if tier > 1:
        api_server.raise_tier(customer_id, tier)  # the documents the tier needs first
    limits = api_server.operator.get(f"/v1/customers/{customer_id}").json()["limits"]
    assert limits == {
        "per_payment_usd": per_payment,
        "per_day_usd": per_day,
        "source": "tier",
        "tier": {"per_payment_usd": per_payment, "per_day_usd": per_day},
    }
    changed = api_server.operator.patch(
        f"/v1/customers/{customer_id}", json={"limits": {"per_day_usd": "750"}}
    )
    assert changed.status_code == 200, changed.text
    limits = changed.json()["limits"]
    assert (limits["source"], limits["per_day_usd"]) == ("customer", "750")
    assert limits["tier"] == {"per_payment_usd": per_payment, "per_day_usd": per_day}
