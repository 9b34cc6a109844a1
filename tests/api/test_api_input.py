"""Bad input through HTTP: every refusal is an RFC 9457 problem document (`application/problem+json`
with `type`, `status` and `code`) and nothing moves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

BATCH_MAX = 8190
BODY_BYTES_MAX = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def pair(api_server: Any) -> tuple[Any, Any]:
    return api_server.party("Input Payer"), api_server.party("Input Payee")


@pytest.fixture
def unchanged(api_server: Any, pair: tuple[Any, Any]) -> Iterator[None]:
    """Checks, after the test, that neither party's balance moved."""
    before = [api_server.balance(party.account_id) for party in pair]
    yield
    assert [api_server.balance(party.account_id) for party in pair] == before


def payment(pair: tuple[Any, Any], **changes: Any) -> dict[str, Any]:
    payer, payee = pair
    return {
        "source_account_id": payer.account_id,
        "destination_account_id": payee.account_id,
        "amount": "10.00",
        "asset": "USD",
        **changes,
    }


def transfer(pair: tuple[Any, Any], **changes: Any) -> dict[str, Any]:
    payer, payee = pair
    return {
        "debit_account_id": payer.account_id,
        "credit_account_id": payee.account_id,
        "amount": "1.00",
        "asset": "USD",
        **changes,
    }


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b'{"amount": "1.00",}', b"\xff\xfe\x00", b'{"source_account_id": '],
    ids=["garbage", "trailing-comma", "not-utf8", "truncated"],
)
def test_malformed_json_is_400(api_server: Any, problem_of: Any, raw: bytes) -> None:
    response = api_server.operator.post(
        "/v1/payments", content=raw, headers={"Content-Type": "application/json"}
    )
    problem_of(response, 400, "malformed_json")


@pytest.mark.usefixtures("unchanged")
def test_body_that_is_not_an_object_is_refused(api_server: Any, problem_of: Any) -> None:
    for raw in (b"[]", b"42", b'"text"', b"null"):
        response = api_server.operator.post(
            "/v1/payments", content=raw, headers={"Content-Type": "application/json"}
        )
        problem_of(response, 422, "validation_failed")
    problem_of(api_server.operator.post("/v1/payments", content=b"x=1"), 422)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 10.5},
        {"amount": 10},
        {"amount": None},
        {"amount": ["10.00"]},
        {"source_account_id": 12345},
        {"asset": 840},
        {"capture": True},
        {"payment_type": "gift"},
        {"channel": "fax"},
        {"amount": "-1.00"},
        {"amount": "1e3"},
        {"amount": " 10.00"},
        {"amount": "10,00"},
        {"source_account_id": "XYZ"},
    ],
    ids=lambda changes: json.dumps(changes),
)
def test_wrong_types_and_shapes_are_422(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any, changes: dict[str, Any]
) -> None:
    problem_of(api_server.operator.post("/v1/payments", json=payment(pair, **changes)), 422)


@pytest.mark.usefixtures("unchanged")
def test_missing_and_unknown_fields_are_422(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any
) -> None:
    body = payment(pair)
    del body["amount"]
    problem = problem_of(api_server.operator.post("/v1/payments", json=body), 422)
    assert any("amount" in error["location"] for error in problem["errors"])
    extra = payment(pair, fee="0.01")
    problem = problem_of(api_server.operator.post("/v1/payments", json=extra), 422)
    assert any("fee" in error["location"] for error in problem["errors"])
    nested = {"transfers": [transfer(pair, memo="hi")]}
    problem_of(api_server.operator.post("/v1/transfers", json=nested), 422)
    problem_of(api_server.operator.post("/v1/customers", json={"name": "X", "vip": True}), 422)
    problem_of(api_server.operator.post("/v1/customers", json={"name": 7}), 422)
    problem_of(api_server.operator.post("/v1/customers", json={"name": "X", "tier": "two"}), 422)
    problem_of(api_server.operator.post("/v1/customers", json={"name": "X", "tier": 4}), 422)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("amount", ["10.001", "0.001", "1.000000000000000001"])
def test_more_decimals_than_usd_allows(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any, amount: str
) -> None:
    response = api_server.operator.post("/v1/payments", json=payment(pair, amount=amount))
    problem_of(response, 422, "too_many_decimals")
    batch = {"transfers": [transfer(pair), transfer(pair, amount=amount)]}
    problem = problem_of(api_server.operator.post("/v1/transfers", json=batch), 422)
    assert problem["code"] == "too_many_decimals" and "transfers[1]" in problem["detail"]


@pytest.mark.parametrize(
    ("asset", "funds", "good", "bad", "reviewed", "declined"),
    [
        ("JPY", "100000", "150", "1.5", "20000", "200000"),
        ("KWD", "1000.000", "1.250", "1.0001", "40.000", "400.000"),
    ],
)
def test_amounts_follow_the_asset_scale_and_rate(
    api_server: Any,
    problem_of: Any,
    asset: str,
    funds: str,
    good: str,
    bad: str,
    reviewed: str,
    declined: str,
) -> None:
    """Decimals are checked against the asset's scale; risk rules see the amount in USD."""
    payer = api_server.party(f"{asset} payer", asset=asset, funds=funds)
    payee = api_server.party(f"{asset} payee", asset=asset, funds=None)
    problem_of(api_server.pay(payer, payee, bad), 422, "too_many_decimals")
    assert api_server.balance(payer.account_id)["posted"] == funds
    response = api_server.pay(payer, payee, good)
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == good and response.json()["status"] == "completed"
    assert api_server.balance(payee.account_id)["posted"] == good
    assert api_server.pay(payer, payee, reviewed).json()["status"] == "in_review"
    assert api_server.pay(payer, payee, declined).json()["status"] == "declined"


@pytest.mark.usefixtures("unchanged")
def test_zero_amounts_are_refused(api_server: Any, pair: tuple[Any, Any], problem_of: Any) -> None:
    problem_of(
        api_server.operator.post("/v1/payments", json=payment(pair, amount="0.00")),
        422,
        "amount_not_positive",
    )
    problem_of(
        api_server.operator.post("/v1/transfers", json={"transfers": [transfer(pair, amount="0")]}),
        422,
        "amount_not_positive",
    )


@pytest.mark.usefixtures("unchanged")
def test_unknown_accounts_are_404(api_server: Any, pair: tuple[Any, Any], problem_of: Any) -> None:
    nobody = uuid.uuid4().hex
    for changes in ({"destination_account_id": nobody}, {"source_account_id": nobody}):
        response = api_server.operator.post("/v1/payments", json=payment(pair, **changes))
        problem_of(response, 404, "account_not_found")
    batch = {"transfers": [transfer(pair), transfer(pair, credit_account_id=nobody)]}
    problem = problem_of(api_server.operator.post("/v1/transfers", json=batch), 404)
    assert problem["code"] == "account_not_found" and "transfers[1]" in problem["detail"]
    for path in (
        f"/v1/accounts/{nobody}",
        f"/v1/accounts/{nobody}/balance",
        f"/v1/accounts/{nobody}/statement",
        f"/v1/customers/{nobody}",
        f"/v1/payments/{nobody}",
        f"/v1/payments/{nobody}/proof",
        f"/v1/decisions/{nobody}",
    ):
        problem_of(api_server.admin.get(path), 404)
    for step in ("capture", "void", "refunds"):
        problem_of(api_server.operator.post(f"/v1/payments/{nobody}/{step}"), 404)
    analyst = api_server.client(api_server.key("analyst"))
    problem_of(analyst.post(f"/v1/reviews/{nobody}/approve"), 404)
    problem_of(
        api_server.operator.post("/v1/accounts", json={"customer_id": nobody, "asset": "USD"}),
        404,
        "customer_not_found",
    )
    problem_of(api_server.operator.patch(f"/v1/customers/{nobody}", json={"tier": 1}), 404)


@pytest.mark.usefixtures("unchanged")
def test_unknown_and_mismatched_assets(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any
) -> None:
    payer, _ = pair
    problem_of(
        api_server.operator.post(
            "/v1/accounts", json={"customer_id": payer.customer_id, "asset": "ZZZ"}
        ),
        422,
        "unknown_asset",
    )
    problem_of(
        api_server.operator.post("/v1/payments", json=payment(pair, asset="ZZZ")),
        422,
        "unknown_asset",
    )
    problem_of(
        api_server.operator.post("/v1/payments", json=payment(pair, asset="EUR")),
        422,
        "asset_mismatch",
    )
    batch = {"transfers": [transfer(pair, asset="EUR")]}
    problem_of(api_server.operator.post("/v1/transfers", json=batch), 422, "asset_mismatch")
    problem_of(api_server.operator.post("/v1/payments", json=payment(pair, asset="usd")), 422)


@pytest.mark.usefixtures("unchanged")
def test_payment_to_itself_and_from_omnibus_are_refused(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any
) -> None:
    payer, _ = pair
    same = payment(pair, destination_account_id=payer.account_id)
    problem_of(api_server.operator.post("/v1/payments", json=same), 422, "same_account")
    omnibus = payment(pair, source_account_id=api_server.omnibus("USD"))
    problem_of(api_server.operator.post("/v1/payments", json=omnibus), 422, "source_not_wallet")


@pytest.mark.usefixtures("unchanged")
def test_oversized_and_empty_batches_are_refused(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any
) -> None:
    one = transfer(pair, amount="0.01")
    problem_of(
        api_server.operator.post("/v1/transfers", json={"transfers": [one] * (BATCH_MAX + 1)}),
        422,
        "validation_failed",
    )
    problem_of(api_server.operator.post("/v1/transfers", json={"transfers": []}), 422)


def test_atomic_batch_with_one_failure_moves_nothing(
    api_server: Any, pair: tuple[Any, Any]
) -> None:
    before = [api_server.balance(party.account_id) for party in pair]
    too_much = transfer(pair, amount="1000000.00")
    response = api_server.operator.post(
        "/v1/transfers", json={"transfers": [transfer(pair), too_much], "atomic": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] == 0 and response.json()["failed"] == 2
    assert [api_server.balance(party.account_id) for party in pair] == before


def test_largest_batch_is_accepted(api_server: Any) -> None:
    payer, payee = api_server.party("Batch payer", funds="100"), api_server.party("Batch payee")
    one = {
        "debit_account_id": payer.account_id,
        "credit_account_id": payee.account_id,
        "amount": "0.01",
        "asset": "USD",
    }
    response = api_server.operator.post("/v1/transfers", json={"transfers": [one] * BATCH_MAX})
    assert response.status_code == 200, response.text
    assert response.json()["ok"] == BATCH_MAX
    assert api_server.balance(payer.account_id)["posted"] == "18.10"


@pytest.mark.usefixtures("unchanged")
def test_body_too_large_is_413(api_server: Any, pair: tuple[Any, Any], problem_of: Any) -> None:
    body = json.dumps(payment(pair, reference="x" * (BODY_BYTES_MAX + 1))).encode()
    response = api_server.operator.post(
        "/v1/payments", content=body, headers={"Content-Type": "application/json"}
    )
    problem_of(response, 413, "payload_too_large")


@pytest.mark.usefixtures("unchanged")
def test_chunked_body_too_large_is_413(
    api_server: Any, pair: tuple[Any, Any], problem_of: Any
) -> None:
    body = json.dumps(payment(pair, reference="x" * (BODY_BYTES_MAX + 1))).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = api_server.operator.post(
        "/v1/payments", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    problem_of(response, 413, "payload_too_large")


@pytest.mark.usefixtures("unchanged")
def test_bad_paths_queries_and_methods(api_server: Any, problem_of: Any) -> None:
    admin = api_server.admin
    problem_of(admin.get("/v1/payments/not-an-id"), 422, "validation_failed")
    problem_of(admin.get("/v1/accounts/" + "g" * 32), 422)
    problem_of(admin.get("/v1/payments", params={"cursor": "!!!"}), 422, "validation_failed")
    # a reserved id (all zeros, all f) can name nothing: like any unknown id, 404
    problem_of(admin.get("/v1/payments/" + "0" * 32), 404, "payment_not_found")
    problem_of(admin.get("/v1/accounts/" + "f" * 32), 404, "account_not_found")
    problem_of(admin.get("/v1/payments", params={"limit": 0}), 422)
    problem_of(admin.get("/v1/payments", params={"limit": 501}), 422)
    problem_of(admin.get("/v1/payments", params={"limit": "ten"}), 422)
    problem_of(admin.get("/v1/decisions", params={"action": "maybe"}), 422)
    problem_of(admin.get("/v1/proofs/consistency", params={"from": 0, "to": 1}), 422)
    problem_of(admin.get("/v1/proofs/consistency"), 422)
    problem_of(admin.get("/v1/nothing-here"), 404, "not_found")
    not_allowed = problem_of(admin.delete("/v1/payments"), 405, "method_not_allowed")
    assert "GET" in not_allowed["detail"]
    assert set(admin.delete("/v1/payments").headers["allow"].split(", ")) == {"GET", "POST"}


def test_schema_vocabulary_is_the_core_vocabulary() -> None:
    """The OpenAPI enums are written out for the spec; they must stay the shared vocabulary."""
    from typing import get_args

    from clearline.api.schemas import Channel, PaymentType
    from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES

    assert get_args(PaymentType) == PAYMENT_TYPES
    assert get_args(Channel) == CHANNELS


def test_a_repeated_header_reads_its_first_value(api_server: Any) -> None:
    """The fast lane reads headers as the framework does: of a repeated header, the first."""
    payer, payee = api_server.party("Rep"), api_server.party("Eat")
    body = api_server.payment_body(payer, payee, "1.00")
    good = f"Bearer {api_server.admin_key}"
    headers = [("Authorization", good), ("Authorization", "Bearer clk_bogus_key")]
    accepted = httpx.post(f"{api_server.base_url}/v1/payments", json=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    reversed_headers = list(reversed(headers))
    refused = httpx.post(f"{api_server.base_url}/v1/payments", json=body, headers=reversed_headers)
    assert refused.status_code == 401, refused.text
