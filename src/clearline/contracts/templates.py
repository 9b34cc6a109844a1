"""The contract templates' terms and state machines: escrow, the hashed timelock (HTLC) and the
standing order (schedule).

Each template validates its terms at creation (`InvalidTerms` names the field) and, for every
action, says which ledger operations the step submits (`Operations`, ids derived from the
contract and the step) and what the contract becomes once the ledger has answered
(`Transition`). Nothing here talks to the ledger or the database: `service` does.

Escrow: the payer's funds move into an escrow ledger account of the contract (it can never go
below zero: `debits_must_not_exceed_credits`), then out to the payee on its conditions (`m` of
the named approvers approve: the rest is released; a milestone is attested by its named party:
its share is released) or back to the payer (cancelled, or the deadline passed).

HTLC: one or more legs (payer → payee, an amount of an asset each, in any ledger accounts) are
held as pending ledger transfers under one SHA-256 condition and one expiry, created as one
linked chain; the preimage posts every leg as one linked chain, so linked legs (the two sides of
a cross-border exchange) settle together or not at all; expiry (or the payee's cancellation)
voids them.

Schedule (a standing order): a payment (one ledger transfer between two accounts) or a Numscript
program, run at each occurrence of a schedule (`schedules`); each occurrence's ledger ids are
derived from the contract and the occurrence's time, so it runs once whatever happens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from clearline.access import Forbidden
from clearline.core.errors import Conflict, InvalidInput
from clearline.core.ids import derive_id
from clearline.ledger import AMOUNT_MAX, AccountFlags, TransferFlags

ESCROW_ACCOUNT_CODE: Final = 701
ESCROW_TRANSFER_CODE: Final = 72
HTLC_TRANSFER_CODE: Final = 71
SCHEDULE_TRANSFER_CODE: Final = 73
TIMEOUT_MAX_S: Final = (1 << 32) - 1
LEGS_MAX: Final = 16
APPROVERS_MAX: Final = 32
MILESTONES_MAX: Final = 64


class InvalidTerms(InvalidInput):
    code = "invalid_terms"


class NotAllowed(Conflict):
    """The action is not one this contract allows in its state."""

    code = "contract_state"


class NotAParty(Forbidden):
    """The caller is not the party this action needs."""

    code = "not_a_party"


class WrongPreimage(InvalidInput):
    code = "wrong_preimage"


@dataclass(frozen=True, slots=True)
class Op:
    """One ledger transfer a step submits (all of a step's ops are one linked chain)."""

    id: int
    debit: int
    credit: int
    amount: int
    code: int
    flags: int = 0
    pending_id: int = 0
    timeout: int = 0

    def document(self) -> list[Any]:
        return [
            f"{self.id:032x}",
            f"{self.debit:032x}",
            f"{self.credit:032x}",
            self.amount,
            self.code,
            self.flags,
            f"{self.pending_id:032x}",
            self.timeout,
        ]

    @classmethod
    def from_document(cls, data: Sequence[Any]) -> Op:
        return cls(
            int(data[0], 16),
            int(data[1], 16),
            int(data[2], 16),
            data[3],
            data[4],
            data[5],
            int(data[6], 16),
            data[7],
        )


@dataclass(frozen=True, slots=True)
class NewAccount:
    id: int
    asset: str
    code: int
    flags: int


@dataclass(frozen=True, slots=True)
class Operations:
    """What a step submits to the ledger, and `plan`: what the step was decided to be (a
    schedule's occurrence and the one after it), recorded with it so a resumed step completes
    exactly as it was begun."""

    accounts: tuple[NewAccount, ...] = ()
    transfers: tuple[Op, ...] = ()
    plan: Mapping[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {
            "accounts": [[f"{a.id:032x}", a.asset, a.code, a.flags] for a in self.accounts],
            "transfers": [t.document() for t in self.transfers],
            **({"plan": dict(self.plan)} if self.plan else {}),
        }

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Operations:
        return cls(
            tuple(NewAccount(int(a[0], 16), a[1], a[2], a[3]) for a in data["accounts"]),
            tuple(Op.from_document(t) for t in data["transfers"]),
            data.get("plan") or {},
        )


NONE: Final = Operations()


@dataclass(frozen=True, slots=True)
class Answer:
    """The ledger's answer to a step: the first refusal's code, or None when all committed."""

    refusal: str | None
    results: tuple[str, ...] = field(default_factory=tuple)


def _amount(value: Any, what: str) -> int:
    if type(value) is not int or not 0 < value <= AMOUNT_MAX:
        raise InvalidTerms(f"{what} must be a whole number of minor units in 1..{AMOUNT_MAX}")
    return value


def _account(value: Any, what: str) -> int:
    if type(value) is not int or not 0 < value < (1 << 128) - 1:
        raise InvalidTerms(f"{what} must be a ledger account id")
    return value


# -- HTLC ---------------------------------------------------------------------------------------


def htlc_terms(terms: Mapping[str, Any]) -> dict[str, Any]:
    """Validated HTLC terms: `legs` [{payer_account_id, payee_account_id, amount}], `condition`
    (SHA-256, 64 hex digits), `timeout_s` (1..2^32-1)."""
    legs = terms.get("legs")
    if not isinstance(legs, list) or not 1 <= len(legs) <= LEGS_MAX:
        raise InvalidTerms(f"legs: give 1..{LEGS_MAX} legs")
    checked = []
    for n, leg in enumerate(legs):
        payer = _account(leg.get("payer_account_id"), f"legs[{n}].payer_account_id")
        payee = _account(leg.get("payee_account_id"), f"legs[{n}].payee_account_id")
        if payer == payee:
            raise InvalidTerms(f"legs[{n}]: the payer and payee accounts must differ")
        checked.append(
            {
                "payer_account_id": payer,
                "payee_account_id": payee,
                "amount": _amount(leg.get("amount"), f"legs[{n}].amount"),
            }
        )
    condition = terms.get("condition")
    if not isinstance(condition, str) or len(condition) != 64:
        raise InvalidTerms("condition must be a SHA-256 digest: 64 hex digits")
    try:
        bytes.fromhex(condition)
    except ValueError:
        raise InvalidTerms("condition must be a SHA-256 digest: 64 hex digits") from None
    timeout = terms.get("timeout_s")
    if type(timeout) is not int or not 0 < timeout <= TIMEOUT_MAX_S:
        raise InvalidTerms(f"timeout_s must be a whole number of seconds in 1..{TIMEOUT_MAX_S}")
    return {"legs": checked, "condition": condition.lower(), "timeout_s": timeout}


def htlc_lock(contract_id: int, terms: Mapping[str, Any]) -> Operations:
    legs = terms["legs"]
    last = len(legs) - 1
    return Operations(
        transfers=tuple(
            Op(
                lock_id(contract_id, n),
                leg["payer_account_id"],
                leg["payee_account_id"],
                leg["amount"],
                HTLC_TRANSFER_CODE,
                int(TransferFlags.PENDING) | (int(TransferFlags.LINKED) if n < last else 0),
                timeout=terms["timeout_s"],
            )
            for n, leg in enumerate(legs)
        )
    )


def lock_id(contract_id: int, leg: int) -> int:
    return derive_id(contract_id, f"htlc lock {leg}")


def htlc_resolve(contract_id: int, terms: Mapping[str, Any], *, post: bool) -> Operations:
    """Post (fulfil) or void (cancel) every leg, as one linked chain."""
    legs = terms["legs"]
    last = len(legs) - 1
    flag = TransferFlags.POST_PENDING_TRANSFER if post else TransferFlags.VOID_PENDING_TRANSFER
    word = "fulfil" if post else "void"
    return Operations(
        transfers=tuple(
            Op(
                derive_id(contract_id, f"htlc {word} {n}"),
                0,
                0,
                0,
                HTLC_TRANSFER_CODE,
                int(flag) | (int(TransferFlags.LINKED) if n < last else 0),
                pending_id=lock_id(contract_id, n),
            )
            for n in range(len(legs))
        )
    )


def check_preimage(terms: Mapping[str, Any], preimage_hex: str) -> bytes:
    try:
        preimage = bytes.fromhex(preimage_hex)
    except ValueError:
        raise WrongPreimage("the preimage must be hex") from None
    if hashlib.sha256(preimage).hexdigest() != terms["condition"]:
        raise WrongPreimage(
            "the preimage does not hash to the contract's condition: nothing changed"
        )
    return preimage


# -- escrow -------------------------------------------------------------------------------------


def escrow_terms(terms: Mapping[str, Any], party_names: set[str]) -> dict[str, Any]:
    """Validated escrow terms: `payer_account_id`, `payee_account_id`, `amount`, `asset`,
    `approvers` (party names) with `threshold` m, `milestones` [{name, amount, attester}],
    `deadline_s` (refund after it)."""
    payer = _account(terms.get("payer_account_id"), "payer_account_id")
    payee = _account(terms.get("payee_account_id"), "payee_account_id")
    if payer == payee:
        raise InvalidTerms("the payer and payee accounts must differ")
    amount = _amount(terms.get("amount"), "amount")
    approvers = terms.get("approvers") or []
    if not isinstance(approvers, list) or len(approvers) > APPROVERS_MAX:
        raise InvalidTerms(f"approvers: a list of at most {APPROVERS_MAX} party names")
    unknown = [a for a in approvers if a not in party_names]
    if unknown or len(set(approvers)) != len(approvers):
        raise InvalidTerms(f"approvers must be distinct named parties; unknown: {unknown}")
    threshold = terms.get("threshold", len(approvers))
    if approvers and (type(threshold) is not int or not 1 <= threshold <= len(approvers)):
        raise InvalidTerms(f"threshold must be in 1..{len(approvers)} (m of the n approvers)")
    milestones = terms.get("milestones") or []
    if not isinstance(milestones, list) or len(milestones) > MILESTONES_MAX:
        raise InvalidTerms(f"milestones: a list of at most {MILESTONES_MAX}")
    checked = []
    for n, milestone in enumerate(milestones):
        name = milestone.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise InvalidTerms(f"milestones[{n}].name: 1..64 characters")
        attester = milestone.get("attester")
        if attester not in party_names:
            raise InvalidTerms(f"milestones[{n}].attester must be a named party")
        checked.append(
            {
                "name": name,
                "amount": _amount(milestone.get("amount"), f"milestones[{n}].amount"),
                "attester": attester,
            }
        )
    if len({m["name"] for m in checked}) != len(checked):
        raise InvalidTerms("milestone names must be distinct")
    if sum(m["amount"] for m in checked) > amount:
        raise InvalidTerms("the milestones release more than the escrow holds")
    if not approvers and not checked:
        raise InvalidTerms("give approvers (m of n) or milestones: something must release it")
    deadline = terms.get("deadline_s")
    if type(deadline) is not int or not 0 < deadline <= TIMEOUT_MAX_S:
        raise InvalidTerms(f"deadline_s must be a whole number of seconds in 1..{TIMEOUT_MAX_S}")
    return {
        "payer_account_id": payer,
        "payee_account_id": payee,
        "amount": amount,
        "approvers": approvers,
        "threshold": threshold if approvers else 0,
        "milestones": checked,
        "deadline_s": deadline,
    }


def escrow_account(contract_id: int) -> int:
    return derive_id(contract_id, "escrow account")


def escrow_fund(contract_id: int, terms: Mapping[str, Any], asset: str) -> Operations:
    account = escrow_account(contract_id)
    return Operations(
        accounts=(
            NewAccount(
                account,
                asset,
                ESCROW_ACCOUNT_CODE,
                int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            ),
        ),
        transfers=(
            Op(
                derive_id(contract_id, "escrow fund"),
                terms["payer_account_id"],
                account,
                terms["amount"],
                ESCROW_TRANSFER_CODE,
            ),
        ),
    )


def escrow_move(contract_id: int, step: str, to: int, amount: int) -> Operations:
    """`amount` out of the escrow account to `to` (the payee on release, the payer on refund)."""
    if amount <= 0:
        return NONE
    return Operations(
        transfers=(
            Op(
                derive_id(contract_id, f"escrow {step}"),
                escrow_account(contract_id),
                to,
                amount,
                ESCROW_TRANSFER_CODE,
            ),
        )
    )


# -- schedule -----------------------------------------------------------------------------------


def schedule_payment_terms(payment: Any) -> dict[str, Any]:
    """Validated payment of a standing order: `from_account_id`, `to_account_id`, `amount`."""
    if not isinstance(payment, Mapping):
        raise InvalidTerms("payment: {from_account_id, to_account_id, amount}")
    debit = _account(payment.get("from_account_id"), "payment.from_account_id")
    credit = _account(payment.get("to_account_id"), "payment.to_account_id")
    if debit == credit:
        raise InvalidTerms("payment: the from and to accounts must differ")
    return {
        "from_account_id": debit,
        "to_account_id": credit,
        "amount": _amount(payment.get("amount"), "payment.amount"),
    }


def occurrence_id(contract_id: int, when_ns: int) -> int:
    """The id of a standing order's occurrence (its transfer, or its program's execution)."""
    return derive_id(contract_id, f"occurrence {when_ns}")


def schedule_pay(
    contract_id: int, payment: Mapping[str, Any], plan: Mapping[str, Any]
) -> Operations:
    return Operations(
        transfers=(
            Op(
                occurrence_id(contract_id, plan["when_ns"]),
                payment["from_account_id"],
                payment["to_account_id"],
                payment["amount"],
                SCHEDULE_TRANSFER_CODE,
            ),
        ),
        plan=plan,
    )
