"""The vault: personal data (names, identity numbers, addresses, phone numbers) encrypted at rest.

Values are stored as tokens `pd1.<key id>.<base64url(nonce ‖ ciphertext)>` (AES-256-GCM, the
row and column as associated data) under data keys kept in a key directory outside the database.
"""

from clearline.vault.errors import (
    ColumnSpecInvalid,
    ColumnValueUnsupported,
    ContextInvalid,
    KeyFileMalformed,
    KeyFileUnsafe,
    KeyInUse,
    KeyUnknown,
    PlaintextInvalid,
    RotationRefused,
    TokenMalformed,
    TokenRejected,
    TokensUndecryptable,
    VaultError,
)
from clearline.vault.keyring import DataKeyRing, key_id_of
from clearline.vault.tokens import TOKEN_VERSION, is_token, parse_token, token_key_id

__all__ = [
    "TOKEN_VERSION",
    "ColumnSpecInvalid",
    "ColumnValueUnsupported",
    "ContextInvalid",
    "DataKeyRing",
    "KeyFileMalformed",
    "KeyFileUnsafe",
    "KeyInUse",
    "KeyUnknown",
    "PlaintextInvalid",
    "RotationRefused",
    "TokenMalformed",
    "TokenRejected",
    "TokensUndecryptable",
    "VaultError",
    "is_token",
    "key_id_of",
    "parse_token",
    "token_key_id",
]
