"""Identity documents on customers through the real server: added and listed masked, unique per
(type, issuing country) and not globally, bad identifiers refused naming the check with nothing
stored, who may do what, numbers encrypted at rest and never logged, and tier upgrades that need
the documents their tier requires."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from stdnum.cn import ric

from clearline.api.document_schemas import DocumentTypeId
from clearline.kyc import DOCUMENT_TYPES
from clearline.kyc.mrz import compose_td3
from clearline.kyc.specimens import specimen_documents

RIC = "360426199101010071"  # stdnum's example resident identity card number
IBAN = "DE89370400440532013000"


def _customer(api: Any, tier: int = 1, kind: str = "person") -> str:
    response = api.operator.post(
        "/v1/customers", json={"name": "Doc Holder", "tier": tier, "kind": kind}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _ric(seed: str) -> str:
    """A checksum-valid resident identity card number of Beijing Dongcheng, unique per seed."""
    serial = int(uuid.uuid5(uuid.NAMESPACE_OID, seed).int % 1000)
    body = f"11010119800101{serial:03d}"
    return body + ric.calc_check_digit(body + "0")


def _passport(state: str, number: str) -> list[str]:
    return compose_td3(
        issuing_state=state,
        document_number=number,
        nationality=state,
        birth_date=date(1985, 6, 7),
        expiry_date=date(2034, 6, 7),
        sex="F",
        surname="SPECIMEN",
        given_names="HOLDER",
    )


def _add(api: Any, customer_id: str, body: dict[str, Any], **headers: str) -> Any:
    return api.operator.post(f"/v1/customers/{customer_id}/documents", json=body, headers=headers)


def _events(api: Any, customer_id: str) -> list[str]:
    page = api.admin.get("/v1/audit-events", params={"resource_id": customer_id, "limit": 500})
    return [event["action"] for event in page.json()["data"]]


def test_the_api_offers_every_document_type() -> None:
    assert set(DocumentTypeId.__args__) == set(DOCUMENT_TYPES)  # type: ignore[attr-defined]


def test_add_and_list_masked(api_server: Any) -> None:
    customer_id = _customer(api_server)
    added = _add(
        api_server, customer_id, {"type": "cn_ric", "issuing_country": "CN", "number": RIC}
    )
    assert added.status_code == 201, added.text
    document = added.json()
    assert document["number"] == "*" * 14 + RIC[-4:]
    assert (document["type"], document["issuing_country"], document["kind"]) == (
        "cn_ric",
        "CN",
        "identity",
    )
    assert document["details"]["birth_date"] == "1991-01-01"
    assert document["details"]["sex"] == "male"
    assert document["details"]["region"].startswith("360426")
    listed = api_server.operator.get(f"/v1/customers/{customer_id}/documents").json()["data"]
    assert listed == [document]
    assert RIC not in str(listed)
    own_key = api_server.key("customer", customer_id)
    own = api_server.client(own_key).get(f"/v1/customers/{customer_id}/documents")
    assert own.status_code == 200 and own.json()["data"] == [document]
    auditor = api_server.client(api_server.key("auditor"))
    seen = auditor.get(f"/v1/customers/{customer_id}/documents").json()["data"]
    assert seen[0]["number"] == document["number"]
    assert not {"birth_date", "sex", "region"} & set(seen[0]["details"])
    assert _events(api_server, customer_id) == ["customer.create", "customer.document_add"]
    log = api_server.log_path.read_bytes()
    assert RIC.encode() not in log
    stored = b"".join(path.read_bytes() for path in api_server.data_dir.glob("platform.sqlite*"))
    assert RIC.encode() not in stored and RIC.encode("utf-16-le") not in stored


def test_duplicates_are_refused_per_type_and_country_only(api_server: Any, problem_of: Any) -> None:
    first, second = _customer(api_server), _customer(api_server)
    number = _ric("duplicates")
    body = {"type": "cn_ric", "issuing_country": "CN", "number": number}
    assert _add(api_server, first, body).status_code == 201
    again = problem_of(_add(api_server, first, body), 409, "document_already_on_customer")
    assert number not in again["detail"]
    problem_of(_add(api_server, second, body), 409, "document_held_by_another_customer")
    spaced = {**body, "number": f"  {number} "}  # compared compact
    problem_of(_add(api_server, second, spaced), 409, "document_held_by_another_customer")
    assert api_server.operator.get(f"/v1/customers/{second}/documents").json()["data"] == []
    passport_number = uuid.uuid4().hex[:9].upper()
    chinese = {"type": "passport_mrz", "issuing_country": "CN"}
    thai = {"type": "passport_mrz", "issuing_country": "TH"}
    made = _add(api_server, first, {**chinese, "mrz_lines": _passport("CHN", passport_number)})
    assert made.status_code == 201, made.text
    other_country = _add(
        api_server, second, {**thai, "mrz_lines": _passport("THA", passport_number)}
    )
    assert other_country.status_code == 201, other_country.text  # same number, another country
    problem_of(
        _add(api_server, second, {**chinese, "mrz_lines": _passport("CHN", passport_number)}),
        409,
        "document_held_by_another_customer",
    )


def test_a_bad_identifier_is_a_problem_naming_the_check_and_stores_nothing(
    api_server: Any, problem_of: Any
) -> None:
    customer_id = _customer(api_server)
    wrong = RIC[:-1] + "2"
    passport = _passport("CHN", "E12345678")
    bad_birth_digit = passport[1][:19] + str((int(passport[1][19]) + 1) % 10) + passport[1][20:]
    cases = [
        ({"type": "cn_ric", "issuing_country": "CN", "number": wrong}, "checksum"),
        ({"type": "cn_ric", "issuing_country": "CN", "number": RIC[:-2]}, "length"),
        ({"type": "cn_ric", "issuing_country": "TH", "number": RIC}, "issuing_country"),
        ({"type": "iban", "issuing_country": "DE", "number": "DE88" + IBAN[4:]}, "checksum"),
        (
            {
                "type": "passport_mrz",
                "issuing_country": "CN",
                "mrz_lines": [passport[0], bad_birth_digit],
            },
            "mrz_check_digit:birth_date",
        ),
        ({"type": "passport_mrz", "issuing_country": "CN", "number": "E12345678"}, "format"),
        (
            {"type": "cn_ric", "issuing_country": "CN", "number": RIC, "expiry_date": "2030-02-30"},
            "expiry_date",
        ),
    ]
    for body, check in cases:
        problem = problem_of(_add(api_server, customer_id, body), 422, "identifier_invalid")
        assert problem["check"] == check, (body, problem)
        assert wrong not in problem["detail"]
    birth_body = f"11010119801301{1:03d}"
    bad_birth = birth_body + ric.calc_check_digit(birth_body + "0")
    problem = problem_of(
        _add(
            api_server,
            customer_id,
            {"type": "cn_ric", "issuing_country": "CN", "number": bad_birth},
        ),
        422,
        "identifier_invalid",
    )
    assert (problem["check"], problem["document_type"]) == ("birth_date", "cn_ric")
    problem_of(_add(api_server, customer_id, {"type": "xx_id", "issuing_country": "CN"}), 422)
    assert api_server.operator.get(f"/v1/customers/{customer_id}/documents").json()["data"] == []
    assert _events(api_server, customer_id) == ["customer.create"]


def test_who_may_add_and_list(api_server: Any, problem_of: Any) -> None:
    customer_id = _customer(api_server)
    other_id = _customer(api_server)
    body = specimen_documents(customer_id, "US", 2)[0]
    own = api_server.client(api_server.key("customer", customer_id))
    problem_of(own.post(f"/v1/customers/{customer_id}/documents", json=body), 403, "forbidden")
    problem_of(own.get(f"/v1/customers/{other_id}/documents"), 404, "customer_not_found")
    analyst = api_server.client(api_server.key("analyst"))
    problem_of(analyst.get(f"/v1/customers/{customer_id}/documents"), 403, "forbidden")
    nobody = uuid.uuid4().hex
    problem_of(_add(api_server, nobody, body), 404, "customer_not_found")
    assert api_server.operator.get(f"/v1/customers/{customer_id}/documents").json()["data"] == []


def test_a_replay_with_the_same_key_returns_the_first_document(api_server: Any) -> None:
    customer_id = _customer(api_server)
    body = specimen_documents(customer_id, "SG", 2)[0]
    first = _add(api_server, customer_id, body, **{"Idempotency-Key": f"doc-{customer_id}"})
    replay = _add(api_server, customer_id, body, **{"Idempotency-Key": f"doc-{customer_id}"})
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert (
        len(api_server.operator.get(f"/v1/customers/{customer_id}/documents").json()["data"]) == 1
    )


def test_raising_a_tier_needs_its_documents(api_server: Any, problem_of: Any) -> None:
    operator = api_server.operator
    refused = problem_of(
        operator.post("/v1/customers", json={"name": "Too Fast", "tier": 2}),
        409,
        "tier_documents_missing",
    )
    assert refused["missing"] == ["government_identity"]
    customer_id = _customer(api_server)
    path = f"/v1/customers/{customer_id}"
    problem = problem_of(operator.patch(path, json={"tier": 2}), 409, "tier_documents_missing")
    assert (
        problem["missing"] == ["government_identity"] and "government_identity" in problem["detail"]
    )
    problem = problem_of(operator.patch(path, json={"tier": 3}), 409, "tier_documents_missing")
    assert problem["missing"] == ["government_identity", "second_document"]
    expired = {
        "type": "cn_ric",
        "issuing_country": "CN",
        "number": _ric("expired"),
        "expiry_date": "2001-01-01",
    }
    assert _add(api_server, customer_id, expired).status_code == 201
    problem_of(operator.patch(path, json={"tier": 2}), 409, "tier_documents_missing")  # expired
    bank = {"type": "iban", "issuing_country": "GB", "number": f"GB{_gb_iban(customer_id)}"}
    assert _add(api_server, customer_id, bank).status_code == 201, "an IBAN is no identity"
    problem_of(operator.patch(path, json={"tier": 2}), 409, "tier_documents_missing")
    (passport,) = specimen_documents(customer_id, "US", 2)
    assert _add(api_server, customer_id, passport).status_code == 201
    raised = operator.patch(path, json={"tier": 2})
    assert raised.status_code == 200 and raised.json()["tier"] == 2
    raised = operator.patch(path, json={"tier": 3})  # passport + IBAN: two independent sources
    assert raised.status_code == 200 and raised.json()["tier"] == 3
    lowered = operator.patch(path, json={"tier": 0})  # lowering needs nothing
    assert lowered.status_code == 200 and lowered.json()["tier"] == 0
    actions = _events(api_server, customer_id)
    assert actions.count("customer.document_add") == 3 and actions.count("customer.update") == 3


def test_a_business_may_show_its_registration(api_server: Any) -> None:
    customer_id = _customer(api_server, kind="merchant")
    body = {"type": "sg_uen", "issuing_country": "SG", "number": "00192200M"}
    assert _add(api_server, customer_id, body).status_code == 201
    raised = api_server.operator.patch(f"/v1/customers/{customer_id}", json={"tier": 2})
    assert raised.status_code == 200, raised.text


def _gb_iban(seed: str) -> str:
    """The check digits and BBAN of a valid British IBAN (NWBK 601613, an account per seed)."""
    account = f"{uuid.uuid5(uuid.NAMESPACE_OID, seed).int % 10**8:08d}"
    bban = f"NWBK601613{account}"
    digits = "".join(str(int(c, 36)) for c in bban + "GB00")
    return f"{98 - int(digits) % 97:02d}{bban}"
