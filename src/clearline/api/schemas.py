"""The API's JSON shapes (pydantic). Amounts are decimal strings in major units of their asset
("12.34" USD), never floats; ids are 32 lowercase hex digits."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict

ID_PATTERN = r"^[0-9a-f]{32}$"
AMOUNT_PATTERN = r"^[0-9]{1,19}(\.[0-9]{1,18})?$"
ASSET_PATTERN = r"^[A-Z][A-Z0-9]{1,11}(/[0-9]{1,2})?$"
LIMIT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"

Id = Field(pattern=ID_PATTERN, description="32 lowercase hex digits")
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="32 lowercase hex digits")]
CustomerKind = Literal["person", "merchant", "enterprise", "agent"]
AccountKind = Literal["wallet", "omnibus"]
Role = Literal["admin", "operator", "analyst", "auditor", "customer"]
PaymentType = Literal[
    "merchant_payment",
    "refund",
    "p2p",
    "remittance",
    "bill",
    "salary",
    "gig_income",
    "pension",
    "trade",
    "cash_in",
    "cash_out",
]
Channel = Literal["qr", "card", "mobile_app", "web", "api", "atm", "agent", "branch"]
PaymentStatus = Literal[
    "completed",
    "authorized",
    "in_review",
    "captured",
    "voided",
    "rejected",
    "expired",
    "declined",
    "failed",
    "refunded",
]
Action = Literal["approve", "review", "decline"]


def _whole_number(value: Any) -> Any:
    """JSON Schema's integer: 2 and 2.0, never true or "2" (the model is strict otherwise)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
"""An integer field of a request body."""


class Strict(BaseModel):
    """A request body: unknown fields refused, and no type coercion (`true` is not a tier)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LimitsIn(Strict):
    per_payment_usd: str | None = Field(default=None, pattern=LIMIT_PATTERN)
    per_day_usd: str | None = Field(default=None, pattern=LIMIT_PATTERN)


PERSONAL = "personal data: encrypted at rest, never logged"


class CustomerIn(Strict):
    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description=PERSONAL)
    kind: CustomerKind = "person"
    tier: Int = Field(default=1, ge=0, le=3, description="KYC tier 0–3")
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    limits: LimitsIn | None = None
    identity_number: str | None = Field(
        default=None, min_length=1, max_length=64, description=PERSONAL
    )
    address: str | None = Field(default=None, min_length=1, max_length=500, description=PERSONAL)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{4,32}$", description=PERSONAL)


class CustomerPatch(Strict):
    tier: Int | None = Field(default=None, ge=0, le=3)
    limits: LimitsIn | None = None


class LimitPair(BaseModel):
    per_payment_usd: str | None = Field(description="US dollars; null: no limit")
    per_day_usd: str | None = Field(description="US dollars; null: no limit")


class LimitsOut(LimitPair):
    """The limits that apply to the customer's payments, and where they come from."""

    source: Literal["tier", "customer"] = Field(
        description="tier: the KYC tier's defaults; customer: set for this customer"
    )
    tier: LimitPair = Field(description="the KYC tier's defaults")


class CustomerOut(BaseModel):
    id: str
    name: str
    kind: str
    tier: int
    country: str
    identity_number: str | None = Field(description="masked for analysts and auditors")
    address: str | None = Field(description="null for analysts and auditors")
    phone: str | None = Field(description="masked for analysts and auditors")
    limits: LimitsOut
    created_at: str


class AccountIn(Strict):
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN, description="ISO 4217 code or CODE/scale")
    kind: AccountKind = "wallet"


class AccountOut(BaseModel):
    id: str
    customer_id: str | None
    asset: str
    kind: str
    created_at: str


class BalanceOut(BaseModel):
    account_id: str
    asset: str
    posted: str
    available: str
    debits_pending: str
    credits_pending: str
    debits_posted: str
    credits_posted: str


class StatementLine(BaseModel):
    transfer_id: str
    timestamp: int
    direction: Literal["debit", "credit"]
    amount: str
    balance: str | None = Field(description="posted balance after it; null for omnibus accounts")
    code: int
    payment_id: str | None
    pending: bool


class TransferIn(Strict):
    id: str | None = Field(default=None, pattern=ID_PATTERN)
    debit_account_id: str = Field(pattern=ID_PATTERN)
    credit_account_id: str = Field(pattern=ID_PATTERN)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)
    code: Int = Field(default=5, ge=1, le=65535)


class TransfersIn(Strict):
    transfers: list[TransferIn] = Field(min_length=1, max_length=8190)
    atomic: bool = Field(default=False, description="all transfers succeed or none does")


class TransferItem(TypedDict):
    """`TransferIn` as a plain dict: the batch path validates 8,190 of these without building a
    model per transfer (same fields, same constraints; `code` defaults to 5 when absent)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    id: NotRequired[Annotated[str | None, Field(pattern=ID_PATTERN)]]
    debit_account_id: Annotated[str, Field(pattern=ID_PATTERN)]
    credit_account_id: Annotated[str, Field(pattern=ID_PATTERN)]
    amount: Annotated[str, Field(pattern=AMOUNT_PATTERN)]
    asset: Annotated[str, Field(pattern=ASSET_PATTERN)]
    code: NotRequired[Annotated[int, Field(ge=1, le=65535)]]


class TransferBatch(TypedDict):
    """`TransfersIn` as a plain dict (see `TransferItem`)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
    transfers: Annotated[list[TransferItem], Field(min_length=1, max_length=8190)]
    atomic: NotRequired[bool]


TRANSFER_BATCH = TypeAdapter(TransferBatch)


class TransferResultOut(BaseModel):
    index: int
    id: str
    result: str
    timestamp: int


class TransfersOut(BaseModel):
    results: list[TransferResultOut]
    ok: int
    failed: int


class PaymentIn(Strict):
    source_account_id: str = Field(pattern=ID_PATTERN)
    destination_account_id: str = Field(pattern=ID_PATTERN)
    amount: str = Field(pattern=AMOUNT_PATTERN)
    asset: str = Field(pattern=ASSET_PATTERN)
    payment_type: PaymentType = "p2p"
    channel: Channel = "api"
    capture: Literal["automatic", "manual"] = "automatic"
    device_id: str | None = Field(default=None, min_length=1, max_length=128)
    merchant_category: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    destination_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    reference: str | None = Field(default=None, max_length=140)


class DecisionOut(BaseModel):
    payment_id: str
    action: str
    score: float
    model_version: str
    rules_version: str
    reasons: list[str]
    decided_at: str


class PaymentOut(BaseModel):
    id: str
    status: str
    customer_id: str
    source_account_id: str
    destination_account_id: str
    amount: str
    asset: str
    payment_type: str
    channel: str
    capture: str
    captured: str
    refunded: str
    refusal: str | None
    expires_at: str | None
    reference: str | None
    decision: DecisionOut
    created_at: str
    updated_at: str


class CaptureIn(Strict):
    amount: str | None = Field(default=None, pattern=AMOUNT_PATTERN)


class RefundIn(Strict):
    amount: str | None = Field(default=None, pattern=AMOUNT_PATTERN)


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: str
    asset: str
    payment: PaymentOut


class CheckpointOut(BaseModel):
    origin: str
    size: int
    root_hash: str
    previous_hash: str
    time_ns: int
    note: str


class InclusionProofOut(BaseModel):
    transfer_id: str
    step: str
    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class PaymentProofOut(BaseModel):
    payment_id: str
    checkpoint: CheckpointOut
    proofs: list[InclusionProofOut]


class ConsistencyOut(BaseModel):
    size1: int
    size2: int
    proof: list[str]


class AuditEventOut(BaseModel):
    id: str = Field(description="also the id of its attestation in the ledger")
    seq: int
    at: str
    actor_key_id: str = Field(
        description="the API key that acted (cli: a command on the data directory)"
    )
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    idempotency_key: str | None
    details: dict[str, Any] = Field(description="what changed; never personal data")
    sealed: bool = Field(description="attested into the verifiable log")


class AuditProofOut(BaseModel):
    event: AuditEventOut
    canonical: str = Field(
        description="the bytes whose SHA-256 is the attested digest (UTF-8 JSON)"
    )
    digest: str
    leaf: str = Field(
        description="the log leaf's canonical bytes (hex): the ledger attestation that holds the "
        "digest; SHA-256(0x00 ‖ leaf) is proof.leaf_hash"
    )
    intact: bool = Field(
        description="the stored event still hashes to the digest the ledger attested"
    )
    checkpoint: CheckpointOut
    proof: InclusionProofOut


class KeyIn(Strict):
    role: Role
    customer_id: str | None = Field(default=None, pattern=ID_PATTERN)
    label: str = Field(default="", max_length=100)


class KeyOut(BaseModel):
    id: str
    role: str
    customer_id: str | None
    label: str
    created_at: str
    revoked_at: str | None


class NewKeyOut(KeyOut):
    key: str | None = Field(description="shown once; store it now (null in an idempotent replay)")


PROGRAM_CHARS_MAX = 65_536
VARIABLES_MAX = 256
VARIABLE_NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,127}$"
FEATURE_FLAG_PATTERN = r"^[a-z0-9-]{1,64}$"
VariableName = Annotated[str, Field(pattern=VARIABLE_NAME_PATTERN)]
VariableValue = Annotated[str, Field(max_length=4096)]
FeatureFlag = Annotated[str, Field(pattern=FEATURE_FLAG_PATTERN)]


class ScriptIn(Strict):
    program: str = Field(
        min_length=1, max_length=PROGRAM_CHARS_MAX, description="Numscript source text"
    )
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=VARIABLES_MAX,
        json_schema_extra={"additionalProperties": False},
        description='name (without $) -> value in Numscript literal syntax: "USD/2 100", '
        '"users:bob" (an account, without @), "1/3", "12"',
    )
    feature_flags: list[FeatureFlag] = Field(
        default_factory=list,
        max_length=16,
        description="experimental features, as `#![feature(...)]` in the program would enable",
    )


class PostingOut(BaseModel):
    source: str = Field(description="account address, without @")
    destination: str
    amount: str = Field(description="integer, in the asset's minor units")
    asset: str = Field(description="Numscript asset (USD/2)")
    color: str = Field(description="empty unless the program uses asset colors")


class DryRunOut(BaseModel):
    postings: list[PostingOut]
    tx_meta: dict[str, str]
    account_meta: dict[str, dict[str, str]]


class ScriptRunOut(BaseModel):
    id: str = Field(description="the execution's id (GET /v1/scripts/executions/{id})")
    status: Literal["done", "replayed"] = Field(
        description="replayed: this execution had run before; nothing moved again"
    )
    postings: list[PostingOut]
    transfer_ids: list[str] = Field(description="the ledger transfers, one per moving posting")
    tx_meta: dict[str, str]
    account_meta: dict[str, dict[str, str]]
    error_code: str | None
    error: str | None


class ScriptExecutionOut(BaseModel):
    id: str
    status: Literal["pending", "done", "refused", "abandoned"] = Field(
        description="pending: committing now; refused and abandoned moved nothing"
    )
    program_sha256: str
    postings: list[PostingOut] = Field(description="empty unless done or pending")
    transfer_ids: list[str] = Field(description="empty unless done or pending")
    tx_meta: dict[str, str]
    account_meta: dict[str, dict[str, str]]
    error_code: str | None
    error: str | None
    created_at: str
    completed_at: str | None
