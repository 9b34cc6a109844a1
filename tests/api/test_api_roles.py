"""Every endpoint × every role through HTTP: allowed roles get past the role check, the others get
403; a missing, malformed, unknown or revoked key gets 401; a customer's key never sees or moves
another customer's money."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from clearline.kyc.specimens import specimen_documents

ROLES = ("admin", "operator", "analyst", "auditor", "customer")
STAFF = ("admin", "operator", "analyst", "auditor")
EVERYONE = ROLES
CONTRACT_READERS = ("admin", "operator", "auditor", "customer")
REVOCATION_WAIT_S = 10.0


@dataclass
class Scene:
    """Two customers: `merchant` (the customer whose key is used) is paid by `payer`."""

    api: Any
    merchant: Any
    payer: Any
    stranger: Any
    payment_id: str
    checkpoint_sizes: tuple[int, int]
    keys: dict[str, str] = field(default_factory=dict)

    def pay_merchant(self, amount: str = "1.00", **fields: Any) -> str:
        response = self.api.pay(self.payer, self.merchant, amount, **fields)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def scene(api_server: Any) -> Scene:
    merchant = api_server.party("Merchant M", kind="merchant", funds="100")
    payer = api_server.party("Payer P", tier=3, funds="100000")
    stranger = api_server.party("Stranger S", funds="100")
    api = api_server
    payment = api.pay(payer, merchant, "2.00").json()["id"]
    api.pay(payer, merchant, "3.00")
    auditor = api.client(api.key("auditor"))
    deadline = time.monotonic() + 30
    while len(sizes := [c["size"] for c in auditor.get("/v1/checkpoints").json()["data"]]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return Scene(api, merchant, payer, stranger, payment, (sizes[0], sizes[-1]))


Call = Callable[[httpx.Client, Scene], httpx.Response]


def _manual(scene: Scene) -> str:
    return scene.pay_merchant("1.00", capture="manual")


def _review(scene: Scene) -> str:
    return scene.pay_merchant("150.00")


def _throwaway_key(scene: Scene) -> str:
    created = scene.api.admin.post("/v1/keys", json={"role": "auditor", "label": "throwaway"})
    return str(created.json()["id"])


ENDPOINTS: dict[str, tuple[tuple[str, ...], Call]] = {
    "GET /metrics": (STAFF, lambda c, s: c.get("/metrics")),
    "POST /v1/customers": (
        ("admin", "operator"),
        lambda c, s: c.post("/v1/customers", json={"name": "New"}),
    ),
    "GET /v1/customers": (EVERYONE, lambda c, s: c.get("/v1/customers")),
    "GET /v1/customers/{id}": (
        EVERYONE,
        lambda c, s: c.get(f"/v1/customers/{s.merchant.customer_id}"),
    ),
    "PATCH /v1/customers/{id}": (
        ("admin", "operator"),
        lambda c, s: c.patch(f"/v1/customers/{s.merchant.customer_id}", json={"tier": 2}),
    ),
    "POST /v1/customers/{id}/documents": (
        ("admin", "operator"),
        lambda c, s: c.post(
            f"/v1/customers/{s.merchant.customer_id}/documents",
            json=specimen_documents(uuid.uuid4().hex, "US", 2)[0],
        ),
    ),
    "GET /v1/customers/{id}/documents": (
        ("admin", "operator", "auditor", "customer"),
        lambda c, s: c.get(f"/v1/customers/{s.merchant.customer_id}/documents"),
    ),
    "POST /v1/accounts": (
        ("admin", "operator"),
        lambda c, s: c.post(
            "/v1/accounts", json={"customer_id": s.merchant.customer_id, "asset": "EUR"}
        ),
    ),
    "GET /v1/accounts": (EVERYONE, lambda c, s: c.get("/v1/accounts")),
    "GET /v1/accounts/{id}": (
        EVERYONE,
        lambda c, s: c.get(f"/v1/accounts/{s.merchant.account_id}"),
    ),
    "GET /v1/accounts/{id}/balance": (
        EVERYONE,
        lambda c, s: c.get(f"/v1/accounts/{s.merchant.account_id}/balance"),
    ),
    "GET /v1/accounts/{id}/statement": (
        EVERYONE,
        lambda c, s: c.get(f"/v1/accounts/{s.merchant.account_id}/statement"),
    ),
    "POST /v1/transfers": (
        ("admin", "operator"),
        lambda c, s: c.post(
            "/v1/transfers",
            json={
                "transfers": [
                    {
                        "debit_account_id": s.payer.account_id,
                        "credit_account_id": s.merchant.account_id,
                        "amount": "0.01",
                        "asset": "USD",
                    }
                ]
            },
        ),
    ),
    "POST /v1/payments": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(
            "/v1/payments",
            json={
                "source_account_id": s.merchant.account_id,
                "destination_account_id": s.payer.account_id,
                "amount": "0.01",
                "asset": "USD",
            },
        ),
    ),
    "GET /v1/payments": (EVERYONE, lambda c, s: c.get("/v1/payments")),
    "GET /v1/payments/{id}": (EVERYONE, lambda c, s: c.get(f"/v1/payments/{s.payment_id}")),
    "POST /v1/payments/{id}/capture": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(f"/v1/payments/{_manual(s)}/capture"),
    ),
    "POST /v1/payments/{id}/void": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(f"/v1/payments/{_manual(s)}/void"),
    ),
    "POST /v1/payments/{id}/refunds": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(
            f"/v1/payments/{s.pay_merchant('0.50')}/refunds", json={"amount": "0.10"}
        ),
    ),
    "GET /v1/payments/{id}/proof": (
        EVERYONE,
        lambda c, s: c.get(f"/v1/payments/{s.payment_id}/proof"),
    ),
    "GET /v1/reviews": (STAFF, lambda c, s: c.get("/v1/reviews")),
    "POST /v1/reviews/{id}/approve": (
        ("admin", "analyst"),
        lambda c, s: c.post(f"/v1/reviews/{_review(s)}/approve"),
    ),
    "POST /v1/reviews/{id}/reject": (
        ("admin", "analyst"),
        lambda c, s: c.post(f"/v1/reviews/{_review(s)}/reject"),
    ),
    "GET /v1/decisions": (STAFF, lambda c, s: c.get("/v1/decisions")),
    "GET /v1/decisions/{id}": (STAFF, lambda c, s: c.get(f"/v1/decisions/{s.payment_id}")),
    "GET /v1/checkpoints": (STAFF, lambda c, s: c.get("/v1/checkpoints")),
    "GET /v1/checkpoints/latest": (EVERYONE, lambda c, s: c.get("/v1/checkpoints/latest")),
    "GET /v1/proofs/consistency": (
        EVERYONE,
        lambda c, s: c.get(
            "/v1/proofs/consistency",
            params={"from": s.checkpoint_sizes[0], "to": s.checkpoint_sizes[1]},
        ),
    ),
    "POST /v1/keys": (("admin",), lambda c, s: c.post("/v1/keys", json={"role": "analyst"})),
    "GET /v1/keys": (("admin",), lambda c, s: c.get("/v1/keys")),
    "DELETE /v1/keys/{id}": (("admin",), lambda c, s: c.delete(f"/v1/keys/{_throwaway_key(s)}")),
    "GET /v1/audit-events": (("admin", "auditor"), lambda c, s: c.get("/v1/audit-events")),
    "GET /v1/audit-events/{id}/proof": (
        ("admin", "auditor"),
        lambda c, s: c.get(f"/v1/audit-events/{_sealed_event(s)}/proof"),
    ),
    "POST /v1/scripts/dry-run": (
        ("admin", "operator"),
        lambda c, s: c.post("/v1/scripts/dry-run", json=SCRIPT),
    ),
    "POST /v1/scripts/run": (
        ("admin", "operator"),
        lambda c, s: c.post("/v1/scripts/run", json=SCRIPT),
    ),
    "GET /v1/scripts/executions/{id}": (
        ("admin", "operator", "auditor"),
        lambda c, s: c.get(f"/v1/scripts/executions/{_execution(s)}"),
    ),
    "POST /v1/contracts": (
        ("admin", "operator"),
        lambda c, s: c.post("/v1/contracts", json=_escrow(s, "customer")),
    ),
    "GET /v1/contracts": (CONTRACT_READERS, lambda c, s: c.get("/v1/contracts")),
    "GET /v1/contracts/{id}": (
        CONTRACT_READERS,
        lambda c, s: c.get(f"/v1/contracts/{_contract(s, 'customer')}"),
    ),
    "POST /v1/contracts/{id}/approve": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(f"/v1/contracts/{_contract(s, _role_of(s, c))}/approve"),
    ),
    "POST /v1/contracts/{id}/attest": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(
            f"/v1/contracts/{_contract(s, _role_of(s, c))}/attest", json={"milestone": "m1"}
        ),
    ),
    "POST /v1/contracts/{id}/fulfil": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(
            f"/v1/contracts/{_htlc(s, _role_of(s, c))}/fulfil", json={"preimage": PREIMAGE.hex()}
        ),
    ),
    "POST /v1/contracts/{id}/cancel": (
        ("admin", "operator", "customer"),
        lambda c, s: c.post(f"/v1/contracts/{_htlc(s, _role_of(s, c))}/cancel"),
    ),
    "GET /v1/contracts/{id}/proof": (
        ("admin", "operator", "auditor"),
        lambda c, s: c.get(f"/v1/contracts/{_sealed_contract(s)}/proof"),
    ),
}

PREIMAGE = b"roles preimage"


def _role_of(scene: Scene, client: httpx.Client) -> str:
    """Which role's key `client` sends (the matrix calls with one client per role)."""
    sent = client.headers.get("authorization", "").removeprefix("Bearer ")
    if sent == scene.api.admin_key:
        return "admin"
    if sent == scene.merchant.key:
        return "customer"
    return next(role for role, key in scene.keys.items() if key == sent)


def _party(scene: Scene, role: str) -> dict[str, Any]:
    """The party a key of `role` acts as: the merchant customer, or that role's key itself."""
    if role == "customer":
        return {"name": "actor", "customer_id": scene.merchant.customer_id}
    if role == "admin":
        key = scene.api.admin_key
    else:
        client_for(scene, role)  # makes the role's key when the scene has none yet
        key = scene.keys[role]
    return {"name": "actor", "key_id": key.split("_")[1]}


def _escrow(scene: Scene, role: str) -> dict[str, Any]:
    return {
        "template": "escrow",
        "parties": [_party(scene, role)],
        "escrow": {
            "payer_account_id": scene.payer.account_id,
            "payee_account_id": scene.merchant.account_id,
            "amount": "1.00",
            "asset": "USD",
            "approvers": ["actor"],
            "milestones": [{"name": "m1", "amount": "0.50", "attester": "actor"}],
            "deadline_s": 3600,
        },
    }


def _contract(scene: Scene, role: str) -> str:
    response = scene.api.admin.post("/v1/contracts", json=_escrow(scene, role))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _htlc(scene: Scene, role: str) -> str:
    party = _party(scene, role)
    body = {
        "template": "htlc",
        "parties": [{**party, "name": "payee"}],
        "htlc": {
            "legs": [
                {
                    "payer_account_id": scene.payer.account_id,
                    "payee_account_id": scene.merchant.account_id,
                    "amount": "1.00",
                    "asset": "USD",
                }
            ],
            "condition": hashlib.sha256(PREIMAGE).hexdigest(),
            "timeout_s": 600,
        },
    }
    response = scene.api.admin.post("/v1/contracts", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _sealed_contract(scene: Scene) -> str:
    identifier = _contract(scene, "customer")
    deadline = time.monotonic() + 30
    while scene.api.admin.get(f"/v1/contracts/{identifier}/proof").status_code == 409:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return identifier


SCRIPT = {"program": "send [USD/2 1] (source = @world destination = @roles:sink)"}


def _execution(scene: Scene) -> str:
    response = scene.api.admin.post("/v1/scripts/run", json=SCRIPT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _sealed_event(scene: Scene) -> str:
    """An audit event already sealed into a signed checkpoint (the scene's key creations)."""
    auditor = scene.api.client(scene.api.key("auditor", label="sealed event"))
    deadline = time.monotonic() + 30
    while True:
        events = auditor.get("/v1/audit-events").json()["data"]
        sealed = [event["id"] for event in events if event["sealed"]]
        if sealed and auditor.get(f"/v1/audit-events/{sealed[0]}/proof").status_code == 200:
            return str(sealed[0])
        assert time.monotonic() < deadline, events
        time.sleep(0.1)


def client_for(scene: Scene, role: str) -> httpx.Client:
    api = scene.api
    if role == "admin":
        return api.admin
    if role == "customer":
        return api.client(scene.merchant.key)
    if role not in scene.keys:
        scene.keys[role] = api.key(role, label=f"roles {role}")
    return api.client(scene.keys[role])


def test_matrix_names_every_route(api_server: Any) -> None:
    spec = api_server.admin.get("/openapi.json").json()
    routes = {
        f"{method.upper()} {path}".replace("{customer_id}", "{id}")
        .replace("{account_id}", "{id}")
        .replace("{payment_id}", "{id}")
        .replace("{key_id}", "{id}")
        .replace("{event_id}", "{id}")
        .replace("{execution_id}", "{id}")
        .replace("{contract_id}", "{id}")
        for path, item in spec["paths"].items()
        for method in item
    }
    assert routes - {"GET /healthz"} == set(ENDPOINTS)


def test_the_document_names_the_roles_this_matrix_tests(api_server: Any) -> None:
    """Each operation's `x-roles` (what the server enforces) is the matrix's allowed roles."""
    spec = api_server.admin.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if path == "/healthz":
                assert operation["security"] == []
                continue
            endpoint = f"{method.upper()} {_generic(path)}"
            assert sorted(operation["x-roles"]) == sorted(ENDPOINTS[endpoint][0]), endpoint
            assert operation["security"] == [{"bearer": []}], endpoint


def _generic(path: str) -> str:
    for name in (
        "customer_id",
        "account_id",
        "payment_id",
        "key_id",
        "event_id",
        "execution_id",
        "contract_id",
    ):
        path = path.replace("{" + name + "}", "{id}")
    return path


MALFORMED_BODIES: list[tuple[str, dict[str, str]]] = [
    ("{}", {"Content-Type": "application/json"}),
    ("{", {"Content-Type": "application/json"}),
    ('{"amount": 1.5, "nonsense": [}', {"Content-Type": "application/json"}),
    ("amount=1", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("\xff\xfe", {"Content-Type": "application/json"}),
]


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_role_that_may_not_gets_403_whatever_the_request(
    scene: Scene, endpoint: str, problem_of: Any
) -> None:
    """Authorization before validation: malformed bodies, ids and queries from a role that may
    not call the endpoint all get 403, never a list of the fields it got wrong."""
    allowed, _ = ENDPOINTS[endpoint]
    method, path = endpoint.split(" ", 1)
    bad_path = path.replace("{id}", "not-an-id")
    for role in ROLES:
        if role in allowed:
            continue
        client = client_for(scene, role)
        for body, headers in MALFORMED_BODIES:
            response = client.request(
                method,
                bad_path,
                content=body.encode("latin-1"),
                headers=headers,
                params={"limit": "-1", "cursor": "!", "from": "x", "action": "maybe"},
            )
            detail = problem_of(response, 403, "forbidden")["detail"]
            assert role in detail, (endpoint, role, body)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_role_matrix(scene: Scene, endpoint: str, role: str, problem_of: Any) -> None:
    allowed, call = ENDPOINTS[endpoint]
    response = call(client_for(scene, role), scene)
    if role in allowed:
        assert response.status_code < 400, (endpoint, role, response.text)
    else:
        body = problem_of(response, 403, "forbidden")
        assert role in body["detail"]


def test_denied_roles_move_nothing(scene: Scene, problem_of: Any) -> None:
    api = scene.api
    accounts = (scene.payer.account_id, scene.merchant.account_id)
    held = _manual(scene)
    settled = scene.pay_merchant("4.00")
    reviewed = _review(scene)
    before = [api.balance(account) for account in accounts]
    for role in ("analyst", "auditor"):
        client = client_for(scene, role)
        for endpoint in ("POST /v1/transfers", "POST /v1/payments", "POST /v1/customers"):
            problem_of(ENDPOINTS[endpoint][1](client, scene), 403, "forbidden")
        problem_of(client.post(f"/v1/payments/{held}/capture"), 403)
        problem_of(client.post(f"/v1/payments/{held}/void"), 403)
        problem_of(client.post(f"/v1/payments/{settled}/refunds"), 403)
    for role in ("operator", "auditor", "customer"):
        client = client_for(scene, role)
        problem_of(client.post(f"/v1/reviews/{reviewed}/approve"), 403)
    assert [api.balance(account) for account in accounts] == before
    assert api.admin.get(f"/v1/payments/{held}").json()["status"] == "authorized"
    assert api.admin.get(f"/v1/payments/{settled}").json()["refunded"] == "0.00"
    assert api.admin.get(f"/v1/payments/{reviewed}").json()["status"] == "in_review"


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer clk_0123456789abcdef_notarealsecret", "Bearer nonsense", "Basic YWxhZGRpbjo="],
    ids=["missing", "unknown", "malformed", "basic"],
)
def test_no_valid_key_is_401(
    scene: Scene, endpoint: str, authorization: str | None, problem_of: Any
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    client = scene.api.client(**headers)
    before = scene.api.balance(scene.merchant.account_id)
    method, path = endpoint.split(" ", 1)
    path = (
        path.replace("/customers/{id}", f"/customers/{scene.merchant.customer_id}")
        .replace("/accounts/{id}", f"/accounts/{scene.merchant.account_id}")
        .replace("/payments/{id}", f"/payments/{scene.payment_id}")
        .replace("/reviews/{id}", f"/reviews/{scene.payment_id}")
        .replace("/decisions/{id}", f"/decisions/{scene.payment_id}")
        .replace("/keys/{id}", "/keys/0123456789abcdef")
        .replace("/audit-events/{id}", f"/audit-events/{scene.payment_id}")
        .replace("/scripts/executions/{id}", f"/scripts/executions/{scene.payment_id}")
        .replace("/contracts/{id}", f"/contracts/{scene.payment_id}")
    )
    body = None if method in ("GET", "DELETE") else {}
    response = client.request(method, path, json=body, params={"from": 1, "to": 1})
    code = "missing_api_key" if authorization is None else "invalid_api_key"
    problem_of(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"
    assert scene.api.balance(scene.merchant.account_id) == before


def test_healthz_needs_no_key(api_server: Any) -> None:
    response = api_server.client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_right_key_id_with_wrong_secret_is_401(api_server: Any, problem_of: Any) -> None:
    key = api_server.key("auditor")
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    problem_of(api_server.client(forged).get("/v1/checkpoints"), 401, "invalid_api_key")
    assert api_server.client(key).get("/v1/checkpoints").status_code == 200


def test_key_revoked_over_http_is_refused_at_once(api_server: Any, problem_of: Any) -> None:
    created = api_server.admin.post("/v1/keys", json={"role": "operator", "label": "to revoke"})
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["id"]
    client = api_server.client(key)
    assert client.get("/v1/customers").status_code == 200
    assert api_server.admin.delete(f"/v1/keys/{key_id}").status_code == 204
    problem_of(client.get("/v1/customers"), 401, "invalid_api_key")
    problem_of(client.post("/v1/customers", json={"name": "Late"}), 401, "invalid_api_key")
    page = api_server.admin.get("/v1/keys", params={"limit": 500}).json()
    listed = {row["id"]: row for row in page["data"]}
    assert listed[key_id]["revoked_at"] is not None
    assert "key" not in listed[key_id]
    problem_of(api_server.admin.delete("/v1/keys/0123456789abcdef"), 404, "key_not_found")


def test_key_revoked_by_cli_is_refused_within_the_cache_time(
    api_server: Any, problem_of: Any
) -> None:
    made = api_server.cli("keys", "create", "--role", "operator", "--label", "cli key")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    client = api_server.client(key)
    assert client.get("/v1/customers").status_code == 200
    listed = api_server.cli("keys", "list")
    assert listed.returncode == 0 and key_id in listed.stdout
    assert key not in listed.stdout
    revoked = api_server.cli("keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + REVOCATION_WAIT_S
    while (response := client.get("/v1/customers")).status_code == 200:
        assert time.monotonic() < deadline, "revoked key still accepted"
        time.sleep(0.1)
    problem_of(response, 401, "invalid_api_key")


def test_cli_customer_key_is_bound_to_its_customer(api_server: Any) -> None:
    party = api_server.party("Cli Customer")
    made = api_server.cli("keys", "create", "--role", "customer", "--customer", party.customer_id)
    assert made.returncode == 0, made.stderr
    client = api_server.client(made.stdout.strip().splitlines()[-1])
    listed = client.get("/v1/accounts").json()["data"]
    assert [row["id"] for row in listed] == [party.account_id]


def test_key_creation_checks_role_and_customer(api_server: Any, problem_of: Any) -> None:
    admin = api_server.admin
    problem_of(admin.post("/v1/keys", json={"role": "customer"}), 422)
    problem_of(admin.post("/v1/keys", json={"role": "root"}), 422)
    problem_of(
        admin.post("/v1/keys", json={"role": "customer", "customer_id": uuid.uuid4().hex}),
        404,
        "customer_not_found",
    )
    party = api_server.party("Keyed", funds=None)
    problem_of(
        admin.post("/v1/keys", json={"role": "operator", "customer_id": party.customer_id}), 422
    )


# -- one customer never sees or moves another's money -------------------------------------------


def test_customer_sees_only_its_own_records(scene: Scene, problem_of: Any) -> None:
    api, mine, theirs = scene.api, scene.merchant, scene.stranger
    client = api.client(mine.key)
    api.pay(theirs, scene.payer, "1.00")
    their_payment = api.pay(theirs, scene.payer, "2.00").json()["id"]
    for path in (
        f"/v1/customers/{theirs.customer_id}",
        f"/v1/accounts/{theirs.account_id}",
        f"/v1/accounts/{theirs.account_id}/balance",
        f"/v1/accounts/{theirs.account_id}/statement",
        f"/v1/payments/{their_payment}",
        f"/v1/payments/{their_payment}/proof",
    ):
        problem_of(client.get(path), 404)
    customers = client.get("/v1/customers", params={"limit": 500}).json()["data"]
    assert [row["id"] for row in customers] == [mine.customer_id]
    accounts = client.get("/v1/accounts", params={"limit": 500}).json()["data"]
    assert accounts and {row["customer_id"] for row in accounts} == {mine.customer_id}
    other = client.get("/v1/accounts", params={"customer_id": theirs.customer_id}).json()
    assert other["data"] == []
    payments = client.get("/v1/payments", params={"limit": 500}).json()["data"]
    assert payments
    assert their_payment not in [row["id"] for row in payments]
    for row in payments:
        assert mine.account_id in (row["source_account_id"], row["destination_account_id"])
    problem_of(client.get("/v1/decisions"), 403)
    problem_of(client.get(f"/v1/decisions/{their_payment}"), 403)


def test_customer_cannot_move_another_customers_money(scene: Scene, problem_of: Any) -> None:
    api, mine, theirs = scene.api, scene.merchant, scene.stranger
    client = api.client(mine.key)
    held = api.pay(theirs, scene.payer, "1.00", capture="manual").json()["id"]
    settled = api.pay(theirs, scene.payer, "1.00").json()["id"]
    accounts = (theirs.account_id, scene.payer.account_id, mine.account_id)
    before = [api.balance(account) for account in accounts]
    stolen = client.post(
        "/v1/payments",
        json={
            "source_account_id": theirs.account_id,
            "destination_account_id": mine.account_id,
            "amount": "1.00",
            "asset": "USD",
        },
    )
    problem_of(stolen, 404, "account_not_found")
    problem_of(client.post(f"/v1/payments/{held}/capture"), 404)
    problem_of(client.post(f"/v1/payments/{held}/void"), 404)
    problem_of(client.post(f"/v1/payments/{settled}/refunds"), 404)
    problem_of(
        client.post(
            "/v1/transfers",
            json={
                "transfers": [
                    {
                        "debit_account_id": theirs.account_id,
                        "credit_account_id": mine.account_id,
                        "amount": "1.00",
                        "asset": "USD",
                    }
                ]
            },
        ),
        403,
    )
    problem_of(client.patch(f"/v1/customers/{theirs.customer_id}", json={"tier": 3}), 403)
    assert [api.balance(account) for account in accounts] == before
    assert api.admin.get(f"/v1/payments/{held}").json()["status"] == "authorized"
    assert api.admin.get(f"/v1/payments/{settled}").json()["refunded"] == "0.00"
    their_payments = api.client(theirs.key).get("/v1/payments", params={"limit": 500}).json()
    assert mine.account_id not in {row["destination_account_id"] for row in their_payments["data"]}


def test_payer_customer_cannot_capture_or_refund_what_it_paid(
    scene: Scene, problem_of: Any
) -> None:
    api = scene.api
    payer = api.client(scene.payer.key)
    held = _manual(scene)
    settled = scene.pay_merchant("3.00")
    problem_of(payer.post(f"/v1/payments/{held}/capture"), 404)
    problem_of(payer.post(f"/v1/payments/{settled}/refunds"), 404)
    assert payer.get(f"/v1/payments/{held}").status_code == 200
    assert api.admin.get(f"/v1/payments/{settled}").json()["refunded"] == "0.00"
