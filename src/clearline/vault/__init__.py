"""The vault: personal data (names, identity numbers, addresses, phone numbers) encrypted at rest.

Values are stored in SQLite columns as tokens `pd1.<key id>.<base64url(nonce ‖ ciphertext)>`
(AES-256-GCM, the row and column as associated data) under data keys kept in a key directory
outside the database. See docs/vault.md for the format, rotation and the threat model.
"""

from clearline.vault.columns import (
    ROWS_PER_BATCH,
    ColumnCounts,
    EncryptedColumn,
    check_columns,
    column_context,
    encrypt_plaintext,
    plaintext_rows,
    referenced_key_ids,
    remove_unreferenced_keys,
    row_key_text,
    scrub_database,
)
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
from clearline.vault.rotation import PHASES, RotationReport, rotate
from clearline.vault.tokens import TOKEN_VERSION, is_token, parse_token, token_key_id

__all__ = [
    "PHASES",
    "ROWS_PER_BATCH",
    "TOKEN_VERSION",
    "ColumnCounts",
    "ColumnSpecInvalid",
    "ColumnValueUnsupported",
    "ContextInvalid",
    "DataKeyRing",
    "EncryptedColumn",
    "KeyFileMalformed",
    "KeyFileUnsafe",
    "KeyInUse",
    "KeyUnknown",
    "PlaintextInvalid",
    "RotationRefused",
    "RotationReport",
    "TokenMalformed",
    "TokenRejected",
    "TokensUndecryptable",
    "VaultError",
    "check_columns",
    "column_context",
    "encrypt_plaintext",
    "is_token",
    "key_id_of",
    "parse_token",
    "plaintext_rows",
    "referenced_key_ids",
    "remove_unreferenced_keys",
    "rotate",
    "row_key_text",
    "scrub_database",
    "token_key_id",
]
