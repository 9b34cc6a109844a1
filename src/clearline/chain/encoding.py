"""Canonical binary encoding of ledger events: the bytes each Merkle leaf hashes.

Guarantees:
- One event has exactly one encoding, and `decode(encode(event)) == event`: fixed-width big-endian
  unsigned integers, one length-prefixed ASCII field (the asset), a version byte and a kind byte in
  front, and the body's length before the body. Never JSON, never joined strings.
- `decode` is strict: an unknown version or kind, a length that disagrees with the bytes, trailing
  bytes, a non-canonical asset spec or an out-of-range field raise `EncodingError` (code
  `event_encoding_invalid`); so two different byte strings never decode to the same event.
- Only what the event fixed is encoded: balances of a created account are zero by definition and
  must be; the event's timestamp is written once, in the header, and must equal the record's.
- The layout is documented byte by byte in docs/chain.md; a new layout gets a new version byte,
  and old versions stay decodable. A new kind (4, `attestation_created`, came after the first
  three) extends version 1 without changing any existing kind's bytes: an older decoder refuses
  the new kind as unknown rather than misreading it.
"""

from __future__ import annotations

import struct

from clearline.core.assets import asset
from clearline.core.errors import ClearlineError, InvalidInput
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.types import DIGEST_BYTES, TIMESTAMP_MAX, Account, Attestation, Transfer

ENCODING_VERSION = 1
HEADER = struct.Struct(">BBQI")
"""version, kind, timestamp (ns), body length in bytes."""
KIND_CODES = {
    LedgerEventKind.ACCOUNT_CREATED: 1,
    LedgerEventKind.TRANSFER_CREATED: 2,
    LedgerEventKind.PENDING_EXPIRED: 3,
    LedgerEventKind.ATTESTATION_CREATED: 4,
}
KINDS = {code: kind for kind, code in KIND_CODES.items()}
ACCOUNT_FIXED = struct.Struct(">16sHH16sQI")
"""After the asset: id, code, flags, user_data_128, user_data_64, user_data_32."""
TRANSFER_BODY = struct.Struct(">16s16s16sQ16s16sQIIHH")
"""id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, user_data_64,
user_data_32, timeout, code, flags."""
PENDING_EXPIRED_BODY = struct.Struct(">16s")
"""pending_id."""
ATTESTATION_BODY = struct.Struct(f">16sH{DIGEST_BYTES}s")
"""id, code, digest (a SHA-256)."""
ASSET_SPEC_BYTES_MAX = 32
EVENT_BYTES_MAX = HEADER.size + TRANSFER_BODY.size


class EncodingError(ClearlineError, ValueError):
    """Bytes that are not the canonical encoding of a ledger event."""

    code = "event_encoding_invalid"


def _u128(value: int) -> bytes:
    return value.to_bytes(16, "big")


def _from_u128(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _encode_account(account: Account) -> bytes:
    if account.debits_pending or account.debits_posted or account.credits_pending:
        raise InvalidInput("a created account has zero balances", code="event_not_encodable")
    if account.credits_posted:
        raise InvalidInput("a created account has zero balances", code="event_not_encodable")
    spec = account.asset.spec.encode("ascii")
    fixed = ACCOUNT_FIXED.pack(
        _u128(account.id),
        account.code,
        account.flags,
        _u128(account.user_data_128),
        account.user_data_64,
        account.user_data_32,
    )
    return bytes([len(spec)]) + spec + fixed


def _encode_transfer(transfer: Transfer) -> bytes:
    return TRANSFER_BODY.pack(
        _u128(transfer.id),
        _u128(transfer.debit_account_id),
        _u128(transfer.credit_account_id),
        transfer.amount,
        _u128(transfer.pending_id),
        _u128(transfer.user_data_128),
        transfer.user_data_64,
        transfer.user_data_32,
        transfer.timeout,
        transfer.code,
        transfer.flags,
    )


def _encode_attestation(attestation: Attestation) -> bytes:
    if len(attestation.digest) != DIGEST_BYTES:
        raise InvalidInput("an attestation's digest is 32 bytes", code="event_not_encodable")
    return ATTESTATION_BODY.pack(_u128(attestation.id), attestation.code, attestation.digest)


def _body(event: LedgerEvent) -> bytes:
    if event.kind is LedgerEventKind.ACCOUNT_CREATED and event.account is not None:
        if event.account.timestamp != event.timestamp or event.transfer or event.pending_id:
            raise InvalidInput("account event fields disagree", code="event_not_encodable")
        return _encode_account(event.account)
    if event.kind is LedgerEventKind.TRANSFER_CREATED and event.transfer is not None:
        if event.transfer.timestamp != event.timestamp or event.account or event.pending_id:
            raise InvalidInput("transfer event fields disagree", code="event_not_encodable")
        return _encode_transfer(event.transfer)
    if event.kind is LedgerEventKind.PENDING_EXPIRED and event.pending_id:
        if event.account is not None or event.transfer is not None:
            raise InvalidInput("expiry event carries a record", code="event_not_encodable")
        return PENDING_EXPIRED_BODY.pack(_u128(event.pending_id))
    if event.kind is LedgerEventKind.ATTESTATION_CREATED and event.attestation is not None:
        if event.attestation.timestamp != event.timestamp or event.account or event.transfer:
            raise InvalidInput("attestation event fields disagree", code="event_not_encodable")
        if event.pending_id:
            raise InvalidInput("attestation event fields disagree", code="event_not_encodable")
        return _encode_attestation(event.attestation)
    raise InvalidInput(f"{event.kind} event lacks its record", code="event_not_encodable")


def encode(event: LedgerEvent) -> bytes:
    """The canonical bytes of `event` (version 1)."""
    body = _body(event)
    return HEADER.pack(ENCODING_VERSION, KIND_CODES[event.kind], event.timestamp, len(body)) + body


def _decode_account(body: bytes, timestamp: int) -> Account:
    spec_length = body[0] if body else 0
    spec = body[1 : 1 + spec_length]
    if (
        not 0 < spec_length <= ASSET_SPEC_BYTES_MAX
        or len(body) != 1 + spec_length + ACCOUNT_FIXED.size
    ):
        raise EncodingError("account body has the wrong length")
    try:
        text = spec.decode("ascii")
        parsed = asset(text)
    except (UnicodeDecodeError, InvalidInput) as error:
        raise EncodingError(f"account asset is not valid: {spec!r}") from error
    if parsed.spec != text:
        raise EncodingError(f"account asset {text!r} is not canonical ({parsed.spec!r})")
    raw_id, code, flags, user_128, user_64, user_32 = ACCOUNT_FIXED.unpack(body[1 + spec_length :])
    return Account(
        id=_from_u128(raw_id),
        asset=parsed,
        code=code,
        flags=flags,
        user_data_128=_from_u128(user_128),
        user_data_64=user_64,
        user_data_32=user_32,
        timestamp=timestamp,
    )


def _decode_transfer(body: bytes, timestamp: int) -> Transfer:
    if len(body) != TRANSFER_BODY.size:
        raise EncodingError("transfer body has the wrong length")
    raw = TRANSFER_BODY.unpack(body)
    return Transfer(
        id=_from_u128(raw[0]),
        debit_account_id=_from_u128(raw[1]),
        credit_account_id=_from_u128(raw[2]),
        amount=raw[3],
        pending_id=_from_u128(raw[4]),
        user_data_128=_from_u128(raw[5]),
        user_data_64=raw[6],
        user_data_32=raw[7],
        timeout=raw[8],
        code=raw[9],
        flags=raw[10],
        timestamp=timestamp,
    )


def _decode_body(kind: LedgerEventKind, body: bytes, timestamp: int) -> LedgerEvent:
    if kind is LedgerEventKind.ACCOUNT_CREATED:
        return LedgerEvent(kind, timestamp, account=_decode_account(body, timestamp))
    if kind is LedgerEventKind.TRANSFER_CREATED:
        return LedgerEvent(kind, timestamp, transfer=_decode_transfer(body, timestamp))
    if kind is LedgerEventKind.ATTESTATION_CREATED:
        if len(body) != ATTESTATION_BODY.size:
            raise EncodingError("attestation body has the wrong length")
        raw_id, code, digest = ATTESTATION_BODY.unpack(body)
        attestation = Attestation(_from_u128(raw_id), code, digest, timestamp)
        return LedgerEvent(kind, timestamp, attestation=attestation)
    if len(body) != PENDING_EXPIRED_BODY.size:
        raise EncodingError("expiry body has the wrong length")
    pending_id = _from_u128(body)
    if pending_id == 0:
        raise EncodingError("an expiry names a pending transfer")
    return LedgerEvent(kind, timestamp, pending_id=pending_id)


def decode(data: bytes) -> LedgerEvent:
    """The event whose canonical encoding is `data`; `EncodingError` for anything else."""
    if len(data) < HEADER.size:
        raise EncodingError(f"an event is at least {HEADER.size} bytes, got {len(data)}")
    version, kind_code, timestamp, body_length = HEADER.unpack_from(data)
    if version != ENCODING_VERSION:
        raise EncodingError(f"unknown event encoding version {version}")
    if not 0 < timestamp <= TIMESTAMP_MAX:
        raise EncodingError(f"event timestamp {timestamp} is out of range")
    if kind_code not in KINDS:
        raise EncodingError(f"unknown event kind {kind_code}")
    if len(data) != HEADER.size + body_length:
        raise EncodingError(f"body length {body_length} disagrees with {len(data)} bytes")
    try:
        event = _decode_body(KINDS[kind_code], bytes(data[HEADER.size :]), timestamp)
    except (InvalidInput, TypeError) as error:
        raise EncodingError(f"event field out of range: {error}") from error
    if encode(event) != data:
        raise EncodingError("bytes are not the canonical encoding of their event")
    return event
