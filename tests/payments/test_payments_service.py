"""The payment service in process: limits, decisions, holds and their expiry, restarts.

HTTP, roles and idempotency are tested end to end in tests/api; here the service's own rules are
pinned down with a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from clearline.core.clock import ManualClock
from clearline.core.errors import Conflict, InvalidInput, NotFound
from clearline.core.ids import derive_id, format_id, new_ids, parse_id
from clearline.customers import Customer, Directory, NewCustomer
from clearline.kyc import LimitExceeded, Limits, RateUnknown, ReferenceRates
from clearline.kyc.specimens import specimen_documents
from clearline.ledger import Transfer
from clearline.ledger.types import trusted_transfer
from clearline.payments import PaymentRequest
from clearline.platform import Platform, Settings
from clearline.trail import Actor

OPERATOR = Actor("k-operator", "operator")

RULES = """
version: 7
rules:
  - name: big_review
    typology: test
    when: amount_usd >= 900 and amount_usd < 1000
    action: review
    weight: 1
  - name: huge_decline
    typology: test
    when: amount_usd >= 1000
    action: decline
    weight: 1
lists:
  allow_accounts: []
  block_accounts: []
  block_devices: []
"""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    (directory / "rules.yaml").write_text(RULES)
    return directory


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


async def verified(directory: Directory, new: NewCustomer, tier: int) -> Customer:
    """A customer onboarded at tier 1 at most, then raised to `tier` with the documents the tier
    needs (synthetic MRZ documents: `clearline.kyc.specimens`)."""
    customer = await directory.create_customer(replace(new, tier=min(tier, 1)), actor=OPERATOR)
    for document in specimen_documents(new.name, new.country, tier):
        await directory.documents.add(
            customer.id,
            document["type"],
            document["issuing_country"],
            actor=OPERATOR,
            today=directory.documents.today(),
            mrz_lines=document["mrz_lines"],
        )
    if tier > 1:
        customer = await directory.update_customer(customer.id, actor=OPERATOR, tier=tier)
    return customer


class World:
    """A platform with two customers' wallets, funded."""

    def __init__(self, data_dir: Path, clock: ManualClock, tier: int = 3) -> None:
        self.platform = open_platform(data_dir, clock)
        self.service = self.platform.payments
        self.directory = self.platform.directory
        self.clock = clock
        self.alice, self.a, self.bob, self.b = run(self._setup(tier))

    async def _setup(self, tier: int) -> tuple[int, int, int, int]:
        directory = self.directory
        alice = await verified(directory, NewCustomer("Alice", country="KE"), tier)
        bob = await verified(directory, NewCustomer("Bob", kind="merchant", country="KE"), 3)
        a = await directory.create_account(alice.id, "USD", actor=OPERATOR)
        b = await directory.create_account(bob.id, "USD", actor=OPERATOR)
        omnibus = directory.omnibus["USD"]
        results = await self.service.create_transfers(
            [Transfer(id=1, debit_account_id=omnibus, credit_account_id=a.id, amount=500_000_00)],
            actor=OPERATOR,
        )
        assert results[0].ok
        return alice.id, a.id, bob.id, b.id

    def pay(self, cents: int, **options: object) -> object:
        request = PaymentRequest(self.a, self.b, cents, "USD", **options)  # type: ignore[arg-type]
        return run(self.service.create_payment(request, actor=OPERATOR))

    def balance(self, account: int) -> tuple[int, int]:
        found = self.service.ledger.lookup_accounts([account])[0]
        return found.credits_posted - found.debits_posted, found.debits_pending

    def close(self) -> None:
        self.platform.close()


def open_platform(data_dir: Path, clock: ManualClock) -> Platform:
    return Platform.open(data_dir, clock=clock, settings=Settings(review_timeout_s=60))


@pytest.fixture
def world(data_dir: Path, clock: ManualClock) -> Iterator[World]:
    made = World(data_dir, clock)
    yield made
    made.close()


def test_each_decision_moves_what_it_should(world: World) -> None:
    approved = world.pay(100_00)
    assert approved.status == "completed" and approved.action == "approve"
    assert world.balance(world.a) == (500_000_00 - 100_00, 0)
    reviewed = world.pay(950_00)
    assert reviewed.status == "in_review" and "rule big_review (test)" in reviewed.reasons
    assert world.balance(world.a) == (500_000_00 - 100_00, 950_00)  # held, not posted
    declined = world.pay(1500_00)
    assert declined.status == "declined" and declined.reasons
    assert world.balance(world.a) == (500_000_00 - 100_00, 950_00)  # nothing moved


def test_the_risk_gate_sees_what_the_payer_can_spend(world: World) -> None:
    """`payer_available` is the source wallet's posted balance less its holds, before the
    payment: the funds the ledger would let it spend."""
    seen = []
    decide = world.service.gate.decide

    def recording(event):  # type: ignore[no-untyped-def]
        seen.append(event.payer_available)
        return decide(event)

    world.service.gate.decide = recording  # type: ignore[method-assign]
    world.pay(100_00)
    world.pay(950_00)  # held for review
    world.pay(200_00)
    assert seen == [500_000_00, 500_000_00 - 100_00, 500_000_00 - 100_00 - 950_00]


def test_review_approve_and_reject_settle_the_hold(world: World) -> None:
    first, second = world.pay(950_00), world.pay(920_00)
    approved = run(world.service.holds.approve_review(first.id, actor=OPERATOR))
    assert approved.status == "completed" and approved.captured == 950_00
    rejected = run(world.service.holds.reject_review(second.id, actor=OPERATOR))
    assert rejected.status == "rejected"
    assert world.balance(world.a) == (500_000_00 - 950_00, 0)
    with pytest.raises(Conflict):
        run(
            world.service.holds.approve_review(second.id, actor=OPERATOR)
        )  # a rejected payment stays rejected


def test_a_review_hold_expires_by_the_ledger_clock(world: World) -> None:
    held = world.pay(950_00)
    world.clock.advance(seconds=61)
    assert run(world.service.expiry.sync()) == 1
    assert run(world.service.payment(held.id)).status == "expired"
    assert world.balance(world.a) == (500_000_00, 0)
    assert world.service.ledger.pending_statuses([held.id, 12345]) == ["expired", None]


def test_capture_void_and_refund(world: World) -> None:
    card = world.pay(300_00, capture="manual")
    assert card.status == "authorized"
    captured = run(world.service.holds.capture(card.id, 200_00, actor=OPERATOR))
    assert (captured.status, captured.captured) == ("captured", 200_00)
    assert world.balance(world.a) == (500_000_00 - 200_00, 0)  # the rest was released
    with pytest.raises(InvalidInput):
        run(world.service.holds.refund(card.id, 200_01, derive_id(card.id, "r1"), actor=OPERATOR))
    run(world.service.holds.refund(card.id, 50_00, derive_id(card.id, "r1"), actor=OPERATOR))
    payment, _, amount = run(
        world.service.holds.refund(card.id, None, derive_id(card.id, "r2"), actor=OPERATOR)
    )
    assert (payment.status, payment.refunded, amount) == ("refunded", 200_00, 150_00)
    assert world.balance(world.a) == (500_000_00, 0)
    other = world.pay(10_00, capture="manual")
    assert run(world.service.holds.void(other.id, actor=OPERATOR)).status == "voided"
    with pytest.raises(Conflict):
        run(world.service.holds.capture(other.id, actor=OPERATOR))


def test_tier_limits_per_payment_and_per_day(data_dir: Path, clock: ManualClock) -> None:
    world = World(data_dir, clock, tier=1)  # USD 500 per payment, USD 1,000 per day
    try:
        with pytest.raises(LimitExceeded) as error:
            world.pay(500_01)
        assert error.value.code == "per_payment_limit_exceeded"
        world.pay(400_00)
        world.pay(400_00)
        with pytest.raises(LimitExceeded) as error:
            world.pay(200_01)
        assert error.value.code == "daily_limit_exceeded"
        clock.advance(seconds=86_400)
        assert world.pay(400_00).status == "completed"  # a new day
    finally:
        world.close()


def test_a_declined_payment_does_not_use_up_the_daily_limit(
    data_dir: Path, clock: ManualClock
) -> None:
    world = World(data_dir, clock, tier=2)  # USD 5,000 per payment, USD 20,000 per day
    try:
        run(
            world.directory.update_customer(
                world.alice, limits=Limits(None, Decimal(2000)), actor=OPERATOR
            )
        )
        for _ in range(3):
            assert world.pay(1500_00).status == "declined"  # the rules decline >= USD 1,000
        assert world.pay(999_00).status == "in_review"
        assert world.pay(999_00).status == "in_review"
        with pytest.raises(LimitExceeded):
            world.pay(3_00)
    finally:
        world.close()


def test_concurrent_payments_cannot_both_slip_under_the_daily_limit(
    data_dir: Path, clock: ManualClock
) -> None:
    world = World(data_dir, clock, tier=1)
    try:

        async def both() -> list[object]:
            request = PaymentRequest(world.a, world.b, 400_00, "USD")
            return await asyncio.gather(
                *(world.service.create_payment(request, actor=OPERATOR) for _ in range(3)),
                return_exceptions=True,
            )

        outcomes = run(both())
        assert sum(isinstance(o, LimitExceeded) for o in outcomes) == 1
        assert world.balance(world.a)[0] == 500_000_00 - 800_00
    finally:
        world.close()


def test_tier_zero_may_receive_but_not_pay(data_dir: Path, clock: ManualClock) -> None:
    world = World(data_dir, clock, tier=0)
    try:
        with pytest.raises(LimitExceeded) as error:
            world.pay(1_00)
        assert error.value.code == "tier_may_not_pay"
    finally:
        world.close()


def test_bad_requests_are_refused_before_anything_moves(world: World) -> None:
    before = world.balance(world.a)
    for bad, code in (
        (PaymentRequest(world.a, world.b, 0, "USD"), "amount_not_positive"),
        (PaymentRequest(world.a, world.a, 1, "USD"), "same_account"),
        (PaymentRequest(world.a, world.b, 1, "EUR"), "asset_mismatch"),
        (PaymentRequest(world.a, world.b, 1, "USD", channel="fax"), "invalid_channel"),
        (PaymentRequest(world.b + 1, world.b, 1, "USD"), "account_not_found"),
    ):
        with pytest.raises((InvalidInput, NotFound)) as error:
            run(world.service.create_payment(bad, actor=OPERATOR))
        assert error.value.code == code
    # a customer key may only pay from its own customer's wallets
    with pytest.raises(NotFound):
        run(
            world.service.create_payment(
                PaymentRequest(world.a, world.b, 1, "USD"),
                actor=OPERATOR,
                customer_scope=world.bob,
            )
        )
    assert world.balance(world.a) == before


def test_insufficient_funds_is_a_failed_payment(world: World) -> None:
    failed = run(
        world.service.create_payment(PaymentRequest(world.b, world.a, 1_00, "USD"), actor=OPERATOR)
    )
    assert (failed.status, failed.refusal) == ("failed", "exceeds_credits")


def test_a_restart_remembers_customers_accounts_payments_and_spend(
    data_dir: Path, clock: ManualClock
) -> None:
    world = World(data_dir, clock, tier=1)
    run(
        world.directory.update_customer(
            world.alice, limits=Limits(Decimal(1000), Decimal(1000)), actor=OPERATOR
        )
    )
    paid = world.pay(900_00)  # in review: counts against today's limit
    world.close()
    platform = open_platform(data_dir, clock)
    try:
        service = platform.payments
        assert platform.directory.customer(world.alice).name == "Alice"
        assert platform.directory.customer(world.alice).per_day_limit_usd == "1000"
        assert platform.directory.account(world.a).asset == "USD"
        assert run(service.payment(paid.id)).status == "in_review"
        with pytest.raises(LimitExceeded):  # 900 + 200 > 1,000 today
            run(
                service.create_payment(
                    PaymentRequest(world.a, world.b, 200_00, "USD"), actor=OPERATOR
                )
            )
    finally:
        platform.close()


def test_same_payment_id_is_the_same_payment(world: World) -> None:
    request = PaymentRequest(world.a, world.b, 10_00, "USD")
    first = run(world.service.create_payment(request, actor=OPERATOR, payment_id=777))
    again = run(world.service.create_payment(request, actor=OPERATOR, payment_id=777))
    assert again.id == first.id == 777
    assert world.balance(world.a)[0] == 500_000_00 - 10_00  # moved once


def test_ids_and_limits_helpers() -> None:
    assert parse_id(format_id(5), "x") == 5
    for bad in ("", "zz" * 16, "0" * 32, "f" * 32, "1" * 31):
        with pytest.raises(InvalidInput):
            parse_id(bad, "x")
    assert derive_id(5, "capture") != derive_id(5, "void") != derive_id(6, "capture")
    ids = new_ids(1000)
    assert len(set(ids)) == 1000 and all(0 < i < 1 << 128 for i in ids)
    assert trusted_transfer(9, 1, 2, 3, 4) == Transfer(
        id=9, debit_account_id=1, credit_account_id=2, amount=3, code=4
    )
    rates = ReferenceRates()
    assert rates.to_usd(150_00, "USD") == Decimal("150")
    assert rates.to_usd(1, "JPY") > 0  # rounded up, never to zero
    with pytest.raises(RateUnknown):
        rates.to_usd(1, "XAU")


def test_a_record_lost_between_the_two_commits_is_rebuilt_from_the_ledger(
    data_dir: Path, clock: ManualClock
) -> None:
    world = World(data_dir, clock)
    service = world.service
    kept = world.pay(10_00)

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process died after the ledger commit")

    service.records.insert = crash  # type: ignore[method-assign]
    for cents, options in ((20_00, {"channel": "qr"}), (950_00, {"capture": "manual"})):
        with pytest.raises(RuntimeError):
            world.pay(cents, payment_type="merchant_payment", **options)
    lost = [t for t in service.ledger.latest_transfers(3) if t.id != kept.id]
    world.close()

    platform = open_platform(data_dir, clock)
    try:
        reopened = platform.payments
        assert reopened.recovered == 2
        by_amount = {p.amount: p for p in (run(reopened.payment(t.id)) for t in lost)}
        paid, held = by_amount[20_00], by_amount[950_00]
        assert (paid.status, paid.action, paid.channel, paid.payment_type) == (
            "completed",
            "approve",
            "qr",
            "merchant_payment",
        )
        assert (held.status, held.action, held.capture) == ("in_review", "review", "manual")
        assert held.expires_ns is not None and "recovered" in held.reasons[0]
        assert run(reopened.holds.approve_review(held.id, actor=OPERATOR)).status == "authorized"
    finally:
        platform.close()
    again = open_platform(data_dir, clock)
    try:
        assert again.payments.recovered == 0  # nothing is rebuilt twice
    finally:
        again.close()


def test_latest_transfers_is_newest_first_and_bounded(world: World) -> None:
    paid = [world.pay(cents).id for cents in (1_00, 2_00, 3_00)]
    assert [t.id for t in world.service.ledger.latest_transfers(3)] == paid[::-1]
    with pytest.raises(InvalidInput):
        world.service.ledger.latest_transfers(0)
