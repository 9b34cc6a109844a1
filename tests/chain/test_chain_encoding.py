"""Canonical event encoding: round trips, fixed layout, and strict refusal of anything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.chain.encoding import HEADER, EncodingError, decode, encode
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.types import Account, Attestation, Transfer

U128 = st.integers(0, 2**128 - 1)
TIMESTAMP = st.integers(1, 2**63 - 1)

ACCOUNT = LedgerEvent(
    LedgerEventKind.ACCOUNT_CREATED,
    7,
    account=Account(id=1, asset="USDC/6", code=2, flags=8, user_data_64=5, timestamp=7),
)


@st.composite
def events(draw: st.DrawFn) -> LedgerEvent:
    timestamp = draw(TIMESTAMP)
    kind = draw(st.sampled_from(list(LedgerEventKind)))
    if kind is LedgerEventKind.ACCOUNT_CREATED:
        account = Account(
            id=draw(U128),
            asset=draw(st.sampled_from(["USD", "JPY", "KWD", "CLF", "USDC/6", "POINTS/0"])),
            code=draw(st.integers(1, 2**16 - 1)),
            flags=draw(st.integers(0, 31)),
            user_data_128=draw(U128),
            user_data_64=draw(st.integers(0, 2**64 - 1)),
            user_data_32=draw(st.integers(0, 2**32 - 1)),
            timestamp=timestamp,
        )
        return LedgerEvent(kind, timestamp, account=account)
    if kind is LedgerEventKind.TRANSFER_CREATED:
        transfer = Transfer(
            id=draw(U128),
            debit_account_id=draw(U128),
            credit_account_id=draw(U128),
            amount=draw(st.integers(0, 2**63 - 1)),
            pending_id=draw(U128),
            timeout=draw(st.integers(0, 2**32 - 1)),
            code=draw(st.integers(1, 2**16 - 1)),
            flags=draw(st.integers(0, 255)),
            user_data_128=draw(U128),
            user_data_64=draw(st.integers(0, 2**64 - 1)),
            user_data_32=draw(st.integers(0, 2**32 - 1)),
            timestamp=timestamp,
        )
        return LedgerEvent(kind, timestamp, transfer=transfer)
    if kind is LedgerEventKind.ATTESTATION_CREATED:
        attestation = Attestation(
            id=draw(U128),
            code=draw(st.integers(0, 2**16 - 1)),
            digest=draw(st.binary(min_size=32, max_size=32)),
            timestamp=timestamp,
        )
        return LedgerEvent(kind, timestamp, attestation=attestation)
    return LedgerEvent(kind, timestamp, pending_id=draw(st.integers(1, 2**128 - 1)))


@given(events())
def test_round_trip(event: LedgerEvent) -> None:
    data = encode(event)
    assert decode(data) == event
    assert data[0] == 1 and int.from_bytes(data[10:14], "big") == len(data) - HEADER.size


@given(events(), st.data())
def test_any_single_byte_change_is_refused_or_changes_the_event(
    event: LedgerEvent, data: st.DataObject
) -> None:
    raw = bytearray(encode(event))
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(EncodingError):
        assert decode(bytes(raw)) != event


def test_layout_of_an_account_event_is_fixed() -> None:
    assert (
        encode(ACCOUNT).hex()
        == (
            "01"
            "01"
            "0000000000000007"
            "00000037"  # version, kind, timestamp, body length
            "06"
            + b"USDC/6".hex()  # asset, length-prefixed
            + "00000000000000000000000000000001"
            "0002"
            "0008"  # id, code, flags
             + "00" * 16 + "0000000000000005"
            "00000000"  # user_data_128 / 64 / 32
        )
    )


def test_pending_expired_layout() -> None:
    event = LedgerEvent(LedgerEventKind.PENDING_EXPIRED, 9, pending_id=11)
    assert encode(event).hex() == "0103000000000000000900000010" + "00" * 15 + "0b"


ATTESTATION = LedgerEvent(
    LedgerEventKind.ATTESTATION_CREATED,
    12,
    attestation=Attestation(id=0x0102, code=7, digest=bytes(range(32)), timestamp=12),
)


def test_attestation_created_layout() -> None:
    """docs/chain.md, "Event encoding, version 1": kind 4, a 50-byte body of id, code, digest."""
    assert (
        encode(ATTESTATION).hex()
        == (
            "01"
            "04"
            "000000000000000c"
            "00000032" + "00" * 14 + "0102"  # version, kind 4, timestamp, body length 50  # id
            "0007"  # code
             + bytes(range(32)).hex()  # digest
        )
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # a 31-byte digest
        lambda b: b[:10] + b"\x00\x00\x00\x33" + b[14:] + b"\x00",  # a 33-byte digest
        lambda b: b[:10] + b"\x00\x00\x00\x00",  # empty body
    ],
)
def test_malformed_attestation_bytes_are_refused(mutate: object) -> None:
    with pytest.raises(EncodingError):
        decode(mutate(encode(ATTESTATION)))  # type: ignore[operator]


def test_an_attestation_encodes_only_with_a_32_byte_digest_and_agreeing_fields() -> None:
    short = Attestation(id=1, code=1, digest=bytes(31), timestamp=12)
    with pytest.raises(ValueError):
        encode(LedgerEvent(LedgerEventKind.ATTESTATION_CREATED, 12, attestation=short))
    with pytest.raises(ValueError):
        encode(
            LedgerEvent(
                LedgerEventKind.ATTESTATION_CREATED, 13, attestation=ATTESTATION.attestation
            )
        )
    with pytest.raises(ValueError):
        encode(LedgerEvent(LedgerEventKind.ATTESTATION_CREATED, 12))
    with pytest.raises(ValueError):
        encode(
            LedgerEvent(
                LedgerEventKind.ATTESTATION_CREATED,
                12,
                attestation=ATTESTATION.attestation,
                pending_id=3,
            )
        )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # truncated
        lambda b: b + b"\x00",  # trailing byte
        lambda b: b"\x02" + b[1:],  # unknown version
        lambda b: b[:1] + b"\x09" + b[2:],  # unknown kind
        lambda b: b[:2] + bytes(8) + b[10:],  # timestamp zero
        lambda b: b[:2] + b"\xff" * 8 + b[10:],  # timestamp beyond 2^63-1
        lambda b: b[:14] + b"\x06usdc/6" + b[21:],  # non-canonical asset spec
        lambda b: b[:14] + b"\x06USD/99" + b[21:],  # asset scale out of range
        lambda b: b[:14] + b"\x06US\xffC/6" + b[21:],  # not ASCII
        lambda b: b[:10] + b"\x00\x00\x00\x00",  # empty body
        lambda b: b"",
    ],
)
def test_malformed_bytes_are_refused(mutate: object) -> None:
    data = encode(ACCOUNT)
    mutated = mutate(data)  # type: ignore[operator]
    with pytest.raises(EncodingError) as caught:
        decode(mutated)
    assert caught.value.code == "event_encoding_invalid"


def test_events_that_disagree_are_not_encoded() -> None:
    with pytest.raises(ValueError):
        encode(LedgerEvent(LedgerEventKind.ACCOUNT_CREATED, 8, account=ACCOUNT.account))
    with pytest.raises(ValueError):
        encode(LedgerEvent(LedgerEventKind.TRANSFER_CREATED, 8))
    with pytest.raises(ValueError):
        encode(
            LedgerEvent(
                LedgerEventKind.ACCOUNT_CREATED,
                1,
                account=Account(1, "USD", 1, credits_posted=1, timestamp=1),
            )
        )
