"""Tokens: round trip, context binding, pinned vectors and the named mutations that must fail."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.vault import (
    ContextInvalid,
    DataKeyRing,
    PlaintextInvalid,
    TokenMalformed,
    TokenRejected,
    VaultError,
    is_token,
    parse_token,
    token_key_id,
)
from clearline.vault.keyring import KEY_FILE_SUFFIX
from clearline.vault.tokens import NONCE_BYTES, PLAINTEXT_BYTES_MAX, format_token

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "token_vectors.json").read_text(encoding="utf-8")
)
CONTEXT = b"clearline.vault/customers.name/1"
READ_ONLY_FIXTURE = HealthCheck.function_scoped_fixture
"""The ring fixture is only read by the property tests (encrypt and decrypt), never changed."""


@pytest.fixture
def pinned_ring(tmp_path: Path) -> DataKeyRing:
    """A ring holding only the vectors' key, written as a key file like the ring writes one."""
    directory = tmp_path / "pinned"
    directory.mkdir(mode=0o700)
    key_file = directory / f"{VECTORS['key_id']}{KEY_FILE_SUFFIX}"
    key_file.write_bytes(bytes.fromhex(VECTORS["key_hex"]))
    key_file.chmod(0o600)
    return DataKeyRing.open(directory)


def test_round_trip(ring: DataKeyRing) -> None:
    token = ring.encrypt("Ada Lovelace", CONTEXT)
    assert is_token(token)
    assert token.startswith(f"pd1.{ring.current_key_id}.")
    assert ring.decrypt(token, CONTEXT) == "Ada Lovelace"


@settings(max_examples=200, deadline=None, suppress_health_check=[READ_ONLY_FIXTURE])
@given(text=st.text(max_size=300), row_key=st.text(min_size=0, max_size=40))
def test_round_trip_of_any_unicode_text(ring: DataKeyRing, text: str, row_key: str) -> None:
    context = b"clearline.vault/customers.name/" + row_key.encode()
    token = ring.encrypt(text, context)
    assert is_token(token) and token.isascii()
    assert ring.decrypt(token, context) == text


def test_every_token_has_a_fresh_nonce(ring: DataKeyRing) -> None:
    tokens = {ring.encrypt("same name", CONTEXT) for _ in range(200)}
    assert len(tokens) == 200
    assert len({parse_token(token).nonce for token in tokens}) == 200
    assert all(len(parse_token(token).nonce) == NONCE_BYTES for token in tokens)


def test_a_token_moved_to_another_row_or_column_fails(ring: DataKeyRing) -> None:
    token = ring.encrypt("Ada Lovelace", b"clearline.vault/customers.name/1")
    for other in (b"clearline.vault/customers.name/2", b"clearline.vault/customers.address/1"):
        with pytest.raises(TokenRejected) as refused:
            ring.decrypt(token, other)
        assert "Ada" not in str(refused.value) and b"customers" not in str(refused.value).encode()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda vector: vector["name"])
def test_pinned_vectors_decrypt(pinned_ring: DataKeyRing, vector: dict[str, str]) -> None:
    assert token_key_id(vector["token"]) == VECTORS["key_id"]
    assert pinned_ring.decrypt(vector["token"], vector["context"].encode()) == vector["plaintext"]


@pytest.mark.parametrize("mutation", VECTORS["mutations"], ids=lambda mutation: mutation["name"])
def test_named_mutations_fail(pinned_ring: DataKeyRing, mutation: dict[str, str]) -> None:
    context = mutation.get("context", VECTORS["vectors"][0]["context"]).encode()
    with pytest.raises(VaultError) as refused:
        pinned_ring.decrypt(mutation["token"], context)
    assert refused.value.code == mutation["error"]
    assert VECTORS["vectors"][0]["plaintext"] not in str(refused.value)
    assert is_token(mutation["token"]) == (mutation["error"] != "token_malformed")


@settings(max_examples=200, deadline=None, suppress_health_check=[READ_ONLY_FIXTURE])
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_fails(ring: DataKeyRing, position: int, bit: int) -> None:
    parsed = parse_token(ring.encrypt("Grace Hopper", CONTEXT))
    payload = bytearray(parsed.nonce + parsed.sealed)
    payload[position % len(payload)] ^= 1 << bit
    altered = format_token(
        parsed.key_id, bytes(payload[:NONCE_BYTES]), bytes(payload[NONCE_BYTES:])
    )
    with pytest.raises(TokenRejected):
        ring.decrypt(altered, CONTEXT)


@pytest.mark.parametrize("value", [None, 7, b"pd1.", "", "Ada Lovelace", "pd1.0123abcd.short"])
def test_is_token_refuses_other_values(value: object) -> None:
    assert not is_token(value)


def test_decrypt_refuses_a_non_string(ring: DataKeyRing) -> None:
    with pytest.raises(TokenMalformed):
        ring.decrypt(b"pd1.", CONTEXT)  # type: ignore[arg-type]


def test_refuses_oversized_or_unencodable_plaintext_and_bad_contexts(ring: DataKeyRing) -> None:
    assert ring.decrypt(ring.encrypt("x" * PLAINTEXT_BYTES_MAX, CONTEXT), CONTEXT)
    with pytest.raises(PlaintextInvalid):
        ring.encrypt("x" * (PLAINTEXT_BYTES_MAX + 1), CONTEXT)
    with pytest.raises(PlaintextInvalid):
        ring.encrypt("\ud800", CONTEXT)
    for context in (b"", "customers.name/1", b"x" * 1025):
        with pytest.raises(ContextInvalid):
            ring.encrypt("Ada", context)  # type: ignore[arg-type]


BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(min_size=28, max_size=80), last=st.sampled_from(BASE64URL))
def test_exactly_the_canonical_encoding_is_accepted(payload: bytes, last: str) -> None:
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    candidate = encoded[:-1] + last
    decoded = base64.urlsafe_b64decode(candidate + "=" * (-len(candidate) % 4))
    canonical = base64.urlsafe_b64encode(decoded).rstrip(b"=").decode() == candidate
    token = f"pd1.0123abcd.{candidate}"
    assert is_token(token) == canonical
    if canonical:
        parsed = parse_token(token)
        assert parsed.nonce + parsed.sealed == decoded
