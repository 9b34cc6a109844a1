"""The JSON shapes of `/v1/contracts`: one terms object per template. Amounts in requests are
decimal strings in major units of their asset, as everywhere in the API; a contract's stored
`terms` answer them in minor units (integers), as the ledger counts them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from clearline.api.schemas import AMOUNT_PATTERN, ASSET_PATTERN, ID_PATTERN, Strict

NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


class PartyIn(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="how the terms name this party")
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    key_id: str | None = Field(default=None, min_length=1, max_length=64)


class MilestoneIn(Strict):
    name: str = Field(min_length=1, max_length=64)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    attester: str = Field(pattern=NAME_PATTERN)


class EscrowIn(Strict):
    payer_account_id: str = Field(pattern=ID_PATTERN)
    payee_account_id: str = Field(pattern=ID_PATTERN)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)
    approvers: list[str] = Field(default_factory=list, max_length=32)
    threshold: int | None = Field(default=None, ge=1, le=32, description="m of the approvers")
    milestones: list[MilestoneIn] = Field(default_factory=list, max_length=64)
    deadline_s: int = Field(ge=1, le=4_294_967_295, description="refunded after this long")


class LegIn(Strict):
    payer_account_id: str = Field(pattern=ID_PATTERN)
    payee_account_id: str = Field(pattern=ID_PATTERN)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)


class HtlcIn(Strict):
    legs: list[LegIn] = Field(min_length=1, max_length=16)
    condition: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the preimage")
    timeout_s: int = Field(ge=1, le=4_294_967_295)


class NumscriptIn(Strict):
    program: str = Field(min_length=1, max_length=65_536)
    variables: dict[str, str] = Field(default_factory=dict, max_length=256)
    feature_flags: list[str] = Field(default_factory=list, max_length=16)


class PaymentIn(Strict):
    from_account_id: str = Field(pattern=ID_PATTERN)
    to_account_id: str = Field(pattern=ID_PATTERN)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)


class ScheduleIn(Strict):
    """A standing order: `payment` or `numscript` run at each occurrence of `cron` (in
    `timezone`) or of `every_s` seconds from `start`, until `end` or `count` occurrences."""

    cron: str | None = Field(
        default=None, min_length=1, max_length=128, examples=["0 9 * * 1-5"],
        description="five fields: minute hour day-of-month month day-of-week (Debian cron)",
    )  # fmt: skip
    every_s: int | None = Field(default=None, ge=1, le=316_224_000)
    timezone: str = Field(default="UTC", min_length=1, max_length=64, examples=["Asia/Shanghai"])
    start: AwareDatetime | None = Field(default=None, description="default: now")
    end: AwareDatetime | None = None
    count: int | None = Field(default=None, ge=1, le=1_000_000)
    missed: Literal["run_all", "run_latest", "skip"] = Field(
        default="run_all", description="what happens to occurrences later than grace_s"
    )
    grace_s: int = Field(default=300, ge=0, le=316_224_000)
    stop_after_failures: int | None = Field(
        default=None, ge=1, le=1_000, description="stop after this many refusals in a row"
    )
    payment: PaymentIn | None = None
    numscript: NumscriptIn | None = None


class ContractIn(Strict):
    template: Literal["escrow", "htlc", "numscript", "schedule"]
    parties: list[PartyIn] = Field(default_factory=list, max_length=32)
    escrow: EscrowIn | None = None
    htlc: HtlcIn | None = None
    numscript: NumscriptIn | None = None
    schedule: ScheduleIn | None = None


class AttestIn(Strict):
    milestone: str = Field(min_length=1, max_length=64)


class FulfilIn(Strict):
    preimage: str = Field(pattern=r"^([0-9a-fA-F]{2}){1,1024}$", description="hex")


class PartyOut(Strict):
    name: str
    customer_id: str | None
    key_id: str | None


class StepOut(Strict):
    step: str
    status: Literal["pending", "done", "failed"]
    action: str
    actor_key_id: str
    outcome: dict[str, Any] | None
    event_id: str | None
    at: str


class ContractOut(Strict):
    id: str
    template: str
    state: str
    creator_key_id: str
    parties: list[PartyOut]
    terms: dict[str, Any]
    data: dict[str, Any]
    version: int
    deadline: str | None
    latest_event_id: str | None
    created: str
    updated: str
    steps: list[StepOut]
