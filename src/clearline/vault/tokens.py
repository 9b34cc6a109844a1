"""The token format: how one encrypted value is written into a column.

    pd1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag), no padding>

Guarantees:
- `pd1` names the version: AES-256-GCM, a 96-bit nonce drawn fresh from the OS for every token,
  the 128-bit tag appended by `cryptography`, the caller's context as associated data, and the
  plaintext as UTF-8. A later version gets a new prefix; readers refuse prefixes they do not know.
- The key id is 8 lowercase hex digits (see `keyring.key_id_of`). It is outside the ciphertext
  but authenticated indirectly: a token whose key id is changed is opened with another key, and
  fails.
- Parsing is strict and total: `parse_token` accepts exactly what `format_token` writes (canonical
  base64url, no padding, no whitespace, at least a nonce and a tag) and raises `TokenMalformed`
  for everything else; `is_token` is the same check as a predicate.
- `seal` and `unseal` are the only places that call AES-GCM; they hold no state.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clearline.vault.errors import ContextInvalid, PlaintextInvalid, TokenMalformed, TokenRejected

TOKEN_VERSION = "pd1"
"""Prefix of tokens written by this code: AES-256-GCM, 96-bit random nonce, context as AAD."""

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_HEX_DIGITS = 8
PLAINTEXT_BYTES_MAX = 16 * 1024 * 1024
"""Personal data fields are short, but stored API responses (idempotency replays) go through the
vault too, and a request may be 4 MiB; past 16 MiB a value is a mistake, refused, not stored."""
CONTEXT_BYTES_MAX = 1_024

_PAYLOAD_CHARACTERS_MIN = 38
"""base64url of nonce ‖ tag (28 bytes, no padding): the shortest payload, an empty plaintext."""
_KEY_ID = re.compile(rf"[0-9a-f]{{{KEY_ID_HEX_DIGITS}}}")
_TOKEN = re.compile(
    rf"{TOKEN_VERSION}\.([0-9a-f]{{{KEY_ID_HEX_DIGITS}}})\.([A-Za-z0-9_-]{{{_PAYLOAD_CHARACTERS_MIN},}})"
)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_LAST_CHARACTERS = {0: _ALPHABET, 1: _ALPHABET[::4], 2: _ALPHABET[::16]}
"""Canonical base64url: the unused low bits of the last character (2 with one `=` of padding
left off, 4 with two) are zero, so every byte string has exactly one encoding."""
_FROM_URL_ALPHABET = bytes.maketrans(b"-_", b"+/")
TOKEN_PATTERN = _TOKEN.pattern
"""The regular expression a token matches as a whole (`search` finds tokens inside text)."""


class Token(NamedTuple):
    """A parsed token: the id of the key that sealed it, the nonce, and ciphertext ‖ tag."""

    key_id: str
    nonce: bytes
    sealed: bytes


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None


def is_token(value: object) -> bool:
    """Whether `value` is a string in the token format (says nothing about whether it decrypts)."""
    return isinstance(value, str) and _match_token(value) is not None


def _match_token(text: str) -> re.Match[str] | None:
    """The pattern's match when `text` is a token (canonical payload included), else None."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    encoded = match.group(2)
    padding = -len(encoded) % 4
    if padding == 3 or encoded[-1] not in _LAST_CHARACTERS[padding]:
        return None
    return match


def parse_token(text: str) -> Token:
    """Split a token into its parts, refusing anything `format_token` would not have written."""
    match = _match_token(text)
    if match is None:
        raise TokenMalformed(
            f"not a {TOKEN_VERSION} token (pd1.<8 hex key id>.<canonical base64url>)"
        )
    encoded = match.group(2)
    padding = -len(encoded) % 4
    # The pattern admitted only base64url characters, so decoding cannot fail.
    payload = binascii.a2b_base64(
        (encoded + "=" * padding).encode("ascii").translate(_FROM_URL_ALPHABET)
    )
    return Token(match.group(1), payload[:NONCE_BYTES], payload[NONCE_BYTES:])


def token_key_id(text: str) -> str:
    """The id of the key a token was sealed with."""
    return parse_token(text).key_id


def format_token(key_id: str, nonce: bytes, sealed: bytes) -> str:
    assert is_key_id(key_id), "key ids are 8 lowercase hex digits"
    assert len(nonce) == NONCE_BYTES and len(sealed) >= TAG_BYTES
    return f"{TOKEN_VERSION}.{key_id}.{_encode(nonce + sealed)}"


def seal(aead: AESGCM, key_id: str, text: str, context: bytes) -> str:
    """Encrypt `text` under `aead` with a fresh nonce, binding it to `context`."""
    check_context(context)
    try:
        plaintext = text.encode("utf-8")
    except (AttributeError, UnicodeEncodeError) as error:
        raise PlaintextInvalid("only str encodable as UTF-8 can be encrypted") from error
    if len(plaintext) > PLAINTEXT_BYTES_MAX:
        raise PlaintextInvalid(
            f"plaintext is {len(plaintext)} bytes; at most {PLAINTEXT_BYTES_MAX} are allowed"
        )
    nonce = os.urandom(NONCE_BYTES)
    return format_token(key_id, nonce, aead.encrypt(nonce, plaintext, context))


def unseal(aead: AESGCM, token: Token, context: bytes) -> str:
    """Decrypt a parsed token; `TokenRejected` if the context differs or any byte was altered."""
    check_context(context)
    try:
        plaintext = aead.decrypt(token.nonce, token.sealed, context)
    except InvalidTag:
        raise TokenRejected(
            f"token under key {token.key_id} failed authentication: it belongs to another row or "
            "column (wrong context) or was altered"
        ) from None
    return plaintext.decode("utf-8")


def check_context(context: bytes) -> None:
    if not isinstance(context, bytes) or not context:
        raise ContextInvalid("the context must be non-empty bytes naming the table, column and row")
    if len(context) > CONTEXT_BYTES_MAX:
        raise ContextInvalid(f"the context is longer than {CONTEXT_BYTES_MAX} bytes")


def _encode(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
