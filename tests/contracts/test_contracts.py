"""Contracts on a real platform (ledger, platform database, audit trail): hashed timelocks with one
or two linked legs, escrow with m-of-n approvals, milestones and a deadline, who may act, and
steps that are idempotent and survive an interruption."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from contract_wallets import Wallets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.access import Principal
from clearline.contracts import templates as tp
from clearline.contracts.records import Party
from clearline.contracts.service import ContractService
from clearline.core.clock import ManualClock
from clearline.platform import Platform
from clearline.trail import Actor

OPERATOR = Principal("op-key", "operator", None)
OPERATOR_ACTOR = Actor("op-key", "operator")
ALICE_ID, BOB_ID, CAROL_ID = 11, 22, 33
ALICE = Principal("alice-key", "customer", ALICE_ID)
BOB = Principal("bob-key", "customer", BOB_ID)
CAROL = Principal("carol-key", "customer", CAROL_ID)
PREIMAGE = b"the secret the payee learns when paid"
CONDITION = hashlib.sha256(PREIMAGE).hexdigest()


def as_actor(principal: Principal) -> Actor:
    return Actor(principal.key_id, principal.role)


def parties() -> list[Party]:
    return [
        Party("payer", customer_id=ALICE_ID),
        Party("payee", customer_id=BOB_ID),
        Party("arbiter", customer_id=CAROL_ID),
        Party("auditor", key_id="op-key"),
    ]


def htlc(service: ContractService, legs: list[dict[str, int]], timeout_s: int = 60) -> int:
    contract = service.create(
        "htlc",
        parties(),
        {"legs": legs, "condition": CONDITION, "timeout_s": timeout_s},
        OPERATOR_ACTOR,
    )
    return contract.id


def test_an_htlc_locks_then_the_preimage_posts_it(platform: Platform, wallets: Wallets) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    cid = htlc(service, [{"payer_account_id": payer, "payee_account_id": payee, "amount": 700}])
    assert service.get(cid).state == "locked"
    assert wallets.pending_out(payer) == 700
    counts = platform.ledger.counts()
    with pytest.raises(tp.WrongPreimage):
        service.fulfil(cid, b"guess".hex(), BOB, as_actor(BOB))
    assert service.get(cid).state == "locked" and platform.ledger.counts() == counts
    with pytest.raises(tp.NotAParty):  # only the payee fulfils
        service.fulfil(cid, PREIMAGE.hex(), ALICE, as_actor(ALICE))
    done = service.fulfil(cid, PREIMAGE.hex(), BOB, as_actor(BOB))
    assert done.state == "fulfilled" and done.data["preimage"] == PREIMAGE.hex()
    assert (wallets.balance(payer), wallets.balance(payee)) == (300, 700)
    counts = platform.ledger.counts()
    with pytest.raises(tp.NotAllowed):
        service.fulfil(cid, PREIMAGE.hex(), BOB, as_actor(BOB))
    assert platform.ledger.counts() == counts
    actions = [s.action for s in service.steps(cid)]
    assert actions == ["contract.create", "contract.fulfil"]
    events = platform.trail.page(0, 100)
    assert [e.action for e in events if e.resource_id == f"{cid:032x}"] == actions


def test_an_htlc_past_its_expiry_is_voided_and_cannot_be_fulfilled(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    cid = htlc(service, [{"payer_account_id": payer, "payee_account_id": payee, "amount": 700}], 30)
    clock.advance(seconds=31)
    assert service.sweep() == 1
    assert service.get(cid).state == "expired"
    with pytest.raises(tp.NotAllowed):
        service.fulfil(cid, PREIMAGE.hex(), BOB, as_actor(BOB))
    assert (wallets.balance(payer), wallets.pending_out(payer), wallets.balance(payee)) == (
        1_000,
        0,
        0,
    )


def test_a_cancel_after_the_expiry_records_the_htlc_expired(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    """Found by the property below: the ledger voids the hold at its expiry, so a later cancel
    (or fulfil) is refused by the ledger; the contract is expired, not left locked."""
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    cid = htlc(service, [{"payer_account_id": payer, "payee_account_id": payee, "amount": 700}], 30)
    clock.advance(seconds=31)
    assert service.cancel(cid, BOB, as_actor(BOB)).state == "expired"
    assert (wallets.balance(payer), wallets.pending_out(payer)) == (1_000, 0)


def test_linked_legs_in_two_assets_settle_together(platform: Platform, wallets: Wallets) -> None:
    usd_payer, usd_payee = wallets.make("USD", 10_000), wallets.make("USD")
    cny_payer, cny_payee = wallets.make("CNY", 70_000), wallets.make("CNY")
    legs = [
        {"payer_account_id": usd_payer, "payee_account_id": usd_payee, "amount": 10_000},
        {"payer_account_id": cny_payer, "payee_account_id": cny_payee, "amount": 71_000},
    ]
    failed = platform.contracts.get(htlc(platform.contracts, legs))
    assert failed.state == "failed"  # the CNY side cannot be held: neither is
    assert wallets.pending_out(usd_payer) == 0
    legs[1]["amount"] = 70_000
    cid = htlc(platform.contracts, legs)
    assert (wallets.pending_out(usd_payer), wallets.pending_out(cny_payer)) == (10_000, 70_000)
    platform.contracts.fulfil(cid, PREIMAGE.hex(), BOB, as_actor(BOB))
    assert [wallets.balance(a) for a in (usd_payer, usd_payee, cny_payer, cny_payee)] == [
        0,
        10_000,
        0,
        70_000,
    ]


def escrow(service: ContractService, payer: int, payee: int, **terms: object) -> int:
    base: dict[str, object] = {
        "payer_account_id": payer,
        "payee_account_id": payee,
        "amount": 900,
        "deadline_s": 3_600,
    }
    return service.create("escrow", parties(), {**base, **terms}, OPERATOR_ACTOR, asset="USD").id


def test_an_escrow_releases_on_m_of_n_approvals(platform: Platform, wallets: Wallets) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    cid = escrow(service, payer, payee, approvers=["payer", "arbiter", "auditor"], threshold=2)
    assert service.get(cid).state == "funded" and wallets.balance(payer) == 100
    with pytest.raises(tp.NotAParty):  # bob is no approver
        service.approve(cid, BOB, as_actor(BOB))
    service.approve(cid, ALICE, as_actor(ALICE))
    service.approve(cid, ALICE, as_actor(ALICE))  # twice as herself: still one approval
    assert service.get(cid).data["approvals"] == ["payer"]
    assert wallets.balance(payee) == 0
    released = service.approve(cid, OPERATOR, OPERATOR_ACTOR)  # the operator key is a party
    assert released.state == "released" and wallets.balance(payee) == 900


def test_an_escrow_releases_milestones_and_refunds_the_rest_at_its_deadline(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    milestones = [
        {"name": "design", "amount": 300, "attester": "arbiter"},
        {"name": "build", "amount": 500, "attester": "arbiter"},
    ]
    cid = escrow(service, payer, payee, milestones=milestones, deadline_s=600)
    with pytest.raises(tp.NotAParty):
        service.attest(cid, "design", BOB, as_actor(BOB))
    service.attest(cid, "design", CAROL, as_actor(CAROL))
    assert service.get(cid).state == "funded" and wallets.balance(payee) == 300
    clock.advance(seconds=601)
    assert service.sweep() == 1
    assert service.get(cid).state == "expired"
    assert (wallets.balance(payer), wallets.balance(payee)) == (700, 300)


def test_an_operator_cancels_an_escrow_and_a_customer_sees_only_its_own(
    platform: Platform, wallets: Wallets
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    service = platform.contracts
    cid = escrow(service, payer, payee, approvers=["arbiter"])
    stranger = Principal("eve-key", "customer", 99)
    with pytest.raises(Exception, match="no contract"):
        service.get(cid, stranger)
    with pytest.raises(tp.NotAParty):
        service.cancel(cid, ALICE, as_actor(ALICE))  # the payer cannot take it back alone
    assert service.cancel(cid, OPERATOR, OPERATOR_ACTOR).state == "refunded"
    assert wallets.balance(payer) == 1_000


def test_a_step_interrupted_after_the_ledger_is_finished_once_at_start(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "data"
    platform = Platform.open(directory, clock=clock)
    wallets = Wallets(platform)
    payer, payee = wallets.make(funds=1_000), wallets.make()
    cid = escrow(platform.contracts, payer, payee, approvers=["arbiter"])

    def killed(*_: object, **__: object) -> None:
        raise SystemExit("killed between the ledger and the record")

    monkeypatch.setattr(platform.contracts.records, "complete", killed)
    with pytest.raises(SystemExit):
        platform.contracts.approve(cid, CAROL, as_actor(CAROL))
    monkeypatch.undo()
    transfers = platform.ledger.counts()["transfers"]
    platform.close()
    reopened = Platform.open(directory, clock=clock)
    try:
        contract = reopened.contracts.get(cid)
        assert contract.state == "released"  # recovered at open, with the same ledger ids
        assert reopened.ledger.counts()["transfers"] == transfers
        assert Wallets(reopened).balance(payee) == 900
        assert [s.status for s in reopened.contracts.steps(cid)] == ["done", "done"]
        again = reopened.contracts.approve
        with pytest.raises(tp.NotAllowed):
            again(cid, CAROL, as_actor(CAROL))
    finally:
        reopened.close()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.one_of(
            st.just(("fulfil", 0)),
            st.just(("sweep", 0)),
            st.tuples(st.just("wait"), st.integers(1, 40)),
            st.just(("cancel", 0)),
        ),
        max_size=8,
    )
)
def test_an_htlc_is_fulfilled_or_expired_never_both(
    tmp_path_factory: pytest.TempPathFactory, moves: list[tuple[str, int]]
) -> None:
    clock = ManualClock()
    platform = Platform.open(tmp_path_factory.mktemp("htlc"), clock=clock)
    try:
        wallets = Wallets(platform)
        payer, payee = wallets.make(funds=500), wallets.make()
        service = platform.contracts
        leg = {"payer_account_id": payer, "payee_account_id": payee, "amount": 500}
        cid = htlc(service, [leg], timeout_s=60)
        for move, seconds in moves:
            try:
                if move == "fulfil":
                    service.fulfil(cid, PREIMAGE.hex(), BOB, as_actor(BOB))
                elif move == "cancel":
                    service.cancel(cid, BOB, as_actor(BOB))
                elif move == "sweep":
                    service.sweep()
                else:
                    clock.advance(seconds=seconds)
            except (tp.NotAllowed, tp.NotAParty):
                pass
        clock.advance(seconds=61)
        service.sweep()
        state = service.get(cid).state
        assert state in ("fulfilled", "expired", "cancelled")
        paid = wallets.balance(payee)
        assert (paid, wallets.balance(payer)) == ((500, 0) if state == "fulfilled" else (0, 500))
        assert wallets.pending_out(payer) == 0
        [status] = platform.ledger.pending_statuses([tp.lock_id(cid, 0)])
        assert status == {"fulfilled": "posted", "expired": "expired", "cancelled": "voided"}[state]
    finally:
        platform.close()
