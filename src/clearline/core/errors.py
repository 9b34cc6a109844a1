"""Base errors shared by every room.

Bad input and business refusals are typed errors with a stable snake_case `code` (the HTTP edge maps
them to RFC 9457 problem details); broken invariants are `InvariantViolation` and must crash loudly.
"""

from __future__ import annotations


class ClearlineError(Exception):
    """Base class of every error Clearline raises on purpose. `code` is stable and snake_case."""

    code: str = "clearline_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidInput(ClearlineError, ValueError):
    """A value from outside is malformed or out of range; nothing was changed."""

    code = "invalid_input"


class AssetMismatch(ClearlineError, ValueError):
    """Two amounts of different assets were combined."""

    code = "asset_mismatch"


class InvariantViolation(ClearlineError, AssertionError):
    """Something that must always hold does not: stored data is corrupt or the code is wrong."""

    code = "invariant_violation"


class NotFound(ClearlineError):
    """The resource does not exist (or the caller may not see it: the same answer)."""

    code = "not_found"


class Conflict(ClearlineError):
    """The request conflicts with the resource's state (capture of a completed payment, …)."""

    code = "conflict"
