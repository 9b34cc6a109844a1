"""The verifiable log through HTTP: a payment's inclusion proof verifies against the signed
checkpoint returned with it, the checkpoint's signatures verify with the node's public keys, and
consistency proofs between checkpoints verify; tampered proofs do not."""

from __future__ import annotations

import time
from typing import Any

import pytest

from clearline.chain.keys import ED25519, KEY_DIRECTORY, KEY_FILES, MLDSA65, signer_from_seed
from clearline.chain.merkle import ProofError, verify_consistency, verify_inclusion
from clearline.chain.notes import NoteError, open_note, parse_checkpoint

POLL_S = 30.0


def node_verifiers(api: Any, origin: str) -> list[Any]:
    """The node's public keys, derived from its key files (read only)."""
    verifiers = []
    for algorithm in (ED25519, MLDSA65):
        path = api.data_dir / KEY_DIRECTORY / KEY_FILES[algorithm]
        if path.exists():
            verifiers.append(signer_from_seed(origin, algorithm, path.read_bytes()).verifier)
    return verifiers


def verify_proof_document(api: Any, document: dict[str, Any]) -> dict[str, Any]:
    """Check every inclusion proof and the checkpoint signature; return the steps by name."""
    checkpoint = document["checkpoint"]
    root = bytes.fromhex(checkpoint["root_hash"])
    verifiers = node_verifiers(api, checkpoint["origin"])
    assert verifiers
    opened = open_note(checkpoint["note"], verifiers)
    assert len(opened.signatures) == len(verifiers)
    parsed = parse_checkpoint(opened.text)
    assert parsed.root == root and parsed.size == checkpoint["size"]
    assert parsed.origin == checkpoint["origin"]
    steps = {}
    for proof in document["proofs"]:
        assert proof["tree_size"] == checkpoint["size"]
        verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            bytes.fromhex(proof["leaf_hash"]),
            [bytes.fromhex(node) for node in proof["proof"]],
            root,
        )
        steps[proof["step"]] = proof
    return steps


def proof_with(api: Any, payment_id: str, steps: set[str]) -> dict[str, Any]:
    """The payment's proof document once it covers `steps` (the log seals in the background)."""
    deadline = time.monotonic() + POLL_S
    while True:
        response = api.admin.get(f"/v1/payments/{payment_id}/proof")
        assert response.status_code in (200, 409), response.text
        if response.status_code == 200:
            document: dict[str, Any] = response.json()
            if steps <= {proof["step"] for proof in document["proofs"]}:
                return document
        assert time.monotonic() < deadline, response.text
        time.sleep(0.1)


def test_payment_inclusion_proof_verifies(api_server: Any) -> None:
    payer, payee = api_server.party("Ari"), api_server.party("Bex")
    payment = api_server.pay(payer, payee, "9.99").json()
    document = proof_with(api_server, payment["id"], {"payment"})
    assert document["payment_id"] == payment["id"]
    steps = verify_proof_document(api_server, document)
    assert steps["payment"]["transfer_id"] == payment["id"]
    auditor = api_server.client(api_server.key("auditor"))
    assert auditor.get(f"/v1/payments/{payment['id']}/proof").status_code == 200
    own = api_server.client(payer.key).get(f"/v1/payments/{payment['id']}/proof")
    assert own.status_code == 200


def test_proof_is_available_as_soon_as_the_payment_commits(api_server: Any) -> None:
    payer, payee = api_server.party("Cio"), api_server.party("Dax")
    payment = api_server.pay(payer, payee, "1.00").json()
    response = api_server.admin.get(f"/v1/payments/{payment['id']}/proof")
    assert response.status_code == 200, response.text
    steps = verify_proof_document(api_server, response.json())
    assert "payment" in steps, response.json()


def test_captured_and_refunded_steps_are_proven(api_server: Any) -> None:
    payer, shop = api_server.party("Ema"), api_server.party("Fil", kind="merchant")
    payment = api_server.pay(payer, shop, "44.00", capture="manual").json()
    api_server.operator.post(f"/v1/payments/{payment['id']}/capture")
    refund = api_server.operator.post(
        f"/v1/payments/{payment['id']}/refunds", json={"amount": "4.00"}
    ).json()
    document = proof_with(api_server, payment["id"], {"payment", "capture", "refund"})
    steps = verify_proof_document(api_server, document)
    assert steps["refund"]["transfer_id"] == refund["id"]
    leaves = {proof["leaf_hash"] for proof in document["proofs"]}
    assert len(leaves) == len(document["proofs"])


def test_tampered_inclusion_proof_fails(api_server: Any) -> None:
    payer, payee = api_server.party("Gwen"), api_server.party("Hux")
    for amount in ("1.00", "2.00", "3.00"):
        api_server.pay(payer, payee, amount)
    payment = api_server.pay(payer, payee, "4.00").json()
    document = proof_with(api_server, payment["id"], {"payment"})
    proof = next(p for p in document["proofs"] if p["step"] == "payment")
    root = bytes.fromhex(document["checkpoint"]["root_hash"])
    leaf = bytearray(bytes.fromhex(proof["leaf_hash"]))
    leaf[0] ^= 1
    nodes = [bytes.fromhex(node) for node in proof["proof"]]
    assert nodes, "a tree of several leaves has a non-empty path"
    with pytest.raises(ProofError):
        verify_inclusion(proof["leaf_index"], proof["tree_size"], bytes(leaf), nodes, root)
    with pytest.raises(ProofError):
        verify_inclusion(
            proof["leaf_index"],
            proof["tree_size"],
            bytes.fromhex(proof["leaf_hash"]),
            nodes[:-1],
            root,
        )
    forged = document["checkpoint"]["note"].replace(
        f"\n{document['checkpoint']['size']}\n", f"\n{document['checkpoint']['size'] + 1}\n", 1
    )
    with pytest.raises(NoteError):
        open_note(forged, node_verifiers(api_server, document["checkpoint"]["origin"]))


def test_consistency_between_checkpoints(api_server: Any, problem_of: Any) -> None:
    payer, payee = api_server.party("Ivo"), api_server.party("Jem")
    api_server.pay(payer, payee, "1.00")
    auditor = api_server.client(api_server.key("auditor"))
    early = auditor.get("/v1/checkpoints/latest").json()
    for amount in ("2.00", "3.00"):
        api_server.pay(payer, payee, amount)
    deadline = time.monotonic() + POLL_S
    while (late := auditor.get("/v1/checkpoints/latest").json())["size"] <= early["size"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    response = auditor.get(
        "/v1/proofs/consistency", params={"from": early["size"], "to": late["size"]}
    )
    assert response.status_code == 200, response.text
    proof = [bytes.fromhex(node) for node in response.json()["proof"]]
    old_root, new_root = bytes.fromhex(early["root_hash"]), bytes.fromhex(late["root_hash"])
    verify_consistency(early["size"], late["size"], old_root, new_root, proof)
    with pytest.raises(ProofError):
        verify_consistency(early["size"], late["size"], new_root, new_root, proof)
    listed = auditor.get("/v1/checkpoints", params={"limit": 500}).json()["data"]
    sizes = [point["size"] for point in listed]
    assert sizes == sorted(sizes) and early["size"] in sizes
    for point in listed[:3]:
        open_note(point["note"], node_verifiers(api_server, point["origin"]))
    first = listed[0]
    assert first["previous_hash"] == "00" * 32
    proof = auditor.get(
        "/v1/proofs/consistency", params={"from": first["size"], "to": late["size"]}
    )
    verify_consistency(
        first["size"],
        late["size"],
        bytes.fromhex(first["root_hash"]),
        new_root,
        [bytes.fromhex(node) for node in proof.json()["proof"]],
    )
    problem_of(
        auditor.get("/v1/proofs/consistency", params={"from": late["size"], "to": early["size"]}),
        422,
        "invalid_range",
    )
    problem_of(
        auditor.get("/v1/proofs/consistency", params={"from": 1, "to": late["size"] + 10**6}),
        404,
        "no_checkpoint",
    )


def test_declined_payment_has_nothing_to_prove(api_server: Any, problem_of: Any) -> None:
    payer, payee = api_server.party("Kip"), api_server.party("Lux")
    payment = api_server.pay(payer, payee, "5000.00").json()
    assert payment["status"] == "declined"
    problem_of(api_server.admin.get(f"/v1/payments/{payment['id']}/proof"), 409, "nothing_to_prove")
