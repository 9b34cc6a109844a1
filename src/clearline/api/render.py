"""What the API shows: records turned into the JSON shapes of `schemas`, and amounts in and out.

Guarantees:
- Amounts leave as decimal strings in major units of their asset and enter only through
  `minor_units`, which refuses more decimals than the asset has, zero and amounts the ledger
  cannot hold; never a float.
- A customer is shown with the limits that apply and where they come from (the customer's own,
  set by an operator, or the KYC tier's), never as "unlimited" when a tier limits it.
- Personal data is shown by role: admins, operators and the customer itself see it whole;
  analysts and auditors see the name and the last four characters of identity numbers and
  phone numbers, and no address (`MASKED_ROLES`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from clearline.access import KeyInfo, Principal
from clearline.api import schemas as s
from clearline.core.assets import asset as asset_of
from clearline.core.errors import InvalidInput
from clearline.core.ids import format_id
from clearline.core.money import format_units
from clearline.customers import AccountInfo, Customer, effective_limits
from clearline.kyc import Limits
from clearline.ledger import AMOUNT_MAX
from clearline.payments import proofs
from clearline.payments.model import Payment

MASKED_ROLES = ("analyst", "auditor")


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def amount(units: int, asset_spec: str) -> str:
    return format_units(units, asset_of(asset_spec).scale)


def minor_units(text: str, asset_spec: str, scale: int) -> int:
    """Minor units of an amount the schema already matched against `AMOUNT_PATTERN` (digits, an
    optional point and decimals), refusing more decimals than the asset allows, zero, and
    amounts the ledger cannot hold. Every amount in a request body comes through here (a batch
    parses 8,190 of them; `Money.parse` per amount would dominate its cost)."""
    whole, _, fraction = text.partition(".")
    if len(fraction) > scale:
        raise InvalidInput(
            f"amount {text!r} has {len(fraction)} decimals but {asset_spec} allows {scale}",
            code="too_many_decimals",
        )
    units: int = int(whole) * 10**scale + (int(fraction.ljust(scale, "0")) if scale else 0)
    if units <= 0:
        raise InvalidInput("amount must be more than zero", code="amount_not_positive")
    if units > AMOUNT_MAX:
        raise InvalidInput(
            f"amount {text!r} is above the largest amount the ledger holds", code="amount_too_large"
        )
    return units


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _masked(value: str | None) -> str | None:
    if value is None:
        return None
    return "•" * max(0, len(value) - 4) + value[-4:]


def customer_out(customer: Customer, viewer: Principal) -> s.CustomerOut:
    limits = effective_limits(customer)
    masked = viewer.role in MASKED_ROLES
    return s.CustomerOut(
        id=format_id(customer.id),
        name=customer.name,
        kind=customer.kind,
        tier=customer.tier,
        country=customer.country,
        identity_number=_masked(customer.identity_number) if masked else customer.identity_number,
        address=None if masked else customer.address,
        phone=_masked(customer.phone) if masked else customer.phone,
        limits=s.LimitsOut(
            per_payment_usd=_usd(limits.per_payment_usd),
            per_day_usd=_usd(limits.per_day_usd),
            source=limits.source,
            tier=s.LimitPair(
                per_payment_usd=_usd(limits.tier_per_payment_usd),
                per_day_usd=_usd(limits.tier_per_day_usd),
            ),
        ),
        created_at=iso(customer.created_ns) or "",
    )


def account_out(info: AccountInfo) -> s.AccountOut:
    return s.AccountOut(
        id=format_id(info.id),
        customer_id=None if info.customer_id is None else format_id(info.customer_id),
        asset=info.asset,
        kind=info.kind,
        created_at=iso(info.created_ns) or "",
    )


def decision_out(payment: Payment) -> s.DecisionOut:
    return s.DecisionOut(
        payment_id=format_id(payment.id),
        action=payment.action,
        score=payment.score,
        model_version=payment.model_version,
        rules_version=payment.rules_version,
        reasons=payment.reasons,
        decided_at=iso(payment.created_ns) or "",
    )


def payment_document(payment: Payment) -> dict[str, Any]:
    """A payment as the API shows it (the shape of `schemas.PaymentOut`), as plain data: the
    payment path renders it straight to JSON without building models."""
    asset_spec = payment.asset
    scale = asset_of(asset_spec).scale
    created = iso(payment.created_ns) or ""
    updated = created if payment.updated_ns == payment.created_ns else iso(payment.updated_ns)
    return {
        "id": f"{payment.id:032x}",
        "status": payment.status,
        "customer_id": f"{payment.customer_id:032x}",
        "source_account_id": f"{payment.source_account_id:032x}",
        "destination_account_id": f"{payment.destination_account_id:032x}",
        "amount": format_units(payment.amount, scale),
        "asset": asset_spec,
        "payment_type": payment.payment_type,
        "channel": payment.channel,
        "capture": payment.capture,
        "captured": format_units(payment.captured, scale),
        "refunded": format_units(payment.refunded, scale),
        "refusal": payment.refusal,
        "expires_at": iso(payment.expires_ns),
        "reference": payment.reference,
        "decision": {
            "payment_id": f"{payment.id:032x}",
            "action": payment.action,
            "score": payment.score,
            "model_version": payment.model_version,
            "rules_version": payment.rules_version,
            "reasons": payment.reasons,
            "decided_at": created,
        },
        "created_at": created,
        "updated_at": updated or "",
    }


def payment_out(payment: Payment) -> s.PaymentOut:
    return s.PaymentOut.model_validate(payment_document(payment))


def key_out(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "role": info.role,
        "customer_id": None if info.customer_id is None else format_id(info.customer_id),
        "label": info.label,
        "created_at": iso(info.created_ns),
        "revoked_at": iso(info.revoked_ns),
    }


def checkpoint_out(signed: proofs.SignedCheckpoint) -> s.CheckpointOut:
    point = signed.checkpoint
    return s.CheckpointOut(
        origin=point.origin,
        size=point.size,
        root_hash=point.root.hex(),
        previous_hash=point.previous_hash.hex(),
        time_ns=point.time_ns,
        note=signed.note,
    )


def limits_in(value: s.LimitsIn | None) -> Limits | None:
    if value is None:
        return None
    return Limits(
        None if value.per_payment_usd is None else Decimal(value.per_payment_usd),
        None if value.per_day_usd is None else Decimal(value.per_day_usd),
    )


def dumps(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()
