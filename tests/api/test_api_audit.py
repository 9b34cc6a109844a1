"""The operator audit trail over HTTP: every action by a key is an event naming who, what, which
resource, when and the idempotency key; pages and filters; nothing can change it through the API;
each event proves it is sealed into the verifiable log."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from typing import Any

import pytest

from clearline.chain.merkle import leaf_hash, verify_inclusion
from clearline.kyc.specimens import specimen_documents

SEAL_WAIT_S = 30.0


def events(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit-events", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_actions_by_keys_are_events(api_server: Any) -> None:
    operator_key = api_server.key("operator", label="audited operator")
    operator = api_server.client(operator_key)
    created = operator.post(
        "/v1/customers",
        json={"name": "Audited Person", "tier": 1},
        headers={"Idempotency-Key": "audited-onboarding"},
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    (passport,) = specimen_documents(customer_id, "US", 2)
    added = operator.post(f"/v1/customers/{customer_id}/documents", json=passport)
    assert added.status_code == 201, added.text
    patched = operator.patch(f"/v1/customers/{customer_id}", json={"tier": 2})
    assert patched.status_code == 200, patched.text
    account = operator.post("/v1/accounts", json={"customer_id": customer_id, "asset": "USD"})
    assert account.status_code == 201, account.text

    auditor = api_server.client(api_server.key("auditor", label="reads the trail"))
    about = events(auditor, resource_id=customer_id)
    actions = [event["action"] for event in about]
    assert actions == ["customer.create", "customer.document_add", "customer.update"]
    first, document, second = about
    assert document["details"] == {
        "type": "passport_mrz",
        "issuing_country": "US",
        "document_id": added.json()["id"],
    }
    operator_id = operator_key.split("_")[1]
    assert (first["actor_key_id"], first["actor_role"]) == (operator_id, "operator")
    assert first["idempotency_key"] == "audited-onboarding"
    assert first["resource_type"] == "customer" and first["at"].endswith("Z")
    assert second["details"] == {"tier": [1, 2]}
    assert "Audited Person" not in str(about)  # events never carry personal data
    assert passport["mrz_lines"][1][:9] not in str(about)  # nor a document number
    by_key = {event["action"] for event in events(auditor, actor_key_id=operator_id)}
    assert {"customer.create", "customer.update", "account.create"} <= by_key
    key_events = events(api_server.admin, action="key.create", limit=500)
    assert any(event["actor_role"] == "admin" for event in key_events)


def test_pages_walk_the_whole_trail_in_order(api_server: Any) -> None:
    for index in range(3):
        api_server.key("analyst", label=f"page filler {index}")
    admin = api_server.admin
    everything = events(admin, limit=500)
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = admin.get("/v1/audit-events", params=params).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["seq"] for e in seen][: len(everything)] == [e["seq"] for e in everything]
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_the_trail_cannot_be_changed_through_the_api(
    api_server: Any, method: str, problem_of: Any
) -> None:
    some = events(api_server.admin, limit=1)[0]
    for path in ("/v1/audit-events", f"/v1/audit-events/{some['id']}"):
        response = api_server.admin.request(method, path, json={"action": "nothing.happened"})
        assert response.status_code in (404, 405), (path, response.status_code)
        problem_of(response, response.status_code)
    assert events(api_server.admin, limit=1)[0] == some


def test_the_database_refuses_to_change_an_event(api_server: Any) -> None:
    connection = sqlite3.connect(api_server.data_dir / "platform.sqlite")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("UPDATE audit_events SET actor_role = 'nobody'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute("DELETE FROM audit_events")
    finally:
        connection.close()


def test_an_event_proves_it_is_in_the_signed_log(api_server: Any) -> None:
    api_server.key("auditor", label="to be proven")
    admin = api_server.admin
    event = events(admin, action="key.create", limit=500)[-1]
    deadline = time.monotonic() + SEAL_WAIT_S
    while True:
        response = admin.get(f"/v1/audit-events/{event['id']}/proof")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.status_code == 409, response.text  # not sealed yet: retry
        time.sleep(0.3)
    assert response.status_code == 200, response.text
    body = response.json()
    canonical = body["canonical"].encode()
    assert hashlib.sha256(canonical).hexdigest() == body["digest"]
    assert body["event"]["id"] == event["id"] and body["event"]["sealed"] is True
    leaf = bytes.fromhex(body["leaf"])
    assert bytes.fromhex(body["digest"]) in leaf  # the attested digest is what the leaf holds
    assert body["intact"] is True
    proof = body["proof"]
    assert leaf_hash(leaf).hex() == proof["leaf_hash"]
    verify_inclusion(
        proof["leaf_index"],
        proof["tree_size"],
        leaf_hash(leaf),
        [bytes.fromhex(node) for node in proof["proof"]],
        bytes.fromhex(body["checkpoint"]["root_hash"]),
    )


def test_an_event_changed_after_sealing_is_caught(launch_api: Any) -> None:
    api = launch_api()
    api.key("auditor", label="tampered with later")
    admin = api.admin
    deadline = time.monotonic() + SEAL_WAIT_S
    while not all(event["sealed"] for event in events(admin, limit=500)):
        assert time.monotonic() < deadline, "the trail was not sealed"
        time.sleep(0.3)
    target = events(admin, action="key.create", limit=500)[-1]
    api.close_clients()
    api.process.send_signal(2)
    assert api.process.wait(timeout=60) == 0
    intact = api.cli("trail", "verify")
    assert intact.returncode == 0 and "intact" in intact.stdout, intact.stdout + intact.stderr
    connection = sqlite3.connect(api.data_dir / "platform.sqlite")
    try:  # someone with the file bypasses the triggers and rewrites who did it
        connection.executescript(
            "DROP TRIGGER audit_events_no_update;"
            f"UPDATE audit_events SET actor_role = 'auditor' WHERE id = '{target['id']}';"
        )
    finally:
        connection.close()
    caught = api.cli("trail", "verify")
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert target["id"] in caught.stderr
