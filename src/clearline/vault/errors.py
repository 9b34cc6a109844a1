"""The vault's typed errors: every refusal names what was refused and what to do about it.

Guarantees:
- Every error is a `VaultError` (a `ClearlineError`) with a stable snake_case `code`.
- No message ever contains a plaintext, a key or a context (contexts carry row keys such as a
  customer id): messages name files, key ids, table and column names, and counts only.
"""

from __future__ import annotations

from clearline.core.errors import ClearlineError


class VaultError(ClearlineError):
    """Base class of the vault's refusals."""

    code = "vault_error"


class KeyFileUnsafe(VaultError):
    """A key file or the key directory may be read (or written) by the group or others."""

    code = "key_file_unsafe"


class KeyFileMalformed(VaultError):
    """A file in the key directory is not a data key this ring wrote (wrong name, size or id)."""

    code = "key_file_malformed"


class KeyUnknown(VaultError):
    """A key id names no key in the ring (removed, or from another ring)."""

    code = "key_unknown"


class KeyInUse(VaultError):
    """The current key cannot be removed; set another key current first."""

    code = "key_in_use"


class PlaintextInvalid(VaultError):
    """A value to encrypt is not UTF-8 encodable text, or is longer than the limit."""

    code = "plaintext_invalid"


class ContextInvalid(VaultError):
    """A context (associated data) is not bytes, is empty, or is longer than the limit."""

    code = "context_invalid"


class TokenMalformed(VaultError):
    """A value is not a token of a version this code reads."""

    code = "token_malformed"


class TokenRejected(VaultError):
    """A token failed authentication: the context is not the one it was sealed with (it was
    copied to another row or column) or its bytes were altered."""

    code = "token_rejected"


class ColumnSpecInvalid(VaultError):
    """An `EncryptedColumn` names no such table or column, or its contexts are not distinct."""

    code = "column_spec_invalid"


class ColumnValueUnsupported(VaultError):
    """A column holds values the vault cannot encrypt without changing them (REAL, BLOB)."""

    code = "column_value_unsupported"


class TokensUndecryptable(VaultError):
    """Rotation found tokens it cannot decrypt; nothing was changed."""

    code = "tokens_undecryptable"


class RotationRefused(VaultError):
    """Rotation cannot run on this connection (inside a transaction, or without a durable
    journal)."""

    code = "rotation_refused"
